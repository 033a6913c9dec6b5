"""Invariants of the datatypes (Period, Range, Quantity and its profiles, Timing, ...)."""

from __future__ import annotations

from collections.abc import Callable

from hub.fhirjson.invariants.common import ISO_4217, UCUM, Found, before, has, has_choice, is_number


def per_1(obj: dict) -> Found:
    # start.hasValue().not() or end.hasValue().not() or (start <= end)
    if before(obj.get("start"), obj.get("end")):
        yield ("the period ends before it starts", ".end", "per-1")


def rng_2(obj: dict) -> Found:
    # low.empty() or high.empty() or (low <= high)
    low, high = obj.get("low"), obj.get("high")
    if isinstance(low, dict) and isinstance(high, dict):
        lv, hv = low.get("value"), high.get("value")
        same_unit = low.get("code") == high.get("code") and low.get("system") == \
            high.get("system")
        if isinstance(lv, (int, float)) and isinstance(hv, (int, float)) and \
                not isinstance(lv, bool) and not isinstance(hv, bool) and same_unit and lv > hv:
            yield ("low is greater than high", ".low", "rng-2")


def rat_1(obj: dict) -> Found:
    # (numerator.empty() xor denominator.exists()) and (numerator.exists() or
    # extension.exists())
    if ("numerator" in obj) != ("denominator" in obj) or \
            not has(obj, "numerator", "extension"):
        yield ("a ratio has both a numerator and a denominator", "", "rat-1")


def ext_1(obj: dict) -> Found:
    # extension.exists() != value.exists()
    if ("extension" in obj) == has_choice(obj, "value"):
        yield ("an extension has either extensions or a value[x], not both or neither", "",
               "ext-1")


def qty_3(obj: dict) -> Found:
    # code.empty() or system.exists()
    if has(obj, "code") and not has(obj, "system"):
        yield ("a quantity with a unit code needs its system", ".system", "qty-3")


def ucum_quantity(key: str, positive: bool) -> Callable[[dict], Found]:
    def check(obj: dict) -> Found:
        yield from qty_3(obj)
        # (code.exists() or value.empty()) and (system.empty() or system = %ucum)
        if "value" in obj and "code" not in obj:
            yield ("a value needs a unit code", ".code", key)
        if "system" in obj and obj["system"] != UCUM:
            yield ("the unit system must be UCUM", ".system", key)
        if positive and is_number(obj.get("value")) and obj["value"] <= 0:
            yield ("the value must be greater than 0", ".value", key)
    return check


def cnt_3(obj: dict) -> Found:
    # (code.exists() or value.empty()) and (system.empty() or system = %ucum) and
    # (code.empty() or code = '1') and (value.empty() or value.hasValue().not() or
    # value.toString().contains('.').not())
    yield from qty_3(obj)
    if "value" in obj and "code" not in obj:
        yield ("a count with a value needs the code 1", ".code", "cnt-3")
    if "system" in obj and obj["system"] != UCUM:
        yield ("the unit system of a count is UCUM", ".system", "cnt-3")
    if "code" in obj and obj["code"] != "1":
        yield ("the unit code of a count is 1", ".code", "cnt-3")
    value = obj.get("value")
    if is_number(value) and not isinstance(value, int) and "." in str(value):
        yield ("a count is a whole number", ".value", "cnt-3")


def quantity_profile(profile: str, key: str) -> Callable[[str], Callable[[dict], Found]]:
    """sqty-1 (``comparator.empty()``) or mqty-1 (``(code.exists() or value.empty()) and
    (system.empty() or system = 'urn:iso:std:iso:4217')``) on the elements of a structure that
    the table types by that profile."""
    def check(name: str) -> Callable[[dict], Found]:
        def inner(obj: dict) -> Found:
            q = obj.get(name)
            if not isinstance(q, dict):
                return
            if profile == "SimpleQuantity" and has(q, "comparator"):
                yield ("a SimpleQuantity has no comparator", f".{name}.comparator", key)
            if profile == "MoneyQuantity":
                if "value" in q and "code" not in q:
                    yield ("a money quantity with a value needs a currency code",
                           f".{name}.code", key)
                if "system" in q and q["system"] != ISO_4217:
                    yield ("the system of a money quantity is ISO 4217", f".{name}.system",
                           key)
        return inner
    return check


def drq_filter(obj: dict) -> Found:
    # drq-1 / drq-2: path.exists() xor searchParam.exists()
    if has(obj, "path") == has(obj, "searchParam"):
        yield ("a filter has either a path or a searchParam", "", "drq-1/drq-2")


def trd(obj: dict) -> Found:
    has_data, timing = "data" in obj, has_choice(obj, "timing")
    # trd-1: data.empty() or timing.empty()
    if has_data and timing:
        yield ("a trigger has data or a timing, not both", ".data", "trd-1")
    # trd-2: condition.exists() implies data.exists()
    if "condition" in obj and not has_data:
        yield ("a trigger with a condition needs data", ".data", "trd-2")
    # trd-3: (type = 'named-event' implies name.exists()) and (type = 'periodic' implies
    # timing.exists()) and (type.startsWith('data-') implies data.exists())
    kind = obj.get("type")
    if (kind == "named-event" and not has(obj, "name")) or \
            (kind == "periodic" and not timing) or \
            (isinstance(kind, str) and kind.startswith("data-") and not has_data):
        yield (f"a {kind} trigger needs its name, timing or data", "", "trd-3")


def drt_1(obj: dict) -> Found:
    # code.exists() implies ((system = %ucum) and value.exists())
    yield from qty_3(obj)
    if "code" in obj and (obj.get("system") != UCUM or "value" not in obj):
        yield ("a duration with a code needs the UCUM system and a value", "", "drt-1")


def att_1(obj: dict) -> Found:
    if has(obj, "data") and not has(obj, "contentType"):
        yield ("an attachment with data needs a contentType", ".contentType", "att-1")


def cpt_2(obj: dict) -> Found:
    if has(obj, "value") and not has(obj, "system"):
        yield ("a contact point with a value needs a system", ".system", "cpt-2")


def exp_1(obj: dict) -> Found:
    if not has(obj, "expression", "reference"):
        yield ("an expression needs an expression or a reference", "", "exp-1")


def timing_repeat(obj: dict) -> Found:
    pairs = (("duration", "durationUnit", "tim-1"), ("period", "periodUnit", "tim-2"),
             ("periodMax", "period", "tim-6"), ("durationMax", "duration", "tim-7"),
             ("countMax", "count", "tim-8"))
    for present, needs, key in pairs:
        if has(obj, present) and not has(obj, needs):
            yield (f"{present} needs {needs}", f".{needs}", key)
    for name, key in (("duration", "tim-4"), ("period", "tim-5")):
        if is_number(obj.get(name)) and obj[name] < 0:
            yield (f"{name} cannot be negative", f".{name}", key)
    when = obj.get("when") if isinstance(obj.get("when"), list) else []
    if has(obj, "offset") and (not when or any(w in ("C", "CM", "CD", "CV") for w in when)):
        yield ("an offset needs when, and not C, CM, CD or CV", ".offset", "tim-9")
    if has(obj, "timeOfDay") and has(obj, "when"):
        yield ("timeOfDay and when exclude each other", ".timeOfDay", "tim-10")
