"""The evaluation executor: score a run's items with the task's evaluator.

The payload is `{"items": [{"id"?, "input"?, "output", "expected"?, ...}, ...]}`. Items fan out over
`concurrency` lanes, so at most that many are scored at once; a lane scores up to CHUNK items per step
(code evaluators on a thread, one hop per step) and checks for a stop between items. Each item's result
is recorded through the context as it ends (in chunks), and the run's output counts them: success
(scored), error, skipped (no output, or not started because the run was stopped), passed and pass_rate.
A stop (cancel, timeout) lets the item being scored finish, records every item not started as skipped
and returns "canceled".
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from runyard import evaluators
from runyard.executors.base import ExecutionContext, Executor, Outcome
from runyard.models import EvalItemStatus, EvalResult

MAX_ITEMS = 100_000
DEFAULT_CONCURRENCY = 8
FLUSH_EVERY = 200  # results per store write, or what ended within FLUSH_S
FLUSH_S = 0.25
CHUNK = 16  # items a lane scores per step (one thread hop for code evaluators)


class Items(msgspec.Struct):
    items: list[dict[str, Any]]


class Counts(msgspec.Struct, kw_only=True):
    total: int
    success: int = 0
    error: int = 0
    skipped: int = 0
    passed: int = 0
    pass_rate: float | None = None  # passed / success
    average_score: float | None = None


def _bad(message: str) -> Outcome:
    return Outcome(kind="failed", error={"message": message, "name": "EvaluationInputError"}, retryable=False)


def _item_id(item: dict[str, Any]) -> str | None:
    value = item.get("id")
    return None if value is None else str(value)


class EvaluationExecutor(Executor):
    kind = "evaluation"

    async def execute(self, ctx: ExecutionContext) -> Outcome:
        try:
            evaluate = evaluators.build(ctx.task.config.get("evaluator", {}))
        except (ValueError, ImportError, AttributeError, TypeError) as exc:
            return _bad(f"evaluator: {exc}")
        try:
            items = msgspec.json.decode(ctx.run.payload, type=Items).items
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return _bad(f'the payload must be {{"items": [{{"output": ...}}, ...]}}: {exc}')
        if len(items) > MAX_ITEMS:
            return _bad(f"an evaluation run holds at most {MAX_ITEMS} items, got {len(items)}")
        limit = int(ctx.task.config.get("concurrency", DEFAULT_CONCURRENCY))
        results: list[EvalResult] = []
        pending: list[EvalResult] = []
        flush_lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        last_flush = [loop.time()]

        async def flush(force: bool = False) -> None:
            async with flush_lock:
                due = len(pending) >= FLUSH_EVERY or loop.time() - last_flush[0] >= FLUSH_S
                if pending and (force or due):
                    chunk = pending[:]
                    pending.clear()
                    last_flush[0] = loop.time()
                    await ctx.record_results(chunk)

        def score(index: int, item: dict[str, Any]) -> EvalResult:
            if item.get("output") is None:
                return EvalResult(index=index, item_id=_item_id(item), status=EvalItemStatus.SKIPPED,
                                  explanation="no output to score")  # fmt: skip
            try:
                got = evaluate(item)
            except Exception as exc:  # the evaluator's failure is this item's error, not the run's
                return EvalResult(index=index, item_id=_item_id(item), status=EvalItemStatus.ERROR,
                                  error=f"{type(exc).__name__}: {exc}"[:2000])  # fmt: skip
            return EvalResult(index=index, item_id=_item_id(item), status=EvalItemStatus.SUCCESS, score=got.score,
                              label=got.label, explanation=got.explanation)  # fmt: skip

        threaded = ctx.task.config.get("evaluator", {}).get("type") == "code"
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(items)):
            queue.put_nowait(index)

        def score_all(indices: list[int]) -> list[EvalResult]:
            done = []
            for index in indices:
                if ctx.stop.is_set():  # a plain flag read: safe from the evaluator's thread
                    break
                done.append(score(index, items[index]))
            return done

        async def lane() -> None:
            while not ctx.stop.is_set() and not queue.empty():
                step = max(1, min(CHUNK, queue.qsize() // lanes))
                indices = [queue.get_nowait() for _ in range(min(step, queue.qsize()))]
                done = await asyncio.to_thread(score_all, indices) if threaded else score_all(indices)
                for index in indices[len(done) :]:
                    queue.put_nowait(index)  # not scored before the stop: recorded as skipped below
                results.extend(done)
                pending.extend(done)
                await flush()
                if not threaded:
                    await asyncio.sleep(0)  # let a stop and other runs in

        lanes = max(1, min(limit, len(items)))
        await asyncio.gather(*(lane() for _ in range(lanes)))
        canceled = ctx.stop.is_set() and not queue.empty()
        while not queue.empty():
            index = queue.get_nowait()
            skipped = EvalResult(index=index, item_id=_item_id(items[index]), status=EvalItemStatus.SKIPPED,
                                 explanation="the run was stopped before this item")  # fmt: skip
            results.append(skipped)
            pending.append(skipped)
        await flush(force=True)
        counts = _count(results, len(items))
        await ctx.set_metadata({"evaluation": msgspec.to_builtins(counts)})
        if canceled:
            return Outcome(kind="canceled", output=msgspec.json.encode(counts))
        return Outcome(kind="completed", output=msgspec.json.encode(counts))


def _count(results: list[EvalResult], total: int) -> Counts:
    counts = Counts(total=total)
    scores = [r.score for r in results if r.status is EvalItemStatus.SUCCESS and r.score is not None]
    for r in results:
        if r.status is EvalItemStatus.SUCCESS:
            counts.success += 1
        elif r.status is EvalItemStatus.ERROR:
            counts.error += 1
        else:
            counts.skipped += 1
    counts.passed = sum(1 for s in scores if s >= 1.0)
    if scores:
        counts.pass_rate = counts.passed / len(scores)
        counts.average_score = sum(scores) / len(scores)
    return counts
