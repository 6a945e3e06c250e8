"""Evaluators: score one item's output. Output match (exact, regex, list) and code (`module:function`).

An evaluator gets the item ({id?, input?, output, expected?, ...}) and returns a `Score`. A code
evaluator's function takes the item dict and returns a bool, a number, or {score, label?, explanation?}.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from runyard.tasks import load_callable

KINDS = ("exact", "regex", "list", "code")


class Score(msgspec.Struct, kw_only=True, omit_defaults=True):
    score: float
    label: str | None = None
    explanation: str | None = None

    @property
    def passed(self) -> bool:
        return self.score >= 1.0


Evaluator = Callable[[dict[str, Any]], Score]


def _verdict(ok: bool, explanation: str) -> Score:
    return Score(score=1.0 if ok else 0.0, label="pass" if ok else "fail", explanation=explanation)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def build(config: dict[str, Any]) -> Evaluator:
    """The evaluator a task's `evaluator` table describes; ValueError names what is wrong."""
    kind = config.get("type")
    if kind not in KINDS:
        raise ValueError(f"evaluator type must be one of {', '.join(KINDS)}, got {kind!r}")
    fold = (lambda s: s) if config.get("case_sensitive", True) else str.casefold
    if kind == "exact":

        def exact(item: dict[str, Any]) -> Score:
            ok = fold(_text(item.get("output"))) == fold(_text(item.get("expected")))
            return _verdict(ok, "output equals expected" if ok else "output differs from expected")

        return exact
    if kind == "regex":
        pattern = config.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ValueError("a regex evaluator needs a non-empty pattern")
        try:
            compiled = re.compile(pattern, 0 if config.get("case_sensitive", True) else re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"regex evaluator pattern {pattern!r}: {exc}") from None

        def regex(item: dict[str, Any]) -> Score:
            ok = compiled.search(_text(item.get("output"))) is not None
            return _verdict(ok, f"output {'matches' if ok else 'does not match'} /{pattern}/")

        return regex
    if kind == "list":
        values = config.get("values")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise ValueError("a list evaluator needs values: a non-empty list of strings")
        allowed = {fold(v) for v in values}

        def one_of(item: dict[str, Any]) -> Score:
            ok = fold(_text(item.get("output"))) in allowed
            return _verdict(ok, "output is one of the values" if ok else "output is not one of the values")

        return one_of
    target = config.get("target")
    if not isinstance(target, str):
        raise ValueError("a code evaluator needs target = 'module:function'")
    function = load_callable(target)

    def code(item: dict[str, Any]) -> Score:
        return to_score(function(item))

    return code


def to_score(value: Any) -> Score:
    """What a code evaluator returned, as a Score; anything else is a TypeError (the item's error)."""
    if isinstance(value, bool):
        return _verdict(value, "")
    if isinstance(value, int | float):
        return Score(score=float(value))
    if isinstance(value, dict) and isinstance(value.get("score"), int | float):
        return Score(score=float(value["score"]), label=value.get("label"), explanation=value.get("explanation"))
    raise TypeError(f"an evaluator returns a bool, a number or {{score, label?, explanation?}}, not {value!r:.100}")
