"""Evaluation runs on a real worker over real SQLite: datasets with versions, code / match / LLM-judge
evaluators, an application under test over HTTP, the concurrency limit, counts, and cancel midway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from runyard.errors import BadRequest, ConflictError, NotFoundError
from runyard.evals.spec import (
    CodeEvaluator,
    EvaluationSpec,
    Example,
    Item,
    ItemStatus,
    JudgeEvaluator,
    MatchEvaluator,
    Target,
)
from runyard.events import EventBus
from runyard.models import Run, RunStatus, TaskDef
from runyard.service import Service
from runyard.settings import Settings
from runyard.store.base import ListRunsParams
from runyard.store.sqlite import SqliteStore
from runyard.tasks import TaskRegistry
from runyard.worker import Worker
from tests.evals.servers import Recorder, application, judge, serve

S = "tests.evals.scorers_for_tests"


class Harness:
    def __init__(self, store: SqliteStore, service: Service, worker: Worker, judge: Recorder) -> None:
        self.store, self.service, self.worker, self.judge = store, service, worker, judge
        self.evals = service.evaluations

    async def until(self, run_id: str, timeout: float = 20) -> Run:
        return await self.service.wait(run_id, timeout)


@pytest.fixture
def judge_server() -> Iterator[Recorder]:
    with serve(judge) as rec:
        yield rec


@pytest.fixture
async def h(tmp_path: Path, judge_server: Recorder) -> AsyncIterator[Harness]:
    store = SqliteStore(tmp_path / "e.db")
    await store.open()
    judge_cfg = {"url": judge_server.url + "/v1", "model": "judge-1", "api_key": "sk-local"}
    tasks = {
        "evaluate": TaskDef(name="evaluate", kind="evaluation", config={"concurrency": 3, "judge": judge_cfg}),
        "plain": TaskDef(name="plain", kind="noop"),
        "evaluations": TaskDef(name="evaluations", kind="evaluation"),  # where suites run
    }
    service = Service(store, TaskRegistry(tasks), EventBus())
    settings = Settings(lease_s=2.0, poll_interval_s=0.05, worker_concurrency=4)
    worker = Worker(store, service.tasks, service.events, settings)
    await worker.start()
    yield Harness(store, service, worker, judge_server)
    await worker.stop(grace=0.5)
    await store.close()


async def test_a_dataset_scored_by_code_and_match_evaluators(h: Harness) -> None:
    data = await h.evals.create_dataset("capitals", [Example(id="fr", input="france", expected="PARIS")])
    data = await h.evals.append_examples(
        data.id, [Example(id="de", input="germany", expected="BERLIN"), Example(id="it", input="italy", expected="x")]
    )
    assert (data.version, data.example_count) == (2, 3)
    assert [e.id for _, e in await h.evals.examples(data.id, 1)] == ["fr"]
    spec = EvaluationSpec(
        items=[],
        evaluators=[
            CodeEvaluator(name="length", target=f"{S}:same_length"),
            MatchEvaluator(name="exact", mode="exact"),
            CodeEvaluator(name="upper", target=f"{S}:is_upper"),
        ],
    )
    outputs = {"fr": "PARIS", "de": "BERLIN", "it": "ROME"}
    run = await h.evals.start("evaluate", spec, dataset_id=data.id)
    # items of a dataset carry no output: the spec's items may; give them through a second run below
    done = await h.until(run.id)
    assert done.status is RunStatus.COMPLETED
    counts = await h.evals.counts(run.id)
    assert (counts.total, counts.skipped, counts.success) == (3, 3, 0)  # no output, no application

    items = [
        Item(id=e.id, input=e.input, expected=e.expected, output=outputs[e.id])
        for _, e in await h.evals.examples(data.id)
    ]
    run = await h.evals.start("evaluate", msgspec.structs.replace(spec, items=items))
    done = await h.until(run.id)
    assert done.status is RunStatus.COMPLETED, done.error
    summary = msgspec.json.decode(done.output or b"")
    assert summary | {"average_score": 0} == {
        "total": 3, "success": 3, "error": 0, "skipped": 0, "passed": 2, "failed": 1,
        "pass_rate": 2 / 3, "average_score": 0,
    }  # fmt: skip
    results = await h.evals.results(run.id)
    assert [r.item_id for r in results] == ["fr", "de", "it"]
    rome = results[2]
    assert rome.status is ItemStatus.SUCCESS and not rome.passed and rome.output == "ROME"
    assert [(s.evaluator, s.score, s.label) for s in rome.scores] == [
        ("length", 0.0, "differs"), ("exact", 0.0, "no_match"), ("upper", 1.0, "pass"),
    ]  # fmt: skip
    assert rome.scores[0].explanation == "'ROME'"
    counts = await h.evals.counts(run.id)
    assert counts.passed == 2 and counts.average_score == pytest.approx((1 + 1 + 1 / 3) / 3)


async def test_an_application_under_test_within_the_concurrency_limit(h: Harness) -> None:
    with serve(application, delay=0.15) as app:
        items = [Item(id=f"i{n}", input=f"word {n}", expected=f"WORD {n}") for n in range(12)]
        items.append(Item(id="bad", input="fail"))
        spec = EvaluationSpec(
            items=items,
            target=Target(url=app.url + "/answer", headers={"x-app": "t"}, output_field="answer"),
            evaluators=[MatchEvaluator(name="exact"), MatchEvaluator(name="re", mode="regex", value=r"^WORD \d+$")],
        )
        done = await h.until((await h.evals.start("evaluate", spec)).id)
    assert done.status is RunStatus.COMPLETED, done.error
    assert 2 <= app.max_in_flight <= 3  # the task's concurrency
    assert {b["item_id"] for b in app.bodies} == {i.id for i in items}
    assert app.bodies[0]["run_id"] == done.id and app.bodies[0]["path"] == "/answer"
    counts = await h.evals.counts(done.id)
    assert (counts.total, counts.success, counts.error, counts.passed) == (13, 12, 1, 12)
    bad = next(r for r in await h.evals.results(done.id) if r.item_id == "bad")
    assert bad.status is ItemStatus.ERROR and "500" in (bad.error or "")


async def test_an_llm_judge_over_the_chat_completions_protocol(h: Harness) -> None:
    template = "Judge the answer.\nOUTPUT: {output}\nEXPECTED: {expected}\nSay correct or incorrect."
    spec = EvaluationSpec(
        items=[Item(id="a", output="Paris", expected="Paris"), Item(id="b", output="Lyon", expected="Paris")],
        evaluators=[JudgeEvaluator(name="judge", template=template)],
    )
    done = await h.until((await h.evals.start("evaluate", spec)).id)
    assert done.status is RunStatus.COMPLETED, done.error
    scores = {r.item_id: r.scores[0] for r in await h.evals.results(done.id)}
    assert (scores["a"].label, scores["a"].score) == ("correct", 1.0)
    assert (scores["b"].label, scores["b"].score) == ("incorrect", 0.0)
    assert "compared" in (scores["b"].explanation or "")
    sent = sorted(h.judge.bodies, key=lambda b: b["messages"][0]["content"])
    assert [b["model"] for b in sent] == ["judge-1", "judge-1"] and sent[0]["auth"] == "Bearer sk-local"
    assert "OUTPUT: Lyon\nEXPECTED: Paris" in sent[0]["messages"][0]["content"]


async def test_failing_evaluators_and_items_without_output(h: Harness) -> None:
    spec = EvaluationSpec(
        items=[Item(id="x", input=1, output="a"), Item(id="y", input=None)],
        evaluators=[CodeEvaluator(name="half", target=f"{S}:half"), CodeEvaluator(name="boom", target=f"{S}:boom")],
    )
    done = await h.until((await h.evals.start("evaluate", spec)).id)
    assert done.status is RunStatus.COMPLETED
    x, y = await h.evals.results(done.id)
    assert x.status is ItemStatus.ERROR and "ValueError: cannot score 'a'" in (x.error or "")
    assert [s.score for s in x.scores] == [0.5]  # what scored before the failing evaluator
    assert y.status is ItemStatus.SKIPPED
    unloadable = EvaluationSpec(items=[Item(output=1)], evaluators=[CodeEvaluator(name="c", target=f"{S}:nope")])
    failed = await h.until((await h.evals.start("evaluate", unloadable)).id)
    assert failed.status is RunStatus.FAILED and "cannot load" in (failed.error or {})["message"]
    assert failed.attempt_count == 1  # a bad evaluation is not retried


async def test_cancel_midway_stops_the_items_and_keeps_what_was_scored(h: Harness) -> None:
    with serve(application, delay=0.2) as app:
        spec = EvaluationSpec(
            items=[Item(id=str(n), input=f"w{n}") for n in range(60)],
            target=Target(url=app.url, output_field="answer"),
            evaluators=[CodeEvaluator(name="upper", target=f"{S}:is_upper")],
            concurrency=2,
        )
        run = await h.evals.start("evaluate", spec)
        for _ in range(200):
            if (await h.evals.counts(run.id)).done >= 2:
                break
            await asyncio.sleep(0.05)
        await h.service.cancel(run.id)
        done = await h.until(run.id)
        await asyncio.sleep(0.5)
        calls = len(app.bodies)
        await asyncio.sleep(0.5)
        assert len(app.bodies) == calls  # no call after the run stopped
    assert done.status is RunStatus.CANCELED
    counts = await h.evals.counts(run.id)
    assert 2 <= counts.done < 60 and counts.total == 60 and counts.success == counts.done
    assert len(await h.evals.results(run.id)) == counts.done
    assert calls < 60


async def test_bad_evaluations_and_datasets_are_refused_with_nothing_created(h: Harness) -> None:
    one = EvaluationSpec(items=[Item(output=1)])
    with pytest.raises(BadRequest, match="not an evaluation task"):
        await h.evals.start("plain", one)
    with pytest.raises(NotFoundError):
        await h.evals.start("missing", one)
    with pytest.raises(BadRequest, match="at least one item"):
        await h.evals.start("evaluate", EvaluationSpec(items=[]))
    with pytest.raises(BadRequest, match="concurrency"):
        await h.evals.start("evaluate", msgspec.structs.replace(one, concurrency=0))
    twice = [MatchEvaluator(name="m"), MatchEvaluator(name="m")]
    with pytest.raises(BadRequest, match="unique"):
        await h.evals.start("evaluate", msgspec.structs.replace(one, evaluators=twice))
    for name, problem in [("", "empty"), ("x" * 201, "at most 200"), ("a\x00b", "NUL")]:
        with pytest.raises(BadRequest, match=problem):
            await h.evals.create_dataset(name, [])
        with pytest.raises(BadRequest, match=problem):
            await h.evals.start("evaluate", msgspec.structs.replace(one, evaluators=[MatchEvaluator(name=name)]))
    with pytest.raises(BadRequest, match="NUL"):
        await h.evals.create_dataset("ok", [Example(id="\x00")])
    page = await h.service.list_runs(ListRunsParams())
    assert page.runs == []
    made = await h.evals.create_dataset("données ✓", [Example(id="é", input="ünï")])
    assert made.name == "données ✓"
    with pytest.raises(ConflictError):
        await h.evals.create_dataset("données ✓", [])
    with pytest.raises(NotFoundError, match="versions 1 to 1"):
        await h.evals.examples(made.id, 2)
    with pytest.raises(NotFoundError):
        await h.evals.append_examples("nope", [])


async def test_a_result_recorded_twice_counts_once(h: Harness) -> None:
    from runyard.evals.spec import ItemResult, Score

    result = ItemResult(index=0, status=ItemStatus.SUCCESS, passed=True, scores=[Score(evaluator="e", score=1.0)])
    await h.store.record_eval_results("r1", 2, [result])
    await h.store.record_eval_results("r1", 2, [result, msgspec.structs.replace(result, index=1, passed=False)])
    counts = await h.store.eval_counts("r1")
    assert counts is not None and (counts.total, counts.success, counts.passed, counts.scored) == (2, 2, 1, 2)


def test_evaluation_tasks_from_the_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runyard.settings import ConfigError, load_settings

    monkeypatch.setenv("JUDGE_KEY", "sk-from-env")
    path = tmp_path / "runyard.toml"
    path.write_text(
        '[tasks.grade]\nevaluation = { concurrency = 4, judge = { url = "http://127.0.0.1:9/v1", model = "m",'
        ' api_key_env = "JUDGE_KEY", timeout = "20s" } }\n[tasks.quick]\nevaluation = true\n'
    )
    tasks = load_settings(path).tasks
    assert tasks["grade"].kind == "evaluation" and tasks["grade"].config == {
        "concurrency": 4, "judge": {"url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "sk-from-env",
                                    "timeout_s": 20.0},
    }  # fmt: skip
    assert tasks["quick"].config == {"concurrency": 8}
    for bad in ["evaluation = { concurrency = 0 }", "evaluation = { judge = { model = 'x' } }", "evaluation = 3",
                "evaluation = true\nrun = 'echo'"]:  # fmt: skip
        path.write_text(f"[tasks.bad]\n{bad}\n")
        with pytest.raises(ConfigError, match=r"tasks\.bad"):
            load_settings(path)


@pytest.mark.slow
def test_an_evaluation_in_a_worker_process_records_through_the_server(live_server: Any, tmp_path: Path) -> None:
    srv = live_server("[tasks.grade]\nevaluation = { concurrency = 2 }\n", processes=1)
    spec = EvaluationSpec(
        items=[Item(id=str(n), output="YES" if n % 2 else "no") for n in range(10)],
        evaluators=[CodeEvaluator(name="upper", target=f"{S}:is_upper")],
    )
    with srv.client() as c:
        response = c.post("/v1/tasks/grade/trigger", json={"payload": msgspec.to_builtins(spec)})
        assert response.status_code == 201, response.text
        run_id = response.json()["run"]["id"]
    run = srv.wait_for(run_id, lambda r: r["status"] == "completed")
    assert run["output"]["passed"] == 5 and run["output"]["total"] == 10

    assert run["metadata"]["evaluation"]["success"] == 10

    async def stored() -> tuple[Any, list[Any]]:
        store = SqliteStore(tmp_path / "db-0.sqlite")  # the server's database, read beside it
        await store.open()
        try:
            return await store.eval_counts(run_id), await store.eval_results(run_id)
        finally:
            await store.close()

    counts, results = asyncio.run(stored())
    assert (counts.success, counts.passed) == (10, 5) and [r.passed for r in results] == [n % 2 == 1 for n in range(10)]


async def test_a_dataset_with_recorded_outputs_is_scored_as_it_is(h: Harness) -> None:
    data = await h.evals.create_dataset("recorded", [Example(id="a", output="OK"), Example(id="b", output="no")])
    spec = EvaluationSpec(items=[], evaluators=[CodeEvaluator(name="upper", target=f"{S}:is_upper")])
    done = await h.until((await h.evals.start("evaluate", spec, dataset_id=data.id)).id)
    assert [(r.item_id, r.output, r.passed) for r in await h.evals.results(done.id)] == [
        ("a", "OK", True), ("b", "no", False),
    ]  # fmt: skip


async def test_variables_reach_match_modes_and_templates(h: Harness) -> None:
    """Columns of an object input, dotted paths and the output feed every match mode and a judge's template
    ({name} and {{name}})."""
    items = [
        Item(id="a", input={"q": "capital of France?", "ref": {"city": "Paris"}}, output='{"city": "Paris"}'),
        Item(id="b", input={"q": "capital of Italy?", "ref": {"city": "Rome"}}, output="milan, probably"),
    ]
    evaluators = [
        MatchEvaluator(name="json", mode="json"),
        MatchEvaluator(name="any", mode="contains_any", value=["paris", "rome"], case_sensitive=False),
        MatchEvaluator(name="all", mode="contains_all", value=["Paris", "city"]),
        MatchEvaluator(name="q", mode="regex", subject="q", value="France"),
        MatchEvaluator(name="ref", mode="exact", subject="ref.city", value="Paris"),
        JudgeEvaluator(name="j", template="{{ q }} / {ref.city} / {output} / {missing}", choices={"correct": 0.9}),
    ]
    run = await h.evals.start("evaluate", EvaluationSpec(items=items, evaluators=evaluators))
    assert (await h.until(run.id)).status is RunStatus.COMPLETED
    scores = {r.item_id: {s.evaluator: s.score for s in r.scores} for r in await h.evals.results(run.id)}
    assert scores["a"] == {"json": 1.0, "any": 1.0, "all": 1.0, "q": 1.0, "ref": 1.0, "j": 0.9}
    assert {k: v for k, v in scores["b"].items() if k != "j"} == {"json": 0.0, "any": 0.0, "all": 0.0, "q": 0.0,
                                                                   "ref": 0.0}  # fmt: skip
    prompts = sorted(b["messages"][0]["content"] for b in h.judge.bodies)
    assert prompts[0] == 'capital of France? / Paris / {"city": "Paris"} / {missing}'

    missing = EvaluationSpec(items=items[:1], evaluators=[MatchEvaluator(name="m", subject="nope", value=1)])
    run = await h.evals.start("evaluate", missing)
    await h.until(run.id)
    [result] = await h.evals.results(run.id)
    assert result.status is ItemStatus.ERROR and "'nope'" in (result.error or "")


async def test_generated_outputs_and_a_runs_outputs_evaluated_again(h: Harness) -> None:
    """Outputs generated from messages by the task's chat endpoint; a finished run's outputs are items of
    another run; examples picked by id or count; an empty evaluation when asked for."""
    from runyard.evals.spec import Generation, Message

    data = await h.evals.create_dataset("qs", [Example(id=f"e{n}", input={"q": f"question {n}"}) for n in range(4)])
    spec = EvaluationSpec(items=[], generate=Generation(messages=[Message(role="user", content="say {q}")],
                                                        syntax="f_string", model="gen-1"))  # fmt: skip
    run = await h.evals.start("evaluate", spec, dataset_id=data.id, example_ids=["e1", "e3"])
    assert (await h.until(run.id)).status is RunStatus.COMPLETED
    generated = [b for b in h.judge.bodies if b["model"] == "gen-1"]
    assert sorted(b["messages"][0]["content"] for b in generated) == ["say question 1", "say question 3"]
    outputs = await h.evals.outputs(run.id)
    assert [i.id for i in outputs] == ["e1", "e3"] and all(i.output is not msgspec.UNSET for i in outputs)
    again = await h.evals.start("evaluate", EvaluationSpec(items=outputs, evaluators=[MatchEvaluator(
        name="said", mode="regex", value=".")]))  # fmt: skip
    assert (await h.until(again.id)).status is RunStatus.COMPLETED
    assert (await h.evals.counts(again.id)).success == 2
    first_two = await h.evals.start("evaluate", EvaluationSpec(items=[]), dataset_id=data.id, max_examples=2)
    assert [i.id for i in msgspec.json.decode(first_two.payload, type=EvaluationSpec).items] == ["e0", "e1"]
    with pytest.raises(BadRequest, match="no example 'e9'"):
        await h.evals.start("evaluate", EvaluationSpec(items=[]), dataset_id=data.id, example_ids=["e9"])
    with pytest.raises(BadRequest, match="at least one item"):
        await h.evals.start("evaluate", EvaluationSpec(items=[]))
    empty = await h.evals.start("evaluate", EvaluationSpec(items=[]), allow_empty=True, metadata={"why": "no data"})
    done = await h.until(empty.id)
    assert done.status is RunStatus.COMPLETED and (done.metadata or {})["why"] == "no data"
    assert (done.metadata or {})["evaluation"]["total"] == 0


async def test_named_evaluators_keep_every_version(h: Harness) -> None:
    from runyard.evals.spec import EvaluatorVersion

    created = await h.evals.create_evaluator("exact", "matches exactly", "code")
    assert created.version == 0 and created.current is None
    with pytest.raises(ConflictError):
        await h.evals.create_evaluator("exact")
    v1 = await h.evals.add_evaluator_version(created.id, EvaluatorVersion(
        version=0, evaluator=MatchEvaluator(name="m", value="a"), attributes={"k": 1}, message="first"))  # fmt: skip
    v2 = await h.evals.add_evaluator_version(created.id, EvaluatorVersion(
        version=0, evaluator=MatchEvaluator(name="m", value="b"), message="second"))  # fmt: skip
    assert (v1.version, v2.version) == (1, 2) and [v.message for v in v2.versions] == ["first", "second"]
    assert v2.current is not None and isinstance(v2.current.evaluator, MatchEvaluator)
    assert v2.current.evaluator.value == "b" and v2.versions[0].attributes == {"k": 1}
    stale = msgspec.structs.replace(v2, description="changed")
    with pytest.raises(ConflictError, match="changed meanwhile"):
        await h.evals.update_evaluator(stale, expected=1)
    await h.evals.create_evaluator("other")
    page, total = await h.evals.evaluators(limit=1)
    assert total == 2 and [e.name for e in page] == ["exact"]
    await h.evals.delete_evaluator(created.id)
    with pytest.raises(NotFoundError):
        await h.evals.evaluator(created.id)
    with pytest.raises(NotFoundError):
        await h.evals.delete_evaluator(created.id)


async def test_answers_that_arrive_as_traces_after_an_empty_reply(h: Harness) -> None:
    """A target whose reply is empty: each item waits for a span of its input in the answers project; one
    that never comes is an error after the target's timeout."""
    from runyard.evals.spec import Span

    with serve(lambda path, body: (200, None)) as app:
        target = Target(url=app.url, answers_from="answers:{run_id}", timeout_s=1.0)
        items = [Item(id="a", input="hello", expected="HELLO"), Item(id="b", input="silent", expected="x")]
        spec = EvaluationSpec(items=items, evaluators=[MatchEvaluator(name="m")], target=target)
        run = await h.evals.start("evaluate", spec)
        await h.evals.ingest_spans([Span(project=f"answers:{run.id}", trace_id="ab", span_id="01", name="trace",
                                         start_us=1, end_us=1, attributes={"input.value": "hello",
                                                                           "output.value": "HELLO"})])  # fmt: skip
        assert (await h.until(run.id)).status is RunStatus.COMPLETED
    results = {r.item_id: r for r in await h.evals.results(run.id)}
    assert results["a"].status is ItemStatus.SUCCESS and results["a"].output == "HELLO" and results["a"].passed
    assert results["b"].status is ItemStatus.ERROR and "no trace answered" in (results["b"].error or "")


async def test_a_scheduled_suite_runs_as_it_was_when_scheduled(h: Harness) -> None:
    """A suite on a schedule: each tick's run carries the suite's payload and tag; a tick fires it."""
    from runyard.evals.apps import Application
    from runyard.evals.spec import Suite

    with serve(application) as app:
        h.evals.applications = {"bot": Application(id="bot", title="Bot", webhook_url=app.url)}
        suite = await h.evals.save_suite(Suite(id="", scope="bot", name="s", inputs=["hi there"],
                                               evaluators=[MatchEvaluator(name="m", mode="regex", value="HI")]),
                                         create=True)  # fmt: skip
        schedule = await h.evals.schedule_suite(suite, "@daily")
        assert schedule is not None and schedule.tags == [f"suite:{suite.id}"] and schedule.task == "evaluations"
        assert (await h.evals.suite_schedule(suite.id)) is not None
        assert schedule.next_run_at is not None
        made = await h.service.schedules.fire_due(now=schedule.next_run_at)
        assert len(made) == 1 and made[0].run.tags == [f"suite:{suite.id}"]
        spec = msgspec.json.decode(made[0].run.payload, type=EvaluationSpec)
        assert [i.input for i in spec.items] == ["hi there"] and spec.target is not None
        assert (await h.evals.suite_runs([suite.id]))[0].id == made[0].run.id
        await h.evals.schedule_suite(suite, None)
        assert await h.evals.suite_schedule(suite.id) is None


async def test_replacing_examples_makes_a_version_or_nothing(h: Harness) -> None:
    data = await h.evals.create_dataset("qa", [Example(id="a", input="1"), Example(id="b", input="2")])
    v2 = await h.evals.replace_examples(data.id, [Example(id="b", input="two")])
    assert (v2.version, v2.example_count) == (2, 2)
    assert [e.input for _, e in await h.evals.examples(data.id)] == ["1", "two"]
    assert [e.input for _, e in await h.evals.examples(data.id, 1)] == ["1", "2"]  # version 1 unchanged
    with pytest.raises(BadRequest, match="no example 'z'"):
        await h.evals.replace_examples(data.id, [Example(id="a", input="x"), Example(id="z", input="y")])
    assert (await h.evals.dataset(data.id)).version == 2  # all or nothing: no version 3, "a" unchanged
    assert [e.input for _, e in await h.evals.examples(data.id)] == ["1", "two"]
    with pytest.raises(NotFoundError):
        await h.evals.replace_examples("nope", [Example(id="a")])
    await h.evals.delete_dataset(data.id)
    with pytest.raises(NotFoundError):
        await h.evals.dataset(data.id)
    assert await h.store.dataset_examples(data.id, 1) == []  # every version's rows are gone
    with pytest.raises(NotFoundError):
        await h.evals.delete_dataset(data.id)
