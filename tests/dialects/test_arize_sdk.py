"""The Arize AX v2 dialect driven by the official `arize` Python client: a dataset, evaluators, an experiment
run by a model (a local server speaking the OpenAI chat-completions protocol), evaluation tasks over it,
task runs polled to a terminal status, cancelled, and listed. The client reads every response with its own
models, so each call passing is a check of the wire shape (UPPERCASE enums, 201 on create and trigger)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from arize import ArizeClient
from arize._generated.api_client.models.span_evaluator_input import SpanEvaluatorInput
from arize.experiments.types import ExperimentTaskFieldNames
from arize.tasks.types import TaskEvaluatorInput

from tests.evals.servers import Recorder, serve

SPACE = "U3BhY2U6MQ=="  # base64("Space:1")
PROJECT = "UHJvamVjdDo3"  # base64("Project:7")
FIELDS = ExperimentTaskFieldNames(output="output", example_id="example_id")


def llm_answer(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Generation: the capital the question asks for, from a tiny table; a judge: 'correct' when the reply it
    is shown names Paris, else 'incorrect'."""
    text = body["messages"][-1]["content"]
    if text.startswith("Judge"):
        word = "correct" if "Paris" in text else "incorrect"
    else:
        word = {"France": "Paris", "Italy": "Rome"}.get(text.rsplit(" ", 1)[-1].rstrip("?"), "Berlin")
    return 200, {"choices": [{"message": {"role": "assistant", "content": word}}]}


@pytest.fixture
def llm() -> Iterator[Recorder]:
    with serve(llm_answer) as rec:
        yield rec


@pytest.fixture
def arize(live_server: Any, llm: Recorder) -> tuple[Any, ArizeClient]:
    srv = live_server(f'[tasks.evaluations]\nevaluation = {{ judge = {{ url = "{llm.url}", model = "m1" }} }}\n')
    host, port = srv.url.removeprefix("http://").split(":")
    return srv, ArizeClient(api_key=srv.api_key, api_host=host, api_scheme="http", api_port=int(port))


def word(value: Any) -> str:
    """An enum the client parsed (a str or an Enum, depending on the model)."""
    return str(getattr(value, "value", value))


def attach(evaluator_id: str, **kw: Any) -> TaskEvaluatorInput:
    return TaskEvaluatorInput(SpanEvaluatorInput(evaluator_id=evaluator_id, **kw))


def _dataset(client: ArizeClient) -> Any:
    examples = [
        {"id": "ex-fr", "question": "What is the capital of France?", "answer": "Paris"},
        {"id": "ex-it", "question": "What is the capital of Italy?", "answer": "Rome"},
        {"id": "ex-es", "question": "What is the capital of Spain?", "answer": "Madrid"},
    ]
    return client.datasets.create(name="capitals", space=SPACE, examples=examples, force_http=True)


def _exact_match(client: ArizeClient) -> Any:
    config = {"type": "MANAGED", "name": "exact", "managed_evaluator": "EXACT_MATCH", "variables": ["output", "answer"]}
    return client.evaluators.create_code_evaluator(
        name="exact answer", space=SPACE, commit_message="first", code_config=config
    )


def test_experiment_task_runs_a_model_over_the_dataset_and_scores_it(arize: tuple[Any, ArizeClient], llm: Recorder):
    _, client = arize
    dataset = _dataset(client)
    assert dataset.id and dataset.versions and dataset.versions[0].id
    evaluator = _exact_match(client)
    assert word(evaluator.type) == "CODE" and evaluator.version.id
    assert [d.id for d in client.datasets.list().datasets] == [dataset.id]
    changes = [{"id": "ex-es", "answer": "Berlin"}, {"id": "ex-none", "answer": "x"}]  # an unknown id is ignored
    fixed = client.datasets.update_examples(dataset=dataset.id, examples=changes)
    assert fixed.example_ids == ["ex-es"] and fixed.dataset_version_id != dataset.versions[0].id
    rows = {e.id: e.additional_properties for e in client.datasets.list_examples(dataset=dataset.id).examples}
    assert rows["ex-es"]["answer"] == "Berlin" and rows["ex-es"]["question"] == "What is the capital of Spain?"
    first = client.datasets.list_examples(dataset=dataset.id, dataset_version_id=dataset.versions[0].id).examples
    assert {e.id: e.additional_properties["answer"] for e in first}["ex-es"] == "Madrid"  # the old version stays
    assert [e.id for e in client.evaluators.list().evaluators] == [evaluator.id]
    # an evaluation task over the dataset needs an experiment: one recorded by the client first
    recorded = client.experiments.create(
        name="recorded", dataset=dataset.id, force_http=True,
        experiment_runs=[{"example_id": "ex-fr", "output": "Paris"}, {"example_id": "ex-it", "output": "Milan"}],
        task_fields=FIELDS,
    )  # fmt: skip
    eval_task = client.tasks.create_evaluation_task(
        name="exactness", task_type="CODE_EVALUATION", dataset=dataset.id, experiment_ids=[recorded.id],
        evaluators=[attach(evaluator.id)],
    )  # fmt: skip
    assert word(eval_task.type) == "CODE_EVALUATION" and eval_task.dataset_id == dataset.id
    experiment_task = client.tasks.create_run_experiment_task(
        name="capitals by m2", dataset=dataset.id,
        run_configuration={"experiment_type": "LLM_GENERATION", "ai_integration_id": "QUk6MQ==", "model_name": "m2",
                           "messages": [{"role": "USER", "content": "{question}"}],
                           "input_variable_format": "F_STRING"},
    )  # fmt: skip
    assert client.tasks.get(task=experiment_task.id).run_configuration is not None

    run = client.tasks.trigger_run(
        task=experiment_task.id, experiment_name="m2 baseline", evaluation_task_ids=[eval_task.id]
    )
    assert run is not None and word(run.status) in ("PENDING", "RUNNING") and run.experiment_id
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.1, timeout=30)
    assert word(done.status) == "COMPLETED", done
    assert (done.num_successes, done.num_errors, done.num_skipped) == (3, 0, 0)
    assert done.data_start_time is None and done.run_started_at and done.run_finished_at

    generated = [b for b in llm.bodies if b["model"] == "m2"]
    assert sorted(b["messages"][0]["content"] for b in generated) == [
        "What is the capital of France?", "What is the capital of Italy?", "What is the capital of Spain?",
    ]  # fmt: skip
    runs = client.experiments.list_runs(experiment=done.experiment_id, limit=10)
    by_example = {r.example_id: r for r in runs.experiment_runs}
    assert {k: r.output for k, r in by_example.items()} == {"ex-fr": "Paris", "ex-it": "Rome", "ex-es": "Berlin"}
    scores = {k: r.additional_properties["eval.exact.score"] for k, r in by_example.items()}
    assert scores == {"ex-fr": 1.0, "ex-it": 1.0, "ex-es": 1.0}  # Berlin is the (updated) answer for Spain

    # the evaluation task scores the recorded experiment's outputs
    evaluated = client.tasks.wait_for_run(
        run_id=client.tasks.trigger_run(task=eval_task.id).id, poll_interval=0.1, timeout=30
    )
    assert word(evaluated.status) == "COMPLETED" and evaluated.num_successes == 2
    assert evaluated.experiment_id is None

    listed = client.tasks.list_runs(task=experiment_task.id)
    assert [r.id for r in listed.task_runs] == [run.id]
    assert {e.id for e in client.experiments.list(dataset=dataset.id).experiments} == {
        recorded.id, done.experiment_id,
    }  # fmt: skip


def test_a_template_evaluator_judges_with_the_configured_model(arize: tuple[Any, ArizeClient], llm: Recorder):
    _, client = arize
    dataset = _dataset(client)
    judge = client.evaluators.create_template_evaluator(
        name="judge", space=SPACE, commit_message="v1",
        template_config={"name": "correctness", "template": "Judge: {{question}} -> {{output}}",
                         "classification_choices": {"correct": 1, "incorrect": 0},
                         "include_explanations": False, "use_function_calling": False,
                         "llm_config": {"ai_integration_id": "QUk6MQ==", "model_name": "judge-model",
                                        "invocation_parameters": {}, "provider_parameters": {}}},
    )  # fmt: skip
    recorded = client.experiments.create(
        name="answers", dataset=dataset.id, force_http=True,
        experiment_runs=[{"example_id": "ex-fr", "output": "Paris"}, {"example_id": "ex-it", "output": "Paris"},
                         {"example_id": "ex-es", "output": "Lisbon"}],
        task_fields=FIELDS,
    )  # fmt: skip
    task = client.tasks.create_evaluation_task(
        name="judged", task_type="TEMPLATE_EVALUATION", dataset=dataset.id, experiment_ids=[recorded.id],
        evaluators=[attach(judge.id)],
    )  # fmt: skip
    done = client.tasks.wait_for_run(run_id=client.tasks.trigger_run(task=task.id).id, poll_interval=0.1, timeout=30)
    assert word(done.status) == "COMPLETED" and done.num_successes == 3
    prompts = sorted(b["messages"][0]["content"] for b in llm.bodies if b["model"] == "judge-model")
    assert prompts == [
        "Judge: What is the capital of France? -> Paris", "Judge: What is the capital of Italy? -> Paris",
        "Judge: What is the capital of Spain? -> Lisbon",
    ]  # fmt: skip


def test_project_task_runs_end_cancelled_without_spans_and_runs_can_be_cancelled(arize: tuple[Any, ArizeClient]):
    _, client = arize
    evaluator = _exact_match(client)
    task = client.tasks.create_evaluation_task(
        name="live traffic", task_type="CODE_EVALUATION", project=PROJECT, evaluators=[attach(evaluator.id)]
    )
    assert task.project_id == PROJECT and task.sampling_rate == 1.0 and task.is_continuous is False
    run = client.tasks.trigger_run(task=task.id)  # the contract's empty body
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.1, timeout=30)
    assert word(done.status) == "CANCELLED" and "spans" in (done.failure_reason or "")
    assert done.data_start_time is not None and done.data_end_time is not None
    assert done.data_start_time < done.data_end_time

    from arize._generated.api_client.exceptions import BadRequestException

    with pytest.raises(BadRequestException):
        client.tasks.cancel_run(run_id=done.id)  # finished: refused, left as it is
    assert client.tasks.get_run(run_id=done.id).status.value == "CANCELLED"

    client.tasks.update(task=task.id, name="live traffic (sampled)", sampling_rate=0.25)
    again = client.tasks.get(task=task.id)
    assert again.name == "live traffic (sampled)" and again.sampling_rate == 0.25 and again.last_run_at is not None
    assert [t.id for t in client.tasks.list().tasks] == [task.id]
    client.tasks.delete(task=task.id)
    assert client.tasks.list().tasks == []


def test_an_experiment_run_by_the_client_over_rest(arize: tuple[Any, ArizeClient], monkeypatch: pytest.MonkeyPatch):
    """`experiments.run(force_http=True)`: the client reads the dataset's examples, runs its own task on each,
    and uploads the runs, which read back. (Its task spans go to an OTLP gRPC endpoint, which runyard does not
    serve: they are sent nowhere, quickly.)"""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.05")
    srv, _ = arize
    host, port = srv.url.removeprefix("http://").split(":")
    client = ArizeClient(api_key=srv.api_key, api_host=host, api_scheme="http", api_port=int(port),
                         otlp_host="127.0.0.1", otlp_scheme="http", otlp_port=9)  # fmt: skip
    dataset = _dataset(client)

    def task(dataset_row: dict[str, Any]) -> str:
        return "Paris" if "France" in str(dataset_row.get("question")) else "Rome"

    experiment, frame = client.experiments.run(name="client side", dataset=dataset.id, task=task, force_http=True,
                                               concurrency=1)  # fmt: skip
    assert experiment is not None and len(frame) == 3
    runs = {r.example_id: r.output for r in client.experiments.list_runs(experiment=experiment.id).experiment_runs}
    assert runs == {"ex-fr": "Paris", "ex-it": "Rome", "ex-es": "Rome"}
    client.datasets.delete(dataset=dataset.id)  # the experiment keeps its runs
    assert client.datasets.list().datasets == []
    assert len(client.experiments.list_runs(experiment=experiment.id).experiment_runs) == 3
