"""Avido v0 wire format: request bodies as the `avido` SDK sends them, tasks, tests and applications as it
reads them, and errors ({message}, or {message, issues} for invalid input). An Avido task is an engine
suite; a test is one evaluation run of it (the test id is the run id)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

import msgspec

from runyard.api.common import TOO_DEEP, ApiError, ProblemDetail
from runyard.evals.apps import Application
from runyard.evals.spec import Counts, Evaluator, MatchEvaluator, Suite
from runyard.ids import us_to_iso
from runyard.models import Run, RunStatus, Schedule

UUID = re.compile(
    r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
    r"|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$"
)
TASK_TYPES = ("NORMAL", "ADVERSARY", "STATIC")
MAX_TEXT = 10_000
STATUSES = {
    RunStatus.DELAYED: "PENDING", RunStatus.QUEUED: "PENDING", RunStatus.EXECUTING: "IN_PROGRESS",
    RunStatus.COMPLETED: "COMPLETED", RunStatus.FAILED: "FAILED", RunStatus.CANCELED: "FAILED",
    RunStatus.CRASHED: "FAILED", RunStatus.TIMED_OUT: "FAILED", RunStatus.EXPIRED: "FAILED",
    RunStatus.SYSTEM_FAILURE: "FAILED",
}  # fmt: skip


class Issue(msgspec.Struct, kw_only=True):
    code: str
    message: str
    path: list[str]


class AvidoError(msgspec.Struct, kw_only=True, omit_defaults=True):
    """{message}; invalid input adds the issues (code, message, path)."""

    message: str
    issues: list[Issue] | None = None


def invalid(field: str, message: str, code: str = "custom") -> ApiError:
    return ApiError(422, "Invalid request data", [ProblemDetail(location=f"{code}:{field}", message=message)])


def issues_of(errors: list[ProblemDetail]) -> list[Issue]:
    out = []
    for e in errors:
        code, _, path = (e.location or "custom:").partition(":")
        out.append(Issue(code=code, message=e.message, path=[p for p in path.split(".") if p]))
    return out


MAX_TRIGGER = 100  # tasks one trigger request may name
_LENGTH = re.compile(r"Expected `(array|str)` of length (>=|<=) (\d+)")


def decode(raw: bytes, type_: type[Any]) -> Any:
    try:
        return msgspec.json.decode(raw or b"{}", type=type_)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path = ""
        if " - at `$." in message:
            message, _, at = message.partition(" - at `$.")
            path = at.rstrip("`")
        code = "unrecognized_keys" if message.startswith("Object contains unknown field") else "invalid_type"
        if bound := _LENGTH.match(message):  # a length stated in the schema, in Avido's (zod's) words
            kind, sign, n = bound.groups()
            noun = "Array" if kind == "array" else "String"
            unit = "element(s)" if kind == "array" else "character(s)"
            most = sign == "<="
            message = f"{noun} must contain at {'most' if most else 'least'} {n} {unit}"
            code = "too_big" if most else "too_small"
        if message.startswith("Object missing required field"):
            path = path or message.rsplit("`", 2)[-2]
        raise invalid(path, message, code) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, TOO_DEEP) from None


def check_text(field: str, value: str, *, empty: bool = False) -> None:
    if not value.strip() and not empty:
        raise invalid(field, "String must contain at least 1 character(s)", "too_small")
    if len(value) > MAX_TEXT:
        raise invalid(field, f"String must contain at most {MAX_TEXT} character(s)", "too_big")
    if "\x00" in value:
        raise invalid(field, "String must not contain NUL characters", "invalid_string")


def check_uuid(field: str, value: str | None) -> None:
    if value is not None and not UUID.match(value):
        raise invalid(field, "Invalid uuid", "invalid_string")


class EvalDefinitionRef(msgspec.Struct, kw_only=True):
    name: str
    type: str = "OUTPUT_MATCH"


class EvalDefinitionLink(msgspec.Struct, kw_only=True):
    """runyard's form of a task's evalDefinitions on create: an output match with config.expected."""

    evalDefinition: EvalDefinitionRef
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class ScheduleIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """runyard's own field (Avido sets schedules in its app): how often the task runs by itself."""

    criticality: str


class CreateTaskBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: str
    description: str
    taskSchedule: ScheduleIn | None = None
    type: str = "NORMAL"
    topicId: str | None = None
    metadata: dict[str, Any] | None = None
    simulatedPromptSchema: dict[str, Any] | None = None
    inputExamples: list[str] | None = None
    quickstartId: str | None = None
    evalDefinitions: list[EvalDefinitionLink] | None = None


class UpdateTaskBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: str | None = None
    description: str | None = None
    topicId: str | msgspec.UnsetType | None = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    simulatedPromptSchema: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    inputExamples: list[str] | None = None
    isVerified: bool | None = None
    deleteEmptySourceTopic: bool | None = None
    taskSchedule: ScheduleIn | msgspec.UnsetType | None = msgspec.UNSET  # null: no schedule


class TriggerBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    taskIds: Annotated[list[str], msgspec.Meta(min_length=1, max_length=MAX_TRIGGER)]


class ValidateWebhookBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    body: dict[str, Any]
    signature: str
    timestamp: str | int | None = None


class ValidateWebhookResponse(msgspec.Struct, kw_only=True):
    valid: bool


def check_task_fields(
    title: str | None, description: str | None, inputs: list[str] | None, topic_id: str | None
) -> None:
    if title is not None:
        check_text("title", title)
    if description is not None:
        check_text("description", description)
    check_uuid("topicId", topic_id)
    for n, text in enumerate(inputs or []):
        check_text(f"inputExamples.{n}", text)


def evaluators_of(links: list[EvalDefinitionLink]) -> list[Evaluator]:
    out: list[Evaluator] = []
    for n, link in enumerate(links):
        check_text(f"evalDefinitions.{n}.evalDefinition.name", link.evalDefinition.name)
        expected = link.config.get("expected")
        if not isinstance(expected, str) or not expected:
            raise invalid(f"evalDefinitions.{n}.config.expected", "Expected a non-empty string", "invalid_type")
        pattern = re.escape(expected)
        out.append(MatchEvaluator(name=link.evalDefinition.name, mode="regex", value=pattern, case_sensitive=False))
    return out


# -- out ------------------------------------------------------------------------------------------------
class EvalDefinitionOut(msgspec.Struct, kw_only=True):
    id: str
    createdAt: str
    modifiedAt: str
    name: str
    type: str


class EvalDefinitionEntry(msgspec.Struct, kw_only=True):
    evalDefinition: EvalDefinitionOut
    config: dict[str, Any]


class TaskOut(msgspec.Struct, kw_only=True):
    id: str
    createdAt: str
    modifiedAt: str
    title: str
    description: str
    type: str
    passRate: float | None
    lastTest: str | None
    inputExamples: list[str]
    evalDefinitions: list[EvalDefinitionEntry]
    metadata: dict[str, Any]
    simulatedPromptSchema: dict[str, Any] | None
    taskSchedule: dict[str, Any] | None
    topicId: str | None
    isVerified: bool
    status: Literal["ACTIVE"] = "ACTIVE"


class TaskEnvelope(msgspec.Struct, kw_only=True):
    task: TaskOut


class Pagination(msgspec.Struct, kw_only=True):
    skip: int
    limit: int
    total: int
    totalPages: int


class TaskPage(msgspec.Struct, kw_only=True):
    data: list[TaskOut]
    pagination: Pagination


class TestResult(msgspec.Struct, kw_only=True):
    averageScore: float
    failed: int
    passed: int
    passRate: float
    total: int


class TestTask(msgspec.Struct, kw_only=True):
    id: str
    title: str
    topicId: str | None


class TestOut(msgspec.Struct, kw_only=True):
    id: str
    applicationId: str
    createdAt: str
    modifiedAt: str
    evals: list[Any]
    runId: str
    runType: str
    status: str
    task: TestTask
    taskId: str
    traceId: str | None
    result: TestResult | None


class TestPage(msgspec.Struct, kw_only=True):
    data: list[TestOut]
    pagination: Pagination


class TestEnvelope(msgspec.Struct, kw_only=True):
    test: TestOut


class ApplicationOut(msgspec.Struct, kw_only=True):
    id: str
    orgId: str
    title: str
    slug: str
    description: str
    context: str
    language: str
    type: str
    environment: str
    humanAnnotationEnabled: bool
    createdAt: str
    modifiedAt: str


class ApplicationEnvelope(msgspec.Struct, kw_only=True):
    data: ApplicationOut


class ApplicationPage(msgspec.Struct, kw_only=True):
    data: list[ApplicationOut]
    pagination: Pagination


def pagination(skip: int, limit: int, total: int) -> Pagination:
    return Pagination(skip=skip, limit=limit, total=total, totalPages=(total + limit - 1) // limit if limit else 0)


def pass_rate(counts: Counts) -> float:
    """Percent of the items that got an answer and passed (0-100)."""
    return round(100.0 * counts.passed / counts.success, 2) if counts.success else 0.0


# HIGH daily, MEDIUM weekly, LOW every two weeks (Avido's own schedule)
CRITICALITY_CRON = {"HIGH": "@daily", "MEDIUM": "@weekly", "LOW": "@every 336h"}


def render_schedule(suite: Suite, schedule: Schedule | None) -> dict[str, Any] | None:
    if schedule is None or "criticality" not in suite.attributes:
        return None
    return {
        "taskId": suite.id, "applicationId": suite.scope, "criticality": suite.attributes["criticality"],
        "cron": schedule.cron, "nextRunAt": us_to_iso(schedule.next_run_at) if schedule.next_run_at else None,
        "lastRunAt": us_to_iso(schedule.last_run_at) if schedule.last_run_at else None,
    }  # fmt: skip


def render_task(suite: Suite, last: tuple[Run, Counts] | None, schedule: Schedule | None = None) -> TaskOut:
    attrs = suite.attributes
    created = us_to_iso(suite.created_at)
    definitions = [
        EvalDefinitionEntry(
            evalDefinition=EvalDefinitionOut(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{suite.id}/{d['name']}")),
                createdAt=created,
                modifiedAt=created,
                name=d["name"],
                type=d.get("type", "OUTPUT_MATCH"),
            ),
            config=d.get("config", {}),
        )
        for d in attrs.get("evalDefinitions", [])
    ]
    return TaskOut(
        id=suite.id, createdAt=created, modifiedAt=us_to_iso(suite.updated_at), title=suite.name,
        description=suite.description, type=suite.kind, inputExamples=[str(i) for i in suite.inputs],
        passRate=pass_rate(last[1]) if last else None,
        lastTest=us_to_iso(last[0].ended_at or last[0].created_at) if last else None,
        evalDefinitions=definitions, metadata=suite.metadata, simulatedPromptSchema=attrs.get("simulatedPromptSchema"),
        taskSchedule=render_schedule(suite, schedule), topicId=attrs.get("topicId"),
        isVerified=bool(attrs.get("isVerified", False)),
    )  # fmt: skip


def render_test(run: Run, suite: Suite, counts: Counts | None) -> TestOut:
    result = None
    if run.status is RunStatus.COMPLETED and counts is not None:
        result = TestResult(
            averageScore=counts.average_score or 0.0, failed=counts.success - counts.passed + counts.error,
            passed=counts.passed, passRate=pass_rate(counts), total=counts.total,
        )  # fmt: skip
    return TestOut(
        id=run.id, applicationId=suite.scope, createdAt=us_to_iso(run.created_at),
        modifiedAt=us_to_iso(run.ended_at or run.started_at or run.created_at), evals=[], runId=run.id,
        runType="MANUAL", status=STATUSES[run.status], task=TestTask(id=suite.id, title=suite.name,
        topicId=suite.attributes.get("topicId")), taskId=suite.id, traceId=None, result=result,
    )  # fmt: skip


def render_application(app: Application) -> ApplicationOut:
    epoch = "1970-01-01T00:00:00.000Z"
    return ApplicationOut(
        id=app.id, orgId="runyard", title=app.title, slug=app.slug or app.id, description=app.description,
        context=app.context, language=app.language, type=app.kind, environment=app.environment,
        humanAnnotationEnabled=False, createdAt=epoch, modifiedAt=epoch,
    )  # fmt: skip
