"""Arize AX v2 on the wire: opaque ids, the request and response types the `arize` client sends and reads,
problem+json errors, and the translation of Arize evaluators into the engine's.

Ids are standard base64 of "<Kind>:<key>" (`VGFzazo...`), as the client requires (it takes anything else for a
name). Keys are ULIDs or uuids, so no id contains "/" or "+". Enums: the contract spells them lowercase, the
official client accepts only UPPERCASE; requests may use either, responses use lowercase unless the request
comes from the official client (header `sdk-package-name: arize`), which gets UPPERCASE.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api.common import TITLES, ApiError, ProblemDetail
from runyard.evals.service import Evaluations
from runyard.evals.spec import Evaluator, JudgeEvaluator, MatchEvaluator
from runyard.models import RunStatus

PROBLEM = "application/problem+json"


class ArizeProblem(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details, as Arize answers errors."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


def render_error(status: int, message: str, errors: list[ProblemDetail] | None = None) -> Response:
    if errors and errors[0].location and errors[0].location not in message:
        message = f"{errors[0].location}: {message}"
    body = ArizeProblem(title=TITLES.get(status, "Error"), status=status, detail=message)
    return Response(msgspec.json.encode(body), status_code=status, media_type=PROBLEM)


def evals_of(request: Request) -> Evaluations:
    evals: Evaluations = request.app.state.service.evaluations
    return evals


ID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9+/]+={0,2}$"}  # an id, or a cursor
AUTH_ERRORS = {401: "missing or invalid API key"}
WRITE_ERRORS = {**AUTH_ERRORS, 400: "invalid input; nothing changed", 413: "the body is over the server's limit",
                422: "the body does not have the request's shape"}  # fmt: skip
PAGE_QUERY = {"limit": "Page size, 1 to 100 (default 50)", "cursor": "next_cursor of the previous page"}
PAGE_SCHEMAS: dict[str, dict[str, Any]] = {"limit": {"type": "integer", "minimum": 1, "maximum": 100},
                                           "cursor": ID_SCHEMA}  # fmt: skip


def bad(message: str) -> ApiError:
    return ApiError(400, message)


# -- ids ----------------------------------------------------------------------------------------------------
def mint(kind: str, key: str) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


def key_of(kind: str, value: str, *, what: str | None = None) -> str:
    """The key inside an id of `kind`; a 404 when it is not one (a malformed id names nothing)."""
    try:
        text = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    head, _, key = text.partition(":")
    if head != kind or not key:
        raise ApiError(404, f"{what or kind.lower()} not found: {value!r} is not the id of one")
    return key


def is_id(value: str) -> bool:
    """A well-formed opaque id of any kind (as the client checks them)."""
    try:
        return ":" in base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False


def check_id(field: str, value: str) -> None:
    if not is_id(value):
        raise bad(f"{field}: {value!r} is not an id (base64 of text containing ':')")


# -- enums ---------------------------------------------------------------------------------------------------
TASK_TYPES = ("template_evaluation", "code_evaluation", "run_experiment")
RUN_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
STATUSES: dict[RunStatus, str] = {
    RunStatus.DELAYED: "pending", RunStatus.QUEUED: "pending", RunStatus.EXECUTING: "running",
    RunStatus.COMPLETED: "completed", RunStatus.FAILED: "failed", RunStatus.CRASHED: "failed",
    RunStatus.TIMED_OUT: "failed", RunStatus.EXPIRED: "failed", RunStatus.SYSTEM_FAILURE: "failed",
    RunStatus.CANCELED: "cancelled",
}  # fmt: skip


def wants_upper(request: Request) -> bool:
    return request.headers.get("sdk-package-name", "").lower() == "arize"


def enum_in(field: str, value: str, allowed: tuple[str, ...]) -> str:
    """A request's enum value in either case, as the lowercase word."""
    word = value.lower()
    if word not in allowed:
        raise bad(f"{field}: {value!r} is not one of {', '.join(allowed)} (either case)")
    return word


def iso(us: int | None) -> str | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us / 1e6, tz=UTC).isoformat().replace("+00:00", "Z")


def parse_time(field: str, value: str) -> int:
    """An ISO 8601 time in microseconds; without an offset it is UTC."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise bad(f"{field}: {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if not 1970 <= when.year <= 9999:
        raise bad(f"{field}: the year must be from 1970 to 9999")
    return int(when.timestamp() * 1_000_000)


# a well-formed id (the space is a label here: any well-formed id names the one space this server has)
SpaceId = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9+/]+={0,2}$")]


# -- pagination ------------------------------------------------------------------------------------------------
class Pagination(msgspec.Struct, kw_only=True, omit_defaults=True):
    has_more: bool
    next_cursor: str | None = None


def offset_of(request: Request) -> int:
    raw = request.query_params.get("cursor")
    if not raw:
        return 0
    try:
        return int(key_of("Offset", raw, what="cursor"))
    except (ApiError, ValueError):
        raise bad(f"cursor: {raw!r} is not a cursor this server gave") from None


def limit_of(request: Request, default: int = 50, high: int = 100) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,4}", raw) or not 1 <= int(raw) <= high:
        raise bad(f"limit: expected an integer from 1 to {high}")
    return int(raw)


def offset_page(offset: int, shown: int, total: int) -> Pagination:
    more = offset + shown < total
    return Pagination(has_more=more, next_cursor=mint("Offset", str(offset + shown)) if more else None)


# -- tasks ---------------------------------------------------------------------------------------------------
class TaskEvaluatorInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    evaluator_id: str
    evaluator_version_id: str | None = None
    query_filter: str | None = None
    column_mappings: dict[str, str] | None = None
    query_mappings: list[Any] | None = None


class TaskEvaluator(msgspec.Struct, kw_only=True):
    evaluator_id: str
    evaluator_name: str | None = None
    evaluator_version_id: str | None = None
    query_filter: str | None = None
    column_mappings: dict[str, str] | None = None
    query_mappings: list[Any] | None = None


class CreateTaskBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    type: str
    project_id: str | None = None
    dataset_id: str | None = None
    experiment_ids: list[str] | None = None
    sampling_rate: float | None = None
    is_continuous: bool | None = None
    query_filter: str | None = None
    query_filters: dict[str, Any] | None = None
    evaluators: list[TaskEvaluatorInput] | None = None
    run_configuration: dict[str, Any] | None = None


class UpdateTaskBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str | None = None
    sampling_rate: float | None = None
    is_continuous: bool | None = None
    query_filter: str | msgspec.UnsetType | None = msgspec.UNSET
    query_filters: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    evaluators: list[TaskEvaluatorInput] | None = None
    run_configuration: dict[str, Any] | None = None


class Task(msgspec.Struct, kw_only=True):
    id: str
    name: str
    type: str
    project_id: str | None
    dataset_id: str | None
    sampling_rate: float | None
    is_continuous: bool | None
    query_filter: str | None
    query_filters: dict[str, Any] | None
    evaluators: list[TaskEvaluator]
    experiment_ids: list[str] | None
    run_configuration: dict[str, Any] | None
    last_run_at: str | None
    created_at: str | None
    updated_at: str | None
    created_by_user_id: str | None = None


class TaskPage(msgspec.Struct, kw_only=True):
    tasks: list[Task]
    pagination: Pagination


# -- task runs -------------------------------------------------------------------------------------------------
EVAL_TRIGGER_FIELDS = frozenset({"data_start_time", "data_end_time", "max_spans", "override_evaluations",
                                 "experiment_ids"})  # fmt: skip
EXPERIMENT_TRIGGER_FIELDS = frozenset({"experiment_name", "dataset_version_id", "example_ids", "max_examples",
                                       "query_filter", "tracing_metadata", "evaluation_task_ids"})  # fmt: skip


class TriggerBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """POST /v2/tasks/{task_id}/trigger: the task's type (from the task record) picks the fields that apply.
    template_evaluation / code_evaluation: data_start_time, data_end_time (ISO 8601, start before end, at most
    30 days apart; project-based tasks only), max_spans (>= 1, default 10000), override_evaluations (default
    false), experiment_ids (dataset-based tasks only); an empty body uses the defaults. run_experiment:
    experiment_name (required, 1-255 characters, no " or \\), dataset_version_id, example_ids or max_examples
    (>= 1, not both), tracing_metadata, evaluation_task_ids. A field of the other type is a 400."""

    data_start_time: str | None = None
    data_end_time: str | None = None
    max_spans: int | None = None
    override_evaluations: bool | None = None
    experiment_ids: list[str] | None = None
    experiment_name: str | None = None
    dataset_version_id: str | None = None
    example_ids: list[str] | None = None
    max_examples: int | None = None
    query_filter: str | None = None
    tracing_metadata: dict[str, str] | None = None
    evaluation_task_ids: list[str] | None = None


class TaskRun(msgspec.Struct, kw_only=True):
    id: str
    task_id: str
    experiment_id: str | None
    status: str
    run_started_at: str | None
    run_finished_at: str | None
    data_start_time: str | None
    data_end_time: str | None
    num_successes: int
    num_errors: int
    num_skipped: int
    created_at: str | None
    created_by_user_id: str | None = None
    failure_reason: str | None = None


class TaskRunPage(msgspec.Struct, kw_only=True):
    task_runs: list[TaskRun]
    pagination: Pagination


# -- evaluators ---------------------------------------------------------------------------------------------
MANAGED = ("MATCHES_REGEX", "JSON_PARSEABLE", "CONTAINS_ANY_KEYWORD", "CONTAINS_ALL_KEYWORDS", "EXACT_MATCH")
_COLUMN = re.compile(r"^[a-zA-Z0-9_\s\-&()]+$")


class StaticParam(msgspec.Struct, kw_only=True):
    name: str
    value: Any = None


class LlmConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    ai_integration_id: str | None = None
    model_name: str | None = None
    invocation_parameters: dict[str, Any] | None = None
    provider_parameters: dict[str, Any] | None = None


class TemplateConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    template: str
    include_explanations: bool | None = None
    use_function_calling: bool | None = None
    use_structured_output: bool | None = None
    classification_choices: dict[str, float] | None = None
    direction: str | None = None
    data_granularity: str | None = None
    llm_config: LlmConfig | None = None


class CodeConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    type: str
    name: str
    managed_evaluator: str | None = None
    variables: list[str] | None = None
    static_params: list[StaticParam] | None = None
    data_granularity: str | None = None
    query_filter: str | None = None
    code: str | None = None
    imports: str | None = None


class VersionBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    commit_message: str
    template_config: TemplateConfig | None = None
    code_config: CodeConfig | None = None


class CreateEvaluatorBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    space_id: SpaceId
    name: str
    type: str
    version: VersionBody
    description: str | None = None


class EvaluatorVersionOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    evaluator_id: str
    type: str
    commit_hash: str
    commit_message: str
    created_at: str | None
    created_by_user_id: str | None = None
    template_config: dict[str, Any] | None = None
    code_config: dict[str, Any] | None = None


class EvaluatorOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    description: str | None
    type: str
    space_id: str | None
    created_at: str | None
    updated_at: str | None
    created_by_user_id: str | None = None
    version: EvaluatorVersionOut | None = None


class EvaluatorPage(msgspec.Struct, kw_only=True):
    evaluators: list[EvaluatorOut]
    pagination: Pagination


def _param(params: list[StaticParam] | None, *names: str) -> Any:
    for p in params or []:
        if p.name in names:
            return p.value
    return None


def engine_evaluator(body: VersionBody, kind: Literal["template", "code"]) -> Evaluator:
    """The engine evaluator an Arize evaluator version describes; a 400 for what runyard cannot run."""
    if kind == "template":
        t = body.template_config
        if t is None or body.code_config is not None:
            raise bad("version: a TEMPLATE evaluator takes template_config (and no code_config)")
        if not _COLUMN.match(t.name):
            raise bad("version.template_config.name: letters, digits, spaces and _-&() only")
        if not t.template.strip():
            raise bad("version.template_config.template must not be empty")
        labels = list(t.classification_choices or {}) or ["correct", "incorrect"]
        model = t.llm_config.model_name if t.llm_config else None
        return JudgeEvaluator(name=t.name, template=t.template, labels=labels, choices=t.classification_choices,
                              model=model)  # fmt: skip
    c = body.code_config
    if c is None or body.template_config is not None:
        raise bad("version: a CODE evaluator takes code_config (and no template_config)")
    if not _COLUMN.match(c.name):
        raise bad("version.code_config.name: letters, digits, spaces and _-&() only")
    if c.type.upper() != "MANAGED":
        raise bad(
            "version.code_config.type: runyard runs MANAGED code evaluators; custom Python source is not run from "
            "the API (configure a code evaluator module:function on the server instead)"
        )
    managed, variables = (c.managed_evaluator or "").upper(), c.variables or []
    if managed not in MANAGED:
        raise bad(f"version.code_config.managed_evaluator: one of {', '.join(MANAGED)}")
    need = 2 if managed == "EXACT_MATCH" else 1
    if len(variables) != need:
        raise bad(f"version.code_config.variables: {managed} takes {need} variable(s)")
    subject = variables[0]
    if managed == "EXACT_MATCH":
        return MatchEvaluator(name=c.name, mode="exact", subject=subject, against=variables[1])
    if managed == "JSON_PARSEABLE":
        return MatchEvaluator(name=c.name, mode="json", subject=subject)
    if managed == "MATCHES_REGEX":
        pattern = _param(c.static_params, "pattern", "regex")
        if not isinstance(pattern, str):
            raise bad("version.code_config.static_params: MATCHES_REGEX needs a string parameter 'pattern'")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise bad(f"version.code_config.static_params: invalid pattern: {exc}") from None
        return MatchEvaluator(name=c.name, mode="regex", subject=subject, value=pattern)
    keywords = _param(c.static_params, "keywords")
    if isinstance(keywords, str):
        keywords = [k.strip() for k in keywords.split(",") if k.strip()]
    if not isinstance(keywords, list) or not keywords:
        raise bad(f"version.code_config.static_params: {managed} needs a parameter 'keywords' (a list)")
    case = _param(c.static_params, "case_sensitive")
    mode: Literal["contains_any", "contains_all"] = (
        "contains_any" if managed == "CONTAINS_ANY_KEYWORD" else "contains_all"
    )
    return MatchEvaluator(name=c.name, mode=mode, subject=subject, value=keywords, case_sensitive=case is True)


def remap(evaluator: Evaluator, mappings: dict[str, str] | None) -> Evaluator:
    """A task's column_mappings applied: each template variable or match variable named on the left reads the
    column named on the right."""
    if not mappings:
        return evaluator
    if isinstance(evaluator, JudgeEvaluator):
        template = evaluator.template
        for var, column in mappings.items():
            template = re.sub(r"\{\{\s*" + re.escape(var) + r"\s*\}\}|\{" + re.escape(var) + r"\}",
                              "{" + column.replace("\\", "\\\\") + "}", template)  # fmt: skip
        return msgspec.structs.replace(evaluator, template=template)
    if isinstance(evaluator, MatchEvaluator):
        return msgspec.structs.replace(
            evaluator, subject=mappings.get(evaluator.subject, evaluator.subject),
            against=mappings.get(evaluator.against, evaluator.against),
        )  # fmt: skip
    return evaluator
