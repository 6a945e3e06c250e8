"""Code evaluators the evaluation tests name as "module:function"."""

from __future__ import annotations

from typing import Any


def same_length(output: Any, expected: Any) -> dict[str, Any]:
    ok = len(str(output)) == len(str(expected))
    return {"score": 1.0 if ok else 0.0, "label": "same" if ok else "differs", "explanation": f"{output!r}"}


def is_upper(output: Any) -> bool:
    return isinstance(output, str) and output.isupper()


async def half(**kwargs: Any) -> float:
    return 0.5 if kwargs["input"] is not None else 0.0


def boom(output: Any) -> bool:
    raise ValueError(f"cannot score {output!r}")


def word_count(output: Any) -> dict[str, Any]:
    return {"score": 1.0 if str(output).strip() else 0.0}
