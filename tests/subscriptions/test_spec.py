"""What a Subscription must say to be accepted (hub.subscriptions.spec), and the topics."""

from __future__ import annotations

from datetime import date

import pytest

from hub.errors import ValidationFailed
from hub.subscriptions.spec import parse
from hub.subscriptions.topics import TOPIC_BASE, TOPICS
from subscriptions.conftest import criteria_subscription, topic_subscription

HOOKS = "https://hooks.example/fhir"
PREFIXES = (HOOKS,)


def _refused(body: dict) -> tuple[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        parse(body, PREFIXES)
    issue = caught.value.issues[0]
    return issue.path or "", issue.code


def test_topic_subscription_parsed():
    spec = parse(topic_subscription(HOOKS, "plan-changed", content="full-resource",
                                    filters=["CarePlan?patient=Patient/1"], heartbeat=30,
                                    headers=["Authorization: Bearer x"]), PREFIXES)
    assert (spec.kind, spec.resource_type, spec.content, spec.heartbeat) == (
        "topic", "CarePlan", "full-resource", 30)
    assert spec.filters == ["CarePlan?patient=Patient/1"]
    assert spec.headers == ["Authorization: Bearer x"]
    assert spec.topic == f"{TOPIC_BASE}/plan-changed"


def test_criteria_subscription_parsed():
    spec = parse(criteria_subscription(HOOKS, "Task?status=requested"), PREFIXES)
    assert (spec.kind, spec.resource_type, spec.content, spec.payload) == (
        "criteria", "Task", "empty", None)


@pytest.mark.parametrize("change, path", [
    (lambda b: b["channel"].update(type="websocket"), "Subscription.channel.type"),
    (lambda b: b["channel"].update(endpoint="https://elsewhere.example/fhir"),
     "Subscription.channel.endpoint"),
    (lambda b: b["channel"].pop("endpoint"), "Subscription.channel.endpoint"),
    (lambda b: b["channel"].update(payload="application/fhir+xml"),
     "Subscription.channel.payload"),
    (lambda b: b["channel"].update(header=["X-A: 1\r\nX-B: 2"]),
     "Subscription.channel.header[0]"),
    (lambda b: b["channel"].update(header=["no colon"]), "Subscription.channel.header[0]"),
    (lambda b: b["channel"].update(header=["Content-Type: text/plain"]),
     "Subscription.channel.header[0]"),
    (lambda b: b.update(criteria=f"{TOPIC_BASE}/unknown"), "Subscription.criteria"),
    (lambda b: b.update(_criteria={"extension": [{
        "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
               "backport-filter-criteria", "valueString": "Task?status=requested"}]}),
     "Subscription.criteria.extension[0]"),
    (lambda b: b.update(_criteria={"extension": [{
        "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
               "backport-filter-criteria", "valueString": "CarePlan?nonsense=1"}]}),
     "Subscription.criteria.extension[0]"),
    (lambda b: b["channel"]["_payload"]["extension"][0].update(valueCode="everything"),
     "Subscription.channel.payload.extension"),
])
def test_topic_subscription_refused(change, path):
    body = topic_subscription(HOOKS, "plan-changed")
    change(body)
    assert _refused(body)[0] == path


@pytest.mark.parametrize("criteria", ["Subscription?status=active", "Provenance",
                                      "AuditEvent?date=gt2020", "Nothing?x=1",
                                      "Task?_sort=status", "Task?unknown=1", ""])
def test_criteria_refused(criteria):
    assert _refused(criteria_subscription(HOOKS, criteria))[0] == "Subscription.criteria"


def test_topic_triggers():
    def topic(name):
        return TOPICS[f"{TOPIC_BASE}/{name}"].trigger

    today = date(2026, 11, 30)
    plan = {"resourceType": "CarePlan", "status": "active", "meta": {"versionId": "1"}}
    assert topic("plan-changed")(plan, {**plan, "status": "revoked"}, today)
    assert not topic("plan-changed")(plan, {**plan, "meta": {"versionId": "2"}}, today)
    assert not topic("plan-changed")(None, plan, today)
    task = {"resourceType": "Task", "status": "requested"}
    assert topic("referral-status-changed")(None, task, today)
    assert topic("referral-status-changed")(task, {**task, "status": "accepted"}, today)
    assert not topic("referral-status-changed")(task, {**task, "priority": "urgent"}, today)
    assert not topic("review-due")(None, {"resourceType": "EpisodeOfCare"}, today)
    assert not topic("case-opened")(None, {"resourceType": "EpisodeOfCare"}, today)
