"""The code evaluator the evaluation benchmark scores with (a small, realistic check per item)."""

from __future__ import annotations

from typing import Any


def keyword_overlap(item: dict[str, Any]) -> dict[str, Any]:
    words = set(str(item["output"]).lower().split())
    wanted = set(str(item["expected"]).lower().split())
    score = len(words & wanted) / len(wanted) if wanted else 0.0
    return {"score": score, "label": "pass" if score >= 1.0 else "fail"}
