"""The evaluation executor: an evaluation run's items fan out over a few lanes (the concurrency limit); each
item gets its output (given, or from the application under test) and is scored by every evaluator. Results
are recorded in batches through the context's item sink, which also keeps the run's counts; a stop
(cancel, timeout) ends the lanes between items and interrupts calls in flight."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec

from runyard.durations import MAX_TIME_US
from runyard.evals.apps import sign
from runyard.evals.evaluators import EvaluatorError, JudgeConfig, Scorer, chat, render, scorers
from runyard.evals.spec import (
    MAX_CONCURRENCY,
    Counts,
    EvaluationSpec,
    Item,
    ItemResult,
    ItemStatus,
    Score,
    Target,
)
from runyard.executors.base import ExecutionContext, Executor, Outcome, SpanSource, no_spans
from runyard.executors.http import client

DEFAULT_CONCURRENCY = 8
FLUSH_ITEMS = 256  # results recorded per store call
FLUSH_SECONDS = 0.5  # and at least this often while a run is going


def _failed(message: str) -> Outcome:
    return Outcome(kind="failed", error={"message": message, "name": "EvaluationError"}, retryable=False)


ANSWER_POLL_S = 0.1
NO_ANSWER: tuple[Any, ...] = (None, "", {})  # replies that carry no answer


async def wait_for_answer(target: Target, run_id: str, item: Item, find: SpanSource, single: bool) -> Any:
    """The answer an application sent as a trace (see Target.answers_from)."""
    assert target.answers_from is not None
    project = target.answers_from.replace("{run_id}", run_id)
    wanted = item.input if isinstance(item.input, str) else msgspec.json.encode(item.input).decode()
    deadline = time.monotonic() + target.timeout_s
    while True:
        for span in await find(project, 0, MAX_TIME_US, 1000):
            if "output.value" in span.attributes and (single or span.attributes.get("input.value") == wanted):
                return span.attributes["output.value"]
        if time.monotonic() >= deadline:
            raise EvaluatorError(f"no answer: the reply was empty and no trace answered within {target.timeout_s:g} s")
        await asyncio.sleep(ANSWER_POLL_S)


async def call_target(
    target: Target, run_id: str, item: Item, find: SpanSource = no_spans, single: bool = False
) -> Any:
    values = {"run_id": run_id, "item_id": item.id, "input": item.input, "metadata": item.metadata}
    body: dict[str, Any] = {}
    for name, value in values.items():
        wire = target.fields.get(name, name)
        if wire and (value is not None or name != "metadata"):
            body[wire] = value
    body.update(target.static)
    raw = msgspec.json.encode(body)
    headers = {"content-type": "application/json", **target.headers}
    if target.secret:
        timestamp = str(int(time.time() * 1000))
        headers[target.timestamp_header] = timestamp
        headers[target.signature_header] = sign(target.secret, timestamp, raw)
    response = await client().post(target.url, content=raw, headers=headers, timeout=target.timeout_s)
    if not response.is_success:
        raise EvaluatorError(f"the application answered {response.status_code}: {response.text[:200]}")
    try:
        reply: Any = response.json() if response.content else None
    except ValueError:
        reply = response.text
    if target.answers_from is not None and reply in NO_ANSWER:
        return await wait_for_answer(target, run_id, item, find, single)
    if target.output_field is not None:
        if not isinstance(reply, dict) or target.output_field not in reply:
            raise EvaluatorError(f"the application's reply has no field {target.output_field!r}")
        reply = reply[target.output_field]
    return reply


async def generate(spec: EvaluationSpec, judge: JudgeConfig | None, item: Item) -> Any:
    assert spec.generate is not None
    if judge is None:
        raise EvaluatorError("this evaluation task has no chat-completions URL configured (judge)")
    syntax = spec.generate.syntax
    messages = [{"role": m.role, "content": render(m.content, item, None, syntax)} for m in spec.generate.messages]
    return await chat(judge, client, spec.generate.model, messages)


async def evaluate_item(
    index: int,
    item: Item,
    spec: EvaluationSpec,
    calls: list[Scorer],
    run_id: str,
    judge: JudgeConfig | None = None,
    find: SpanSource = no_spans,
) -> ItemResult:
    if item.output is not msgspec.UNSET:
        output = item.output
    elif spec.target is not None or spec.generate is not None:
        try:
            if spec.target is not None:
                output = await call_target(spec.target, run_id, item, find, len(spec.items) == 1)
            else:
                output = await generate(spec, judge, item)
        except Exception as exc:
            message = str(exc) if isinstance(exc, EvaluatorError) else f"the application call failed: {exc!r}"
            return ItemResult(index=index, item_id=item.id, status=ItemStatus.ERROR, error=message)
    else:
        return ItemResult(index=index, item_id=item.id, status=ItemStatus.SKIPPED, error="no output to evaluate")
    scores: list[Score] = []
    for call in calls:
        try:
            scores.append(await call(item, output))
        except EvaluatorError as exc:
            return ItemResult(
                index=index, item_id=item.id, status=ItemStatus.ERROR, output=output, scores=scores, error=str(exc)
            )
    passed = all(s.score is None or s.score >= spec.pass_threshold for s in scores)
    return ItemResult(
        index=index, item_id=item.id, status=ItemStatus.SUCCESS, passed=passed, output=output, scores=scores
    )


def summary(counts: Counts) -> dict[str, Any]:
    finished = counts.success
    return {
        "total": counts.total, "success": counts.success, "error": counts.error, "skipped": counts.skipped,
        "passed": counts.passed, "failed": finished - counts.passed,
        "pass_rate": counts.passed / finished if finished else None, "average_score": counts.average_score,
    }  # fmt: skip


def tally(counts: Counts, results: list[ItemResult]) -> None:
    for r in results:
        if r.status is ItemStatus.SUCCESS:
            counts.success += 1
            counts.passed += r.passed
            numeric = [s.score for s in r.scores if s.score is not None]
            if numeric:
                counts.score_sum += sum(numeric) / len(numeric)
                counts.scored += 1
        elif r.status is ItemStatus.ERROR:
            counts.error += 1
        else:
            counts.skipped += 1


class EvaluationExecutor(Executor):
    kind = "evaluation"

    async def execute(self, ctx: ExecutionContext) -> Outcome:
        try:
            spec = msgspec.json.decode(ctx.run.payload, type=EvaluationSpec)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return _failed(f"the payload is not an evaluation: {exc}")
        config: dict[str, Any] = ctx.task.config
        try:
            judge = msgspec.convert(config["judge"], JudgeConfig) if config.get("judge") else None
            calls = scorers(spec.evaluators, judge, client)
        except (EvaluatorError, msgspec.ValidationError) as exc:
            return _failed(str(exc))
        lanes = max(1, min(MAX_CONCURRENCY, spec.concurrency or int(config.get("concurrency", DEFAULT_CONCURRENCY))))
        counts = Counts(total=len(spec.items))
        buffer: list[ItemResult] = []
        lock = asyncio.Lock()

        async def flush() -> None:
            async with lock:
                batch = buffer[:]
                buffer.clear()
                if batch or counts.done == 0:
                    await ctx.record_items(counts.total, batch)

        todo = iter(enumerate(spec.items))

        async def lane() -> None:
            for n, (index, item) in enumerate(todo):
                result = await evaluate_item(index, item, spec, calls, ctx.run.id, judge, ctx.find_spans)
                buffer.append(result)
                tally(counts, [result])
                if len(buffer) >= FLUSH_ITEMS:
                    await flush()
                elif n % 64 == 63:
                    await asyncio.sleep(0)  # let the loop see a stop between quick items

        async def ticker() -> None:
            while True:
                await asyncio.sleep(FLUSH_SECONDS)
                await flush()

        await flush()  # the total is known before the first item ends
        await ctx.log("system", f"evaluating {counts.total} items in {lanes} lanes with {len(calls)} evaluators")
        work = [asyncio.ensure_future(lane()) for _ in range(min(lanes, max(1, counts.total)))]
        tick = asyncio.ensure_future(ticker())
        stop = asyncio.ensure_future(ctx.stop.wait())
        try:
            await asyncio.wait([*work, stop], return_when=asyncio.FIRST_COMPLETED)
            while not stop.done() and not all(w.done() for w in work):
                await asyncio.wait([*work, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*work, tick, stop):
                task.cancel()
            for task in (*work, tick):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        failures = [w.exception() for w in work if w.done() and not w.cancelled() and w.exception()]
        await flush()
        await ctx.set_metadata({**(ctx.run.metadata or {}), "evaluation": summary(counts)})
        if ctx.stop.is_set() and counts.done < counts.total:
            await ctx.log("system", f"stopped after {counts.done} of {counts.total} items")
            return Outcome(kind="canceled", exit_code=-1)
        if failures:
            return _failed(f"an evaluation lane failed: {failures[0]!r}")
        return Outcome(kind="completed", output=msgspec.json.encode(summary(counts)), exit_code=0)
