"""Partners as configuration: the file's validation and the ``hub partners`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses
import yaml
from click.testing import CliRunner

from hub.adapters.errors import PartnerConfigError
from hub.commands.partners import command as partners_cli
from hub.config import Settings
from hub.sync.partners import PartnerFileError, load_partners, parse_partners
from hub.sync.registry import Adapters, build_adapter

FIXTURES = Path(__file__).parents[2] / "fixtures" / "partners"


def entry(**overrides) -> dict:
    base = {"id": "st-marys", "kind": "hospital", "base_url": "https://ehr.example/fhir"}
    return base | overrides


def errors_of(*entries) -> dict[str, list[str]]:
    with pytest.raises(PartnerFileError) as caught:
        parse_partners({"partners": list(entries)})
    return caught.value.errors


def test_example_files_load():
    partners = load_partners(FIXTURES / "partners.example.yaml")
    assert list(partners) == ["st-marys", "acme-health", "sunrise-home-health"]
    st = partners["st-marys"]
    assert (st.auth.type, st.auth.alg, st.auth.kid) == ("smart-backend", "RS384", "hub-2026-11")
    assert st.receives == ("CarePlan", "CareTeam")
    assert partners["acme-health"].timeouts.read == 60
    assert partners["acme-health"].poll_seconds == 3600  # default: hourly
    json_partners = load_partners(FIXTURES / "partners.example.json")
    assert json_partners["riverside-ehr"].auth.type == "none"


def test_invalid_file_names_every_failing_field():
    with pytest.raises(PartnerFileError) as caught:
        load_partners(FIXTURES / "invalid.yaml")
    errors = caught.value.errors
    assert set(errors) == {
        "partners[St Marys].id", "partners[St Marys].kind", "partners[St Marys].base_url",
        "partners[St Marys].auth.client_secret", "partners[sunrise].poll_seconds",
        "partners[sunrise].receives[0]", "partners[acme].protocol", "partners[acme].auth.alg"}
    assert "use client_secret_env" in errors["partners[St Marys].auth.client_secret"][0]
    assert "900" in errors["partners[sunrise].poll_seconds"][0]
    assert "only for partners of kind agency" in errors["partners[acme].protocol"][0]
    assert "partners[acme].auth.alg" in str(caught.value)


@pytest.mark.parametrize(("auth", "missing"), [
    ({"type": "client-secret"}, {"token_url", "client_id", "client_secret_env"}),
    ({"type": "smart-backend", "token_url": "https://a.example/t"},
     {"client_id", "private_key_file", "kid", "alg"}),
    ({"type": "api-key"}, {"header", "key_env"}),
])
def test_auth_shapes_require_their_fields(auth, missing):
    errors = errors_of(entry(auth=auth))
    assert {k.rsplit(".", 1)[1] for k in errors} == missing
    assert all("Required for auth type" in m[0] for m in errors.values())


def test_inline_secrets_are_refused():
    errors = errors_of(entry(auth={"type": "api-key", "header": "X-Key", "key": "abc"}))
    assert errors == {"partners[st-marys].auth.key": [
        "Secrets are not stored in the partners file; use key_env."]}


def test_fields_of_another_auth_type_are_refused():
    errors = errors_of(entry(auth={"type": "none", "client_id": "x"}))
    assert errors == {"partners[st-marys].auth.client_id": ["Not used by auth type none."]}


def test_secret_env_must_be_a_variable_name():
    errors = errors_of(entry(auth={"type": "api-key", "header": "X-Key",
                                   "key_env": "my secret"}))
    assert "environment variable" in errors["partners[st-marys].auth.key_env"][0]


def test_poll_floor_and_duplicates_and_unknown_fields():
    errors = errors_of(entry(poll_seconds=30), entry(colour="red"), 7)
    assert errors["partners[st-marys].poll_seconds"] == ["Must be at least 60."]
    assert errors["partners[st-marys].colour"] == ["Unknown field."]
    assert errors["partners[st-marys].id"] == ["Duplicate partner id st-marys."]
    assert errors["partners[2]"] == ["Must be a mapping of partner fields."]


def test_agency_json_builds_its_client_and_needs_an_api_key():
    from hub.adapters.agency_json import AgencyJsonClient

    partner = parse_partners([entry(kind="agency", protocol="agency-json",
                                    poll_seconds=900)])["st-marys"]
    with pytest.raises(PartnerConfigError, match="api-key"):
        build_adapter(partner)
    keyed = parse_partners([entry(kind="agency", protocol="agency-json", poll_seconds=900,
                                  auth={"type": "api-key", "header": "X-Api-Key",
                                        "key_env": "HUB_TEST_AGENCY_KEY"})])["st-marys"]
    client = build_adapter(keyed, {"HUB_TEST_AGENCY_KEY": "k-123"})
    assert isinstance(client, AgencyJsonClient)


def test_missing_file_means_no_partners_and_bad_syntax_is_reported(tmp_path):
    assert load_partners(tmp_path / "none.yaml") == {}
    assert load_partners("") == {}
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    with pytest.raises(PartnerFileError, match="not valid JSON"):
        load_partners(bad)


def test_secrets_are_resolved_from_the_environment_when_built():
    partner = parse_partners([entry(auth={"type": "api-key", "header": "X-Key",
                                          "key_env": "HUB_TEST_KEY"})])["st-marys"]
    with pytest.raises(PartnerConfigError, match="HUB_TEST_KEY"):
        build_adapter(partner, environ={})
    adapter = build_adapter(partner, environ={"HUB_TEST_KEY": "k"})
    assert adapter.auth.headers() == {"X-Key": "k"}
    adapter.close()


def test_registry_rereads_the_file_when_it_changes(tmp_path):
    path = tmp_path / "partners.yaml"
    path.write_text(yaml.safe_dump({"partners": [entry()]}))
    registry = Adapters(partners_file=str(path))
    assert registry.get("st-marys").base_url == "https://ehr.example/fhir/"
    with pytest.raises(PartnerConfigError, match="unknown partner"):
        registry.get("acme")
    path.write_text(yaml.safe_dump({"partners": [entry(), entry(id="acme", kind="insurer")]}))
    import os

    os.utime(path, (1, 1))  # a different mtime even within the clock's resolution
    assert registry.get("acme").partner == "acme"
    registry.close()


# -- CLI ----------------------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path):
    path = tmp_path / "partners.yaml"
    runner = CliRunner()

    def run(*args):
        return runner.invoke(partners_cli, list(args),
                             obj=Settings(partners_file=str(path)), catch_exceptions=False)

    run.path = path
    return run


def test_cli_add_list_remove(cli):
    result = cli("add", "--id", "st-marys", "--kind", "hospital", "--base-url",
                 "https://ehr.example/fhir", "--receives", "CarePlan,CareTeam",
                 "--auth", "client-secret", "--token-url", "https://ehr.example/token",
                 "--client-id", "hub", "--client-secret-env", "HUB_SECRET_STM")
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load(cli.path.read_text())["partners"][0]
    assert saved["auth"] == {"type": "client-secret", "token_url": "https://ehr.example/token",
                             "client_id": "hub", "client_secret_env": "HUB_SECRET_STM"}
    assert saved["receives"] == ["CarePlan", "CareTeam"]
    listed = json.loads(cli("list", "--json").output)
    assert [p["id"] for p in listed] == ["st-marys"]
    assert "st-marys" in cli("list").output
    dup = cli("add", "--id", "st-marys", "--kind", "hospital", "--base-url", "https://x.example")
    assert dup.exit_code != 0 and "exists" in dup.output
    assert cli("remove", "st-marys").exit_code == 0
    assert cli("list").output.strip() == "no partners"
    assert cli("remove", "st-marys").exit_code != 0


def test_cli_add_reports_invalid_fields(cli):
    result = cli("add", "--id", "sunrise", "--kind", "agency", "--base-url",
                 "https://sunrise.example", "--poll-seconds", "60")
    assert result.exit_code != 0
    assert "poll_seconds" in result.output and "900" in result.output
    assert not cli.path.exists()


def test_cli_add_writes_json_files_as_json(tmp_path):
    path = tmp_path / "partners.json"
    result = CliRunner().invoke(partners_cli, [
        "add", "--file", str(path), "--id", "acme", "--kind", "insurer",
        "--base-url", "https://acme.example/fhir"], obj=Settings())
    assert result.exit_code == 0, result.output
    assert json.loads(path.read_text())["partners"][0]["id"] == "acme"


@responses.activate
def test_cli_test_reads_metadata(cli):
    cli("add", "--id", "st-marys", "--kind", "hospital", "--base-url",
        "https://ehr.example/fhir")
    responses.get("https://ehr.example/fhir/metadata", json={
        "resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
        "software": {"name": "EHR"}})
    result = cli("test", "st-marys")
    assert result.exit_code == 0, result.output
    assert "OK CapabilityStatement fhirVersion=4.0.1 software=EHR" in result.output


@responses.activate
def test_cli_test_reports_failure(cli):
    cli("add", "--id", "st-marys", "--kind", "hospital", "--base-url",
        "https://ehr.example/fhir")
    responses.get("https://ehr.example/fhir/metadata", status=503)
    result = cli("test", "st-marys")
    assert result.exit_code != 0
    assert "FAILED" in result.output and "503" in result.output


def test_patient_and_drift_policies():
    base = {"id": "st-marys", "kind": "hospital", "base_url": "https://ehr.example/fhir"}
    [partner] = parse_partners({"partners": [base]}).values()
    assert (partner.patient, partner.on_drift) == ("match", "report")
    [partner] = parse_partners({"partners": [
        {**base, "patient": "create", "on_drift": "resend"}]}).values()
    assert (partner.patient, partner.on_drift) == ("create", "resend")
    assert partner.to_dict()["on_drift"] == "resend"
    with pytest.raises(PartnerFileError) as caught:
        parse_partners({"partners": [{**base, "patient": "make", "on_drift": "ignore"}]})
    assert set(caught.value.errors) == {"partners[st-marys].patient",
                                        "partners[st-marys].on_drift"}
