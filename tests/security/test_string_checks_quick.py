"""The body's string limits (``hub.limits.checks.check_strings``) answer what the full walk
with paths (``first_string_fault``) answers, for bodies with and without faults of every
kind: a NUL, a lone surrogate, a string or key too long, a ``system`` or a case API
identifier value past the token columns, an encoded NUL in a URL; the quick look that
clears most bodies must never clear a body at fault."""

from __future__ import annotations

import random

import pytest

from hub.limits.checks import TOKEN_MAX, check_strings, first_string_fault

_KEYS = ["resourceType", "id", "system", "value", "url", "reference", "identifier",
         "identifiers", "text", "display", "extension"]


def _text(rng: random.Random, max_length: int) -> str:
    pick = rng.random()
    if pick < 0.04:
        return "a\x00b"
    if pick < 0.08:
        return "x\ud800y"
    if pick < 0.12:
        return "q?a=%00b"
    if pick < 0.15:
        return "Q%00"
    if pick < 0.20:
        return "t" * (TOKEN_MAX + rng.choice([0, 1, 30]))
    if pick < 0.23:
        return "m" * (max_length + rng.choice([0, 1]))
    return rng.choice(["ok", "Ünïcode ✓", "http://example.org/x", "%20", "", "0%0"])


def _node(rng: random.Random, depth: int, max_length: int):
    if depth == 0 or rng.random() < 0.35:
        return rng.choice([_text(rng, max_length), 1, 2.5, True, None])
    if rng.random() < 0.4:
        return [_node(rng, depth - 1, max_length) for _ in range(rng.randint(0, 3))]
    keys = rng.sample(_KEYS, rng.randint(0, 4))
    if rng.random() < 0.03:
        keys.append("k" * rng.choice([256, 257]))
    if rng.random() < 0.03:
        keys.append("bad\x00key")
    return {k: _node(rng, depth - 1, max_length) for k in keys}


@pytest.mark.parametrize("api", ["fhir", "case"])
@pytest.mark.parametrize("max_length", [300, 1000])
def test_the_quick_look_answers_what_the_full_walk_answers(api, max_length):
    rng = random.Random(f"{api}{max_length}")
    faults = 0
    for _ in range(4000):
        body = _node(rng, 5, max_length)
        expected = first_string_fault(body, "Encounter", max_length, api)
        assert check_strings(body, "Encounter", max_length, api) == expected, body
        faults += expected is not None
    assert 400 < faults < 3600  # both answers were asked


def test_a_body_without_faults_is_cleared_and_one_with_a_fault_is_named():
    body = {"resourceType": "Encounter", "identifier": [{"system": "s" * TOKEN_MAX,
                                                         "value": "v" * 900}],
            "text": {"div": "d" * 900}}
    assert check_strings(body, "Encounter", 1000) is None
    body["identifier"][0]["system"] += "s"
    problem = check_strings(body, "Encounter", 1000)
    assert problem is not None and problem.path == "Encounter.identifier[0].system"


def _depth_by_passes(raw: bytes, limit: int) -> bool:
    """``nesting_depth_exceeds`` without its count of brackets first: the passes only."""
    from hub.limits import checks

    brackets = checks._STRING.sub(b"", raw).translate(None, checks._DROP)
    for _ in range(limit):
        if not brackets:
            return False
        brackets, count = checks._EMPTY_PAIR.subn(b"", brackets)
        if count == 0:
            return False
    return bool(brackets)


def test_the_nesting_depth_answer_is_that_of_the_passes():
    from hub.limits.checks import nesting_depth_exceeds

    rng = random.Random(64)
    exceeded = 0
    for _ in range(3000):
        limit = rng.choice([1, 2, 3, 5, 8])
        parts = rng.choices([b"[", b"]", b"{", b"}", b'"[{"', b'"\\"]"', b"1,", b'"a":'],
                            [5, 2, 5, 2, 1, 1, 1, 1], k=rng.randint(0, 6 * limit + 6))
        raw = b"".join(parts)
        assert nesting_depth_exceeds(raw, limit) is _depth_by_passes(raw, limit), (raw, limit)
        exceeded += _depth_by_passes(raw, limit)
    assert 100 < exceeded < 2900
    assert nesting_depth_exceeds(b"[" * 65 + b"]" * 65, 64)
    assert not nesting_depth_exceeds(b"[" * 64 + b"]" * 64, 64)
    assert not nesting_depth_exceeds(b'["' + b"[" * 200 + b'"]', 64)  # inside a string
