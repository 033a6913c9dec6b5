"""``codec._has_own_text`` (is a decimal spelt as it was read, so ``dumps`` must write it
itself) finds a ``FhirDecimal`` at any depth, under dicts and lists, and nothing else; and
``dumps`` keeps such decimals' text."""

from __future__ import annotations

import random
from typing import Any

from hub.fhirjson import codec
from hub.fhirjson.codec import FhirDecimal


def _reference(node: Any) -> bool:  # the recursive definition
    if isinstance(node, dict):
        return any(_reference(v) for v in node.values())
    if isinstance(node, list):
        return any(_reference(v) for v in node)
    return type(node) is FhirDecimal


def _tree(rng: random.Random, depth: int) -> Any:
    leaves = ["text", 1, 1.5, True, None, FhirDecimal("1.50"), ("a", FhirDecimal("2.0")),
              codec.Raw('{"a":1.0}')]
    if depth == 0 or rng.random() < 0.3:
        weights = [8, 3, 3, 2, 2, 0.4, 1, 1]
        return rng.choices(leaves, weights)[0]
    if rng.random() < 0.5:
        return [_tree(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}": _tree(rng, depth - 1) for i in range(rng.randint(0, 4))}


def test_own_text_is_found_at_any_depth_and_only_there():
    rng = random.Random(13)
    found = 0
    for _ in range(3000):
        tree = _tree(rng, 6)
        assert codec._has_own_text(tree) is _reference(tree)
        found += _reference(tree)
    assert 300 < found < 2700  # both answers were asked


def test_a_deep_decimal_keeps_its_text():
    body = {"a": [{"b": {"c": [1, "x", {"d": FhirDecimal("105.00")}]}}], "e": 1.5}
    assert codec._has_own_text(body)
    assert codec.dumps(body) == '{"a":[{"b":{"c":[1,"x",{"d":105.00}]}}],"e":1.5}'
    assert not codec._has_own_text({"a": [1.5, {"b": "105.00"}]})
    assert codec._has_own_text(FhirDecimal("1.0")) and not codec._has_own_text("1.0")
