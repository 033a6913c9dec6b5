"""Invariants of resources that reach the hub only as contained resources."""

from __future__ import annotations

from collections.abc import Callable

from hub.fhirjson.invariants.common import UCUM, Found, before, has, has_choice, is_number


def app_appointment(obj: dict) -> Found:
    # app-2: start.exists() = end.exists()
    if has(obj, "start") != has(obj, "end"):
        yield ("start and end go together", ".end" if has(obj, "start") else ".start",
               "app-2")
    # app-3: (start.exists() and end.exists()) or (status in ('proposed' | 'cancelled' |
    # 'waitlist'))
    if not (has(obj, "start") and has(obj, "end")) and \
            obj.get("status") not in ("proposed", "cancelled", "waitlist"):
        yield ("only a proposed, cancelled or waitlisted appointment has no start and end",
               ".start", "app-3")
    # app-4: cancelationReason.exists() implies (status='noshow' or status='cancelled')
    if "cancelationReason" in obj and obj.get("status") not in ("noshow", "cancelled"):
        yield ("a cancelation reason only when cancelled or noshow", ".cancelationReason",
               "app-4")


def one_of(key: str, message: str, *names: str) -> Callable[[dict], Found]:
    """An ``a.exists() or b.exists() ...`` invariant."""
    def check(obj: dict) -> Found:
        if not any(has(obj, n) or has_choice(obj, n) for n in names):
            yield (message, "", key)
    return check



def cmp_2(obj: dict) -> Found:
    # emptyReason.empty() or entry.empty()
    if "emptyReason" in obj and "entry" in obj:
        yield ("an emptyReason only for a section without entries", ".emptyReason", "cmp-2")


def grp_1(obj: dict) -> Found:
    # member.empty() or (actual = true)
    if "member" in obj and obj.get("actual") is not True:
        yield ("only an actual group has members", ".member", "grp-1")


def mdd_1(obj: dict) -> Found:
    # whenHandedOver.empty() or whenPrepared.empty() or whenHandedOver >= whenPrepared
    if before(obj.get("whenPrepared"), obj.get("whenHandedOver")):
        yield ("whenHandedOver is earlier than whenPrepared", ".whenHandedOver", "mdd-1")


def msq_3(obj: dict) -> Found:
    # coordinateSystem = 1 or coordinateSystem = 0
    if obj.get("coordinateSystem") not in (0, 1) or isinstance(obj.get("coordinateSystem"),
                                                               bool):
        yield ("coordinateSystem is 0 or 1", ".coordinateSystem", "msq-3")


def msq_reference_seq(obj: dict) -> Found:
    # msq-5: (chromosome.empty() and genomeBuild.empty()) or (chromosome.exists() and
    # genomeBuild.exists())
    if has(obj, "chromosome") != has(obj, "genomeBuild"):
        yield ("chromosome and genomeBuild go together", ".genomeBuild", "msq-5")
    # msq-6: exactly one of genomeBuild, referenceSeqId, referenceSeqPointer,
    # referenceSeqString
    if sum(has(obj, n) for n in ("genomeBuild", "referenceSeqId", "referenceSeqPointer",
                                  "referenceSeqString")) != 1:
        yield ("exactly one of genomeBuild, referenceSeqId, referenceSeqPointer and "
               "referenceSeqString", "", "msq-6")


def qrs_1(obj: dict) -> Found:
    # (answer.exists() and item.exists()).not()
    if "answer" in obj and "item" in obj:
        yield ("an item has answers or nested items, not both", ".item", "qrs-1")


def rqg_1(obj: dict) -> Found:
    # resource.exists() != action.exists()
    if ("resource" in obj) == ("action" in obj):
        yield ("an action has either a resource or nested actions", "", "rqg-1")


def ras_prediction(obj: dict) -> Found:
    # ras-2: probability is decimal implies (probability as decimal) <= 100
    if is_number(obj.get("probabilityDecimal")) and obj["probabilityDecimal"] > 100:
        yield ("a probability is at most 100", ".probabilityDecimal", "ras-2")
    # ras-1: (low.empty() or ((low.code = '%') and (low.system = %ucum))) and (high...)
    rng = obj.get("probabilityRange")
    if isinstance(rng, dict):
        for end in ("low", "high"):
            q = rng.get(end)
            if isinstance(q, dict) and (q.get("code") != "%" or q.get("system") != UCUM):
                yield ("a probability range is in UCUM %", f".probabilityRange.{end}",
                       "ras-1")
