"""What an evaluation run is asked to do, and what it records: the engine's words for both.

An evaluation run is a run of a task whose kind is `evaluation`; its payload is an `EvaluationSpec`. Each
item gets an output (given with the item, or from the application under test), then every evaluator scores
it. Dialects translate their own vocabulary into these types and render the results back.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

import msgspec

MAX_ITEMS = 100_000
MAX_CONCURRENCY = 256


class Item(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str = ""  # the example's id, if it came from a dataset
    input: Any = None  # what the application under test is asked
    expected: Any = None  # the reference answer evaluators may compare with
    output: Any = msgspec.UNSET  # the answer, when it is known already (no application is called)
    metadata: dict[str, Any] | None = None


class Target(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The application under test: runyard POSTs {run_id, item_id, input, metadata} (under the names of
    `fields`, plus `static`) and reads the answer. With a secret, the request is signed: HMAC-SHA256 (hex)
    over "<timestamp>.<body>" in `signature_header`, the unix-milliseconds timestamp in `timestamp_header`."""

    url: str
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    timeout_s: float = 30.0
    output_field: str | None = None  # take this field of a JSON object reply; None: the whole reply
    fields: dict[str, str] = msgspec.field(default_factory=dict)  # engine name -> body name ("" leaves it out)
    static: dict[str, Any] = msgspec.field(default_factory=dict)  # sent as they are
    secret: str | None = None
    signature_header: str = "x-signature"
    timestamp_header: str = "x-timestamp"


class CodeEvaluator(msgspec.Struct, kw_only=True, tag="code"):
    """A Python function "module:function"; called with the keywords it names of input, output, expected,
    metadata; returns a bool, a number, a label, or {score?, label?, explanation?}."""

    name: str
    target: str


class MatchEvaluator(msgspec.Struct, kw_only=True, tag="match"):
    """The output against a value (default: the item's expected): exact, regex (search), or any of a list."""

    name: str
    mode: Literal["exact", "regex", "list"] = "exact"
    value: Any = msgspec.UNSET
    case_sensitive: bool = True


class JudgeEvaluator(msgspec.Struct, kw_only=True, tag="llm_judge"):
    """A prompt template ({input}, {output}, {expected}) sent to an OpenAI-compatible chat-completions URL;
    the first of `labels` found in the reply is the label, and the first label scores 1."""

    name: str
    template: str
    labels: list[str] = msgspec.field(default_factory=lambda: ["correct", "incorrect"])
    model: str | None = None  # default: the task's configured model


Evaluator = CodeEvaluator | MatchEvaluator | JudgeEvaluator


class EvaluationSpec(msgspec.Struct, kw_only=True, omit_defaults=True):
    items: list[Item]
    evaluators: list[Evaluator] = msgspec.field(default_factory=list)
    target: Target | None = None
    concurrency: int | None = None  # default: the task's configured concurrency
    pass_threshold: float = 0.5  # an item passes when every score is at least this


class ItemStatus(enum.StrEnum):
    SUCCESS = "success"  # it got an output and every evaluator scored it
    ERROR = "error"  # the application or an evaluator failed
    SKIPPED = "skipped"  # nothing to evaluate: no output and no application


class Score(msgspec.Struct, kw_only=True, omit_defaults=True):
    evaluator: str
    score: float | None = None
    label: str | None = None
    explanation: str | None = None


class ItemResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    index: int
    item_id: str = ""
    status: ItemStatus
    passed: bool = False
    output: Any = None
    scores: list[Score] = msgspec.field(default_factory=list)
    error: str | None = None


class Counts(msgspec.Struct, kw_only=True):
    total: int = 0
    success: int = 0
    error: int = 0
    skipped: int = 0
    passed: int = 0
    score_sum: float = 0.0
    scored: int = 0  # items with at least one numeric score (the denominator of the average)

    @property
    def done(self) -> int:
        return self.success + self.error + self.skipped

    @property
    def average_score(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None


class Example(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A dataset example: its id, and the item fields it provides."""

    id: str = ""
    input: Any = None
    expected: Any = None
    output: Any = msgspec.UNSET  # a recorded answer, evaluated as it is (no application is called)
    metadata: dict[str, Any] | None = None


class Dataset(msgspec.Struct, kw_only=True):
    id: str
    name: str
    version: int
    example_count: int
    created_at: int
    updated_at: int


class Suite(msgspec.Struct, kw_only=True):
    """What to evaluate, again and again: inputs and evaluators, within a scope (an application). Each
    evaluation run of a suite is tagged "suite:<id>". `attributes` are a dialect's own fields, kept as given."""

    id: str
    scope: str
    name: str
    description: str = ""
    kind: str = ""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    inputs: list[Any] = msgspec.field(default_factory=list)
    evaluators: list[Evaluator] = msgspec.field(default_factory=list)
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
