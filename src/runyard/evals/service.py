"""Evaluation operations of the engine (`Service.evaluations`): datasets, starting an evaluation run, and
reading its counts and item results. Dialects call these and translate; the rules live here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from runyard.errors import BadRequest, ConflictError, NotFoundError
from runyard.evals.spec import MAX_CONCURRENCY, MAX_ITEMS, Counts, Dataset, EvaluationSpec, Example, Item, ItemResult
from runyard.ids import new_ulid
from runyard.models import Run
from runyard.store.base import Conflict, NotFound, Store

if TYPE_CHECKING:
    from runyard.service import Service

MAX_NAME = 200
PAGE = 1000


def check_text(what: str, value: str, *, limit: int = MAX_NAME, empty: bool = False) -> None:
    if not value and not empty:
        raise BadRequest(f"{what} must not be empty")
    if len(value) > limit:
        raise BadRequest(f"{what} must be at most {limit} characters")
    if "\x00" in value:
        raise BadRequest(f"{what} must not contain NUL characters")


class Evaluations:
    def __init__(self, store: Store, service: Service) -> None:
        self.store = store
        self.service = service

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

    async def dataset(self, dataset_id: str) -> Dataset:
        dataset = await self.store.get_dataset(dataset_id)
        if dataset is None:
            raise NotFoundError("dataset not found")
        return dataset

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
        tags: list[str] | None = None,
    ) -> Run:
        """An evaluation run of `task` (a task of kind evaluation). With a dataset, its examples (of `version`,
        default the newest) are the items, after those of the spec."""
        if self.service.task(task).kind != "evaluation":
            raise BadRequest(f"task {task!r} is not an evaluation task")
        items = list(spec.items)
        if dataset_id is not None:
            after = -1
            while page := await self.examples(dataset_id, version, after=after):
                items += [
                    Item(id=e.id, input=e.input, expected=e.expected, output=e.output, metadata=e.metadata)
                    for _, e in page
                ]
                after = page[-1][0]
        if not items:
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
        from runyard.service import TriggerRequest

        payload = msgspec.json.encode(msgspec.structs.replace(spec, items=items))
        result = await self.service.trigger(TriggerRequest(task=task, payload=payload, tags=tags or []))
        return result.run

    async def counts(self, run_id: str) -> Counts:
        """The run's counts so far (all zero before its first item is recorded)."""
        await self.service.get_run(run_id)
        return await self.store.eval_counts(run_id) or Counts()

    async def results(self, run_id: str, *, after: int = -1, limit: int = PAGE) -> list[ItemResult]:
        await self.service.get_run(run_id)
        return await self.store.eval_results(run_id, after=after, limit=max(1, min(limit, PAGE)))
