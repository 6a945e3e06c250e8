"""Evaluation operations of the engine (`Service.evaluations`): datasets, starting an evaluation run, and
reading its counts and item results. Dialects call these and translate; the rules live here."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from runyard.durations import MAX_TIME_US
from runyard.errors import BadRequest, ConflictError, NotFoundError
from runyard.evals.apps import Application
from runyard.evals.spec import (
    MAX_CONCURRENCY,
    MAX_ITEMS,
    Counts,
    Dataset,
    EvaluationSpec,
    EvaluatorVersion,
    Example,
    Item,
    ItemResult,
    ItemStatus,
    NamedEvaluator,
    Span,
    SpanProject,
    Suite,
    Target,
)
from runyard.ids import new_ulid, now_us
from runyard.models import Run, Schedule
from runyard.records import ListRunsParams
from runyard.schedules import ScheduleInput
from runyard.store.base import Conflict, NotFound, Store

if TYPE_CHECKING:
    from runyard.service import Service

MAX_SPANS_PER_CALL = 10_000
_HEX = re.compile(r"[0-9a-f]+")
MAX_NAME = 200
MAX_TEXT = 10_000
MAX_INPUTS = 1000
PAGE = 1000


def check_text(what: str, value: str, *, limit: int = MAX_NAME, empty: bool = False) -> None:
    if not value and not empty:
        raise BadRequest(f"{what} must not be empty")
    if len(value) > limit:
        raise BadRequest(f"{what} must be at most {limit} characters")
    if "\x00" in value:
        raise BadRequest(f"{what} must not contain NUL characters")


SUITE_TASK = "evaluations"  # the evaluation task suites run on (the server adds it when it is not configured)
SIGNATURE_HEADER, TIMESTAMP_HEADER = "x-avido-signature", "x-avido-timestamp"
SUITE_ANSWERS = "suite-answers:{run_id}"  # the span project where a suite run's answers may arrive as traces


class Evaluations:
    def __init__(self, store: Store, service: Service) -> None:
        self.store = store
        self.service = service
        self.applications: dict[str, Application] = {}

    # -- datasets ---------------------------------------------------------------------------------
    async def create_dataset(self, name: str, examples: list[Example]) -> Dataset:
        check_text("the dataset name", name)
        self._check_examples(examples, 0)
        try:
            return await self.store.create_dataset(new_ulid(), name, examples)
        except Conflict as exc:
            raise ConflictError(str(exc)) from None

    async def append_examples(self, dataset_id: str, examples: list[Example]) -> Dataset:
        dataset = await self.dataset(dataset_id)
        self._check_examples(examples, dataset.example_count)
        try:
            return await self.store.append_examples(dataset_id, examples)
        except NotFound:
            raise NotFoundError("dataset not found") from None

    async def replace_examples(self, dataset_id: str, examples: list[Example]) -> Dataset:
        """A new version with these examples (matched by id) in place of the old ones; all or nothing."""
        await self.dataset(dataset_id)
        self._check_examples(examples, 0)
        if not examples:
            raise BadRequest("give at least one example to replace")
        try:
            return await self.store.replace_examples(dataset_id, examples)
        except NotFound:
            raise NotFoundError("dataset not found") from None
        except Conflict as exc:
            raise BadRequest(str(exc)) from None

    async def delete_dataset(self, dataset_id: str) -> None:
        """A dataset with all its versions; the evaluation runs made from it keep their items and results."""
        if not await self.store.delete_dataset(dataset_id):
            raise NotFoundError("dataset not found")

    async def dataset(self, dataset_id: str) -> Dataset:
        dataset = await self.store.get_dataset(dataset_id)
        if dataset is None:
            raise NotFoundError("dataset not found")
        return dataset

    async def datasets(self, *, name: str | None = None, skip: int = 0, limit: int = 50) -> tuple[list[Dataset], int]:
        return await self.store.list_datasets(name=name or None, skip=max(0, skip), limit=max(1, min(limit, PAGE)))

    async def examples(
        self, dataset_id: str, version: int | None = None, *, after: int = -1, limit: int = PAGE
    ) -> list[tuple[int, Example]]:
        dataset = await self.dataset(dataset_id)
        version = dataset.version if version is None else version
        if not 1 <= version <= dataset.version:
            raise NotFoundError(f"dataset {dataset.name!r} has versions 1 to {dataset.version}")
        return await self.store.dataset_examples(dataset_id, version, after=after, limit=max(1, min(limit, PAGE)))

    def _check_examples(self, examples: list[Example], existing: int) -> None:
        if existing + len(examples) > MAX_ITEMS:
            raise BadRequest(f"a dataset holds at most {MAX_ITEMS} examples")
        for n, example in enumerate(examples):
            check_text(f"examples[{n}].id", example.id, empty=True)

    # -- runs -------------------------------------------------------------------------------------
    async def start(
        self,
        task: str,
        spec: EvaluationSpec,
        *,
        dataset_id: str | None = None,
        version: int | None = None,
        example_ids: list[str] | None = None,
        max_examples: int | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        allow_empty: bool = False,
        unique_key: str | None = None,
    ) -> Run:
        """An evaluation run of `task` (a task of kind evaluation). With a dataset, its examples (of `version`,
        default the newest; only `example_ids`, or the first `max_examples`, when given) are the items, after
        those of the spec. `allow_empty`: a run with nothing to evaluate is started (and ends at once).
        `unique_key`: while a run made with this key has not failed, another is refused (ConflictError) — one
        transaction decides, so two at once cannot both pass."""
        if self.service.task(task).kind != "evaluation":
            raise BadRequest(f"task {task!r} is not an evaluation task")
        items = list(spec.items)
        if dataset_id is not None:
            wanted = None if example_ids is None else set(example_ids)
            after, found = -1, []
            while page := await self.examples(dataset_id, version, after=after):
                found += [e for _, e in page if wanted is None or e.id in wanted]
                after = page[-1][0]
                if max_examples is not None and len(found) >= max_examples:
                    break
            if wanted is not None and (missing := wanted - {e.id for e in found}):
                raise BadRequest(f"the dataset has no example {sorted(missing)[0]!r}")
            items += [
                Item(id=e.id, input=e.input, expected=e.expected, output=e.output, metadata=e.metadata)
                for e in found[:max_examples]
            ]
        if not items and not allow_empty:
            raise BadRequest("an evaluation needs at least one item")
        if len(items) > MAX_ITEMS:
            raise BadRequest(f"an evaluation holds at most {MAX_ITEMS} items")
        if spec.concurrency is not None and not 1 <= spec.concurrency <= MAX_CONCURRENCY:
            raise BadRequest(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
        names = [e.name for e in spec.evaluators]
        for n, name in enumerate(names):
            check_text(f"evaluators[{n}].name", name)
        if len(set(names)) != len(names):
            raise BadRequest("evaluator names must be unique")
        from runyard.service import MAX_SPAN_S, TriggerRequest

        payload = msgspec.json.encode(msgspec.structs.replace(spec, items=items))
        ttl = MAX_SPAN_S if unique_key else None
        req = TriggerRequest(task=task, payload=payload, tags=tags or [], metadata=metadata,
                             idempotency_key=unique_key, idempotency_ttl_s=ttl)  # fmt: skip
        result = await self.service.trigger(req)
        if unique_key is not None and result.cached:
            raise ConflictError(f"a run for {unique_key!r} exists: {result.run.id}")
        return result.run

    async def outputs(self, run_id: str) -> list[Item]:
        """The items of a finished evaluation run with the outputs it got (those that got one), to evaluate
        again with other evaluators."""
        run = await self.service.get_run(run_id)
        try:
            spec = msgspec.json.decode(run.payload, type=EvaluationSpec)
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise BadRequest(f"run {run_id} is not an evaluation") from None
        out: list[Item] = []
        after = -1
        while page := await self.store.eval_results(run_id, after=after, limit=PAGE):
            for r in page:
                if r.status is ItemStatus.SUCCESS and r.index < len(spec.items):
                    out.append(msgspec.structs.replace(spec.items[r.index], output=r.output))
            after = page[-1].index
        return out

    async def counts(self, run_id: str) -> Counts:
        """The run's counts so far (all zero before its first item is recorded)."""
        await self.service.get_run(run_id)
        return await self.store.eval_counts(run_id) or Counts()

    async def results(self, run_id: str, *, after: int = -1, limit: int = PAGE) -> list[ItemResult]:
        await self.service.get_run(run_id)
        return await self.store.eval_results(run_id, after=after, limit=max(1, min(limit, PAGE)))

    # -- applications and suites --------------------------------------------------------------------
    def application(self, app_id: str) -> Application:
        app = self.applications.get(app_id)
        if app is None:
            raise NotFoundError("application not found")
        return app

    def check_scope(self, scope: str) -> None:
        """A scope is a configured application, or a workspace ("@name") that needs no configuration."""
        if not scope.startswith("@"):
            self.application(scope)

    async def save_suite(self, suite: Suite, *, create: bool) -> Suite:
        self.check_scope(suite.scope)
        check_text("the name", suite.name, limit=MAX_TEXT)
        check_text("the description", suite.description, limit=MAX_TEXT, empty=True)
        if len(suite.inputs) > MAX_INPUTS:
            raise BadRequest(f"a suite has at most {MAX_INPUTS} inputs")
        if create:
            suite = msgspec.structs.replace(suite, id=str(uuid.uuid4()))
        try:
            return await self.store.save_suite(suite, create=create)
        except NotFound:
            raise NotFoundError("suite not found") from None

    async def suite(self, scope: str, suite_id: str) -> Suite:
        suite = await self.store.get_suite(suite_id)
        if suite is None or suite.scope != scope:
            raise NotFoundError("suite not found")
        return suite

    async def suites(
        self, scope: str, *, skip: int = 0, limit: int = 50, where: Callable[[Suite], bool] | None = None
    ) -> tuple[list[Suite], int]:
        """A page of a scope's suites (oldest first) and how many there are; with `where`, only those it keeps."""
        skip, limit = max(0, skip), max(1, min(limit, PAGE))
        if where is None:
            return await self.store.list_suites(scope, skip=skip, limit=limit)
        kept: list[Suite] = []
        start = 0
        while True:
            page, total = await self.store.list_suites(scope, skip=start, limit=PAGE)
            kept += [s for s in page if where(s)]
            start += len(page)
            if not page or start >= total:
                return kept[skip : skip + limit], len(kept)

    async def delete_suite(self, scope: str, suite_id: str) -> None:
        await self.suite(scope, suite_id)
        await self.store.delete_suite(suite_id)

    # -- named evaluators ---------------------------------------------------------------------------
    async def create_evaluator(self, name: str, description: str = "", kind: str = "") -> NamedEvaluator:
        check_text("the evaluator name", name)
        check_text("the description", description, limit=MAX_TEXT, empty=True)
        evaluator = NamedEvaluator(id=new_ulid(), name=name, description=description, kind=kind)
        try:
            return await self.store.save_named_evaluator(evaluator, expected=None)
        except Conflict as exc:
            raise ConflictError(str(exc)) from None

    async def evaluator(self, evaluator_id: str) -> NamedEvaluator:
        evaluator = await self.store.get_named_evaluator(evaluator_id)
        if evaluator is None:
            raise NotFoundError("evaluator not found")
        return evaluator

    async def update_evaluator(self, evaluator: NamedEvaluator, *, expected: int) -> NamedEvaluator:
        """Its fields and versions as given, if nobody changed it since version `expected` was read."""
        check_text("the evaluator name", evaluator.name)
        check_text("the description", evaluator.description, limit=MAX_TEXT, empty=True)
        try:
            return await self.store.save_named_evaluator(evaluator, expected=expected)
        except NotFound:
            raise NotFoundError("evaluator not found") from None
        except Conflict as exc:
            raise ConflictError(str(exc)) from None

    async def add_evaluator_version(self, evaluator_id: str, version: EvaluatorVersion) -> NamedEvaluator:
        """A new newest version (numbered after the last one)."""
        check_text("the message", version.message, limit=MAX_TEXT, empty=True)
        if version.evaluator is not None:
            check_text("the evaluator's name", version.evaluator.name)
        current = await self.evaluator(evaluator_id)
        number = current.version + 1
        added = msgspec.structs.replace(version, version=number, created_at=now_us())
        grown = msgspec.structs.replace(current, version=number, versions=[*current.versions, added])
        return await self.update_evaluator(grown, expected=current.version)

    async def evaluators(self, *, skip: int = 0, limit: int = 50) -> tuple[list[NamedEvaluator], int]:
        return await self.store.list_named_evaluators(skip=max(0, skip), limit=max(1, min(limit, PAGE)))

    async def delete_evaluator(self, evaluator_id: str) -> None:
        if not await self.store.delete_named_evaluator(evaluator_id):
            raise NotFoundError("evaluator not found")

    def _suite_payload(self, app: Application, suite: Suite) -> bytes:
        """What an evaluation run of a suite does: its inputs go to the application (signed), its evaluators
        score the answers (from the reply, or from a trace that names the run)."""
        target = Target(
            url=app.webhook_url, secret=app.secret or None, output_field=None,
            fields={"input": "prompt", "run_id": "testId", "item_id": "", "metadata": "metadata"},
            static={"applicationId": app.id}, signature_header=SIGNATURE_HEADER, timestamp_header=TIMESTAMP_HEADER,
            answers_from=SUITE_ANSWERS,
        )  # fmt: skip
        inputs = suite.inputs or [suite.description or suite.name]
        items = [Item(id=str(n), input=text, metadata=suite.metadata or None) for n, text in enumerate(inputs)]
        return msgspec.json.encode(EvaluationSpec(items=items, evaluators=suite.evaluators, target=target))

    async def run_suites(self, scope: str, suite_ids: list[str]) -> list[Run]:
        """One evaluation run per suite, all committed together or none."""
        app = self.application(scope)
        suites = [await self.suite(scope, s) for s in suite_ids]
        from runyard.service import TriggerRequest

        reqs = [
            TriggerRequest(task=SUITE_TASK, payload=self._suite_payload(app, s), tags=[f"suite:{s.id}"]) for s in suites
        ]
        return [r.run for r in await self.service.trigger_many(reqs)]

    async def schedule_suite(self, suite: Suite, cron: str | None) -> Schedule | None:
        """Run a suite on a cron schedule (UTC), or no longer (None). Each tick's run gets the suite as it is
        now; call this again after the suite changes."""
        key = f"suite:{suite.id}"
        existing = await self.store.get_schedule_by_key(key)
        if cron is None:
            if existing is not None:
                await self.service.schedules.delete(existing.id)
            return None
        payload = self._suite_payload(self.application(suite.scope), suite)
        data = ScheduleInput(task=SUITE_TASK, cron=cron, deduplication_key=key, external_id=suite.id, payload=payload,
                             tags=[key])  # fmt: skip
        schedule, _ = await self.service.schedules.create(data)
        return schedule

    async def suite_schedule(self, suite_id: str) -> Schedule | None:
        return await self.store.get_schedule_by_key(f"suite:{suite_id}")

    async def suite_runs(self, suite_ids: list[str], *, limit: int = 50) -> list[Run]:
        """The newest evaluation runs of these suites, newest first."""
        page = await self.service.list_runs(
            ListRunsParams(tags=[f"suite:{s}" for s in suite_ids], tasks=[SUITE_TASK], limit=max(1, min(limit, PAGE)))
        )
        return page.runs

    # -- spans ---------------------------------------------------------------------------------------
    async def ingest_spans(self, spans: list[Span]) -> int:
        """Keep spans (idempotently: a span sent again is skipped); returns how many were new."""
        if len(spans) > MAX_SPANS_PER_CALL:
            raise BadRequest(f"at most {MAX_SPANS_PER_CALL} spans a request")
        for n, span in enumerate(spans):
            check_text(f"spans[{n}].project", span.project)
            for field in ("span_id", "trace_id", "parent_span_id"):
                value = getattr(span, field)
                if len(value) > 64 or (value and not _HEX.fullmatch(value)):
                    raise BadRequest(f"spans[{n}].{field}: at most 64 hex digits")
            if not span.span_id:
                raise BadRequest(f"spans[{n}]: a span needs a span id")
            if not (0 <= span.start_us <= MAX_TIME_US and 0 <= span.end_us <= MAX_TIME_US):
                raise BadRequest(f"spans[{n}]: times must be from 1970 to 9999")
            if not (0 <= span.kind < 2**16 and 0 <= span.status_code < 2**16):
                raise BadRequest(f"spans[{n}]: kind and status code are small non-negative integers")
        return await self.store.insert_spans(spans) if spans else 0

    async def projects(self) -> list[SpanProject]:
        return await self.store.span_projects()

    async def span_items(
        self, project: str, start_us: int, end_us: int, *, limit: int, sampling_rate: float = 1.0
    ) -> list[Item]:
        """A project's spans in a window as items: the input is the span's columns (name, ids, times, and each
        attribute as "attributes.<key>"), the output its `output.value` attribute. With a sampling rate below
        1, each span is kept or not by its id, so the same spans are picked every time."""
        items: list[Item] = []
        for span in await self.store.spans_in_window(project, start_us, end_us, limit):
            if (
                sampling_rate < 1
                and int(hashlib.sha256(span.span_id.encode()).hexdigest()[:8], 16) >= sampling_rate * 2**32
            ):
                continue
            columns: dict[str, Any] = {
                "name": span.name, "span_id": span.span_id, "trace_id": span.trace_id,
                "parent_id": span.parent_span_id, "start_time": span.start_us, "end_time": span.end_us,
                "status_code": span.status_code, "status_message": span.status_message,
            }  # fmt: skip
            columns.update((f"attributes.{k}", v) for k, v in span.attributes.items())
            output = span.attributes.get("output.value", msgspec.UNSET)
            items.append(Item(id=span.span_id, input=columns, output=output))
        return items
