"""The store's evaluation operations (a part of `Store`): datasets with versions, item results and counts."""

from __future__ import annotations

import abc

from runyard.evals.spec import Counts, Dataset, Example, ItemResult, NamedEvaluator, Span, SpanProject, Suite


class EvalStore(abc.ABC):
    @abc.abstractmethod
    async def create_dataset(self, dataset_id: str, name: str, examples: list[Example]) -> Dataset:
        """Version 1 of a new dataset. Raises Conflict when the name is taken."""

    @abc.abstractmethod
    async def append_examples(self, dataset_id: str, examples: list[Example]) -> Dataset:
        """A new version: the previous version's examples, then these. Raises NotFound."""

    @abc.abstractmethod
    async def replace_examples(self, dataset_id: str, examples: list[Example]) -> Dataset:
        """A new version: the previous version's examples, those with the ids of `examples` replaced by them.
        Raises NotFound (no such dataset), Conflict (an id the previous version lacks; nothing changes)."""

    @abc.abstractmethod
    async def get_dataset(self, dataset_id: str) -> Dataset | None: ...

    @abc.abstractmethod
    async def delete_dataset(self, dataset_id: str) -> bool:
        """Every version and example of a dataset; whether it existed. Runs made from it keep their items."""

    @abc.abstractmethod
    async def list_datasets(self, *, name: str | None, skip: int, limit: int) -> tuple[list[Dataset], int]:
        """A page of datasets, oldest first (whose name contains `name`, any case), and how many match."""

    @abc.abstractmethod
    async def dataset_examples(
        self, dataset_id: str, version: int, *, after: int = -1, limit: int = 1000
    ) -> list[tuple[int, Example]]:
        """(position, example) of one version, in order, after position `after`."""

    @abc.abstractmethod
    async def record_eval_results(self, run_id: str, total: int, results: list[ItemResult]) -> None:
        """In one transaction: the results of items not recorded yet (the first result of an item stands),
        and the run's counts over them."""

    @abc.abstractmethod
    async def eval_counts(self, run_id: str) -> Counts | None: ...

    @abc.abstractmethod
    async def eval_results(self, run_id: str, *, after: int = -1, limit: int = 1000) -> list[ItemResult]: ...

    @abc.abstractmethod
    async def save_suite(self, suite: Suite, *, create: bool) -> Suite:
        """Insert (create) or replace a suite's fields; returns it as stored. Raises NotFound on update."""

    @abc.abstractmethod
    async def get_suite(self, suite_id: str) -> Suite | None: ...

    @abc.abstractmethod
    async def list_suites(self, scope: str, *, skip: int, limit: int) -> tuple[list[Suite], int]:
        """A page of a scope's suites, oldest first, and how many the scope has."""

    @abc.abstractmethod
    async def delete_suite(self, suite_id: str) -> bool:
        """Whether it existed. Its runs stay."""

    @abc.abstractmethod
    async def save_named_evaluator(self, evaluator: NamedEvaluator, *, expected: int | None) -> NamedEvaluator:
        """Insert (expected None; Conflict when the name is taken) or replace it, only if its stored version is
        still `expected` (Conflict otherwise, or when the new name is taken; NotFound when it is gone)."""

    @abc.abstractmethod
    async def get_named_evaluator(self, evaluator_id: str) -> NamedEvaluator | None: ...

    @abc.abstractmethod
    async def list_named_evaluators(self, *, skip: int, limit: int) -> tuple[list[NamedEvaluator], int]:
        """A page, oldest first, and how many there are."""

    @abc.abstractmethod
    async def delete_named_evaluator(self, evaluator_id: str) -> bool: ...

    @abc.abstractmethod
    async def insert_spans(self, spans: list[Span]) -> int:
        """In one transaction; a span already kept (same project and span id) is skipped. Returns how many
        were new."""

    @abc.abstractmethod
    async def spans_in_window(self, project: str, start_us: int, end_us: int, limit: int) -> list[Span]:
        """A project's spans that started in [start_us, end_us), oldest first."""

    @abc.abstractmethod
    async def span_projects(self) -> list[SpanProject]: ...
