"""Evaluation throughput: a code evaluator over a 10k-example dataset through the engine (store, worker,
evaluation executor, per-item results and counts in SQLite), against calling the same function in a plain
loop. Writes bench/results/evals.md."""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from runyard.evals.spec import CodeEvaluator, EvaluationSpec, Example
from runyard.events import EventBus
from runyard.models import RunStatus, TaskDef
from runyard.service import Service
from runyard.settings import Settings
from runyard.store.sqlite import SqliteStore
from runyard.tasks import TaskRegistry, load_callable
from runyard.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
TARGET = "bench.bench_tasks:exact_score"


def examples(n: int) -> list[Example]:
    return [Example(id=f"e{i}", input=f"question {i}", expected=f"answer {i}", output=f"answer {i - i % 7}")
            for i in range(n)]  # fmt: skip


def plain_loop(data: list[Example]) -> float:
    """Seconds per item calling the evaluator directly."""
    exact_score = load_callable(TARGET)
    start = time.perf_counter()
    for e in data:
        exact_score(output=e.output, expected=e.expected)
    return (time.perf_counter() - start) / len(data)


async def engine(data: list[Example], concurrency: int) -> tuple[float, float, int]:
    """(seconds per item start to finish, seconds per item inside the executor, items passed)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        await store.open()
        task = TaskDef(name="evaluate", kind="evaluation", config={"concurrency": concurrency})
        service = Service(store, TaskRegistry({"evaluate": task}), EventBus())
        worker = Worker(store, service.tasks, service.events, Settings(worker_concurrency=4))
        await worker.start()
        try:
            dataset = await service.evaluations.create_dataset("bench", data)
            spec = EvaluationSpec(items=[], evaluators=[CodeEvaluator(name="exact", target=TARGET)])
            start = time.perf_counter()
            run = await service.evaluations.start("evaluate", spec, dataset_id=dataset.id)
            done = await service.wait(run.id, 600)
            total = time.perf_counter() - start
            assert done.status is RunStatus.COMPLETED, done.error
            counts = await service.evaluations.counts(run.id)
            assert counts.success == len(data), counts
            inside = ((done.ended_at or 0) - (done.started_at or 0)) / 1e6
            return total / len(data), inside / len(data), counts.passed
        finally:
            await worker.stop(grace=1)
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "evals.md")
    args = parser.parse_args()
    data = examples(args.items)
    plain = statistics.median(plain_loop(data) for _ in range(args.repeat))
    rows = []
    for concurrency in (1, 8):
        runs = [asyncio.run(engine(data, concurrency)) for _ in range(args.repeat)]
        total = statistics.median(r[0] for r in runs)
        inside = statistics.median(r[1] for r in runs)
        rows.append((concurrency, total, inside, runs[0][2]))
    lines = [
        "# Evaluation throughput",
        "",
        f"A code evaluator (`bench.bench_tasks:exact_score`) over a {args.items:,}-example dataset, median of "
        f"{args.repeat}; Python {platform.python_version()} on {platform.machine()}, SQLite store, one in-process "
        "worker. *Start to finish* runs from `evaluations.start` (which reads the dataset and commits the run) "
        "to the committed end of the run; *executor* is the run's started-to-ended time (scoring, and recording "
        "every item's result and the counts in batches of 256). The ratio is the engine's time per item over "
        "the plain loop's.",
        "",
        f"Plain loop: {plain * 1e6:.2f} µs per item ({1 / plain:,.0f} items/s).",
        "",
        "| lanes | start to finish items/s | µs/item | executor items/s | µs/item | ratio to plain loop (executor) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for concurrency, total, inside, _ in rows:
        lines.append(
            f"| {concurrency} | {1 / total:,.0f} | {total * 1e6:.1f} | {1 / inside:,.0f} | {inside * 1e6:.1f} "
            f"| {inside / plain:,.0f}x |"
        )
    lines += ["", f"Items passed per run: {rows[0][3]:,} of {args.items:,} (the expected share, 1 in 7)."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
