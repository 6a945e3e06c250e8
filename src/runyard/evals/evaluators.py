"""Evaluators: score one item's output. Code (a Python function), output match, and an LLM judge over any
OpenAI-compatible chat-completions endpoint."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from runyard.evals.spec import CodeEvaluator, Evaluator, Item, JudgeEvaluator, MatchEvaluator, Score
from runyard.tasks import load_callable

if TYPE_CHECKING:
    import httpx

_ARGS = ("input", "output", "expected", "metadata")


class JudgeConfig(msgspec.Struct, kw_only=True):
    """Where LLM judges send their prompts (from the evaluation task's configuration)."""

    url: str  # the base URL; runyard POSTs to {url}/chat/completions
    model: str = "gpt-4o-mini"
    api_key: str | None = None
    timeout_s: float = 60.0


class EvaluatorError(Exception):
    """An evaluator could not score an item (its message says why)."""


def to_score(name: str, value: Any) -> Score:
    """A code evaluator's return value as a score: bool, number, label, or {score, label, explanation}."""
    if isinstance(value, bool):
        return Score(evaluator=name, score=1.0 if value else 0.0, label="pass" if value else "fail")
    if isinstance(value, int | float):
        return Score(evaluator=name, score=float(value))
    if isinstance(value, str):
        return Score(evaluator=name, label=value)
    if isinstance(value, dict):
        score = value.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
            raise EvaluatorError(f"evaluator {name!r} returned a score that is not a number: {score!r}")
        label, explanation = value.get("label"), value.get("explanation")
        return Score(
            evaluator=name,
            score=None if score is None else float(score),
            label=None if label is None else str(label),
            explanation=None if explanation is None else str(explanation),
        )
    raise EvaluatorError(f"evaluator {name!r} returned {type(value).__name__}; expected bool, number, str or dict")


class CodeCall:
    """A code evaluator's function, loaded once, called with the keywords it accepts."""

    def __init__(self, spec: CodeEvaluator) -> None:
        self.name = spec.name
        try:
            self.fn: Callable[..., Any] = load_callable(spec.target)
        except Exception as exc:
            raise EvaluatorError(f"evaluator {spec.name!r}: cannot load {spec.target!r}: {exc}") from None
        params = inspect.signature(self.fn).parameters
        takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        self.wants = tuple(a for a in _ARGS if takes_all or a in params)
        self.is_async = inspect.iscoroutinefunction(self.fn)

    async def __call__(self, item: Item, output: Any) -> Score:
        values = {"input": item.input, "output": output, "expected": item.expected, "metadata": item.metadata}
        kwargs = {a: values[a] for a in self.wants}
        try:
            result = await self.fn(**kwargs) if self.is_async else self.fn(**kwargs)
        except Exception as exc:
            raise EvaluatorError(f"evaluator {self.name!r} raised {type(exc).__name__}: {exc}") from None
        return to_score(self.name, result)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


_ROOTS = ("input", "output", "expected", "metadata")
_MISSING = object()


def lookup(item: Item, output: Any, name: str) -> Any:
    """A variable of an item: `input`, `output`, `expected`, `metadata`, a dotted path into one of them
    (`input.question`), or a field of an object input (a dataset column: `question`). Raises KeyError."""
    if isinstance(item.input, dict) and name in item.input:
        return item.input[name]  # a column whose name has dots ("attributes.input.value")
    roots = {"input": item.input, "output": output, "expected": item.expected, "metadata": item.metadata}
    head, _, rest = name.partition(".")
    if head in roots:
        value, path = roots[head], rest.split(".") if rest else []
    elif isinstance(item.input, dict):
        value, path = item.input, name.split(".")
    else:
        raise KeyError(name)
    for part in path:
        value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            raise KeyError(name)
    return value


_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}|\{([A-Za-z_][\w.]*)\}")


def render(template: str, item: Item, output: Any, syntax: str = "any") -> str:
    """The template with each {name} or {{name}} (`syntax`: any, f_string, mustache, none) replaced by that
    variable's text; unknown names stay as they are."""
    if syntax == "none":
        return template

    def one(m: re.Match[str]) -> str:
        name = m.group(1) if syntax != "f_string" else None
        name = name or (m.group(2) if syntax != "mustache" else None)
        if name is None:
            return m.group(0)
        try:
            return _text(lookup(item, output, name))
        except KeyError:
            return m.group(0)

    return _VARIABLE.sub(one, template)


async def chat(
    config: JudgeConfig, client: Callable[[], httpx.AsyncClient], model: str | None, messages: list[dict[str, str]]
) -> str:
    """The reply text of one OpenAI-compatible chat completion. Raises EvaluatorError."""
    body = {"model": model or config.model, "messages": messages}
    headers = {"authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    url = config.url.rstrip("/") + "/chat/completions"
    try:
        response = await client().post(url, json=body, headers=headers, timeout=config.timeout_s)
    except Exception as exc:
        raise EvaluatorError(f"the chat request failed: {exc!r}") from None
    if not response.is_success:
        raise EvaluatorError(f"the chat endpoint answered {response.status_code}")
    try:
        return str(response.json()["choices"][0]["message"]["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise EvaluatorError("the chat endpoint's reply is not a chat completion") from None


class MatchCall:
    def __init__(self, spec: MatchEvaluator) -> None:
        self.spec = spec
        if spec.mode == "regex":
            if not isinstance(spec.value, str):
                raise EvaluatorError(f"evaluator {spec.name!r}: a regex match needs value, a pattern")
            try:
                self.pattern = re.compile(spec.value, 0 if spec.case_sensitive else re.IGNORECASE)
            except re.error as exc:
                raise EvaluatorError(f"evaluator {spec.name!r}: invalid pattern: {exc}") from None
        listed = spec.mode in ("list", "contains_any", "contains_all")
        if listed and spec.value is not msgspec.UNSET and not isinstance(spec.value, list):
            raise EvaluatorError(f"evaluator {spec.name!r}: a {spec.mode} match needs value, a list")
        if spec.mode.startswith("contains") and not isinstance(spec.value, list):
            raise EvaluatorError(f"evaluator {spec.name!r}: a {spec.mode} match needs value, a list of keywords")

    def _same(self, a: Any, b: Any) -> bool:
        if not self.spec.case_sensitive:
            return _text(a).casefold() == _text(b).casefold()
        return bool(a == b) or (isinstance(a, str) != isinstance(b, str) and _text(a) == _text(b))

    def _has(self, text: str, keyword: Any) -> bool:
        word = _text(keyword)
        return (word.casefold() in text.casefold()) if not self.spec.case_sensitive else word in text

    def _get(self, item: Item, output: Any, name: str) -> Any:
        try:
            return lookup(item, output, name)
        except KeyError:
            raise EvaluatorError(f"evaluator {self.spec.name!r}: the item has no {name!r}") from None

    async def __call__(self, item: Item, output: Any) -> Score:
        spec = self.spec
        subject = self._get(item, output, spec.subject)
        if spec.mode == "regex":
            ok = self.pattern.search(_text(subject)) is not None
        elif spec.mode == "json":
            try:
                msgspec.json.decode(subject if isinstance(subject, str) else _text(subject))
                ok = True
            except msgspec.DecodeError:
                ok = False
        elif spec.mode in ("contains_any", "contains_all"):
            found = [self._has(_text(subject), k) for k in spec.value]
            ok = any(found) if spec.mode == "contains_any" else all(found)
        else:
            want = self._get(item, output, spec.against) if spec.value is msgspec.UNSET else spec.value
            if spec.mode == "list":
                options = want if isinstance(want, list) else [want]
                ok = any(self._same(subject, option) for option in options)
            else:
                ok = self._same(subject, want)
        return Score(evaluator=spec.name, score=1.0 if ok else 0.0, label="match" if ok else "no_match")


class JudgeCall:
    def __init__(self, spec: JudgeEvaluator, config: JudgeConfig | None, client: Callable[[], httpx.AsyncClient]):
        if config is None:
            raise EvaluatorError(f"evaluator {spec.name!r}: this evaluation task has no judge URL configured")
        if not spec.labels:
            raise EvaluatorError(f"evaluator {spec.name!r}: labels must not be empty")
        self.spec, self.config, self.client = spec, config, client

    async def __call__(self, item: Item, output: Any) -> Score:
        spec = self.spec
        prompt = render(spec.template, item, output)
        try:
            content = await chat(self.config, self.client, spec.model, [{"role": "user", "content": prompt}])
        except EvaluatorError as exc:
            raise EvaluatorError(f"evaluator {spec.name!r}: {exc}") from None
        lowered = content.casefold()
        found = [(lowered.find(label.casefold()), label) for label in spec.labels if label.casefold() in lowered]
        if not found:
            raise EvaluatorError(f"evaluator {spec.name!r}: the judge's reply names none of {spec.labels}")
        label = min(found)[1]
        first = 1.0 if label == spec.labels[0] else 0.0
        score = spec.choices.get(label) if spec.choices is not None else first
        return Score(evaluator=spec.name, score=score, label=label, explanation=content)


Scorer = CodeCall | MatchCall | JudgeCall


def scorers(specs: list[Evaluator], judge: JudgeConfig | None, client: Callable[[], httpx.AsyncClient]) -> list[Scorer]:
    """Load every evaluator once per run; a bad one raises EvaluatorError before any item runs."""
    out: list[Scorer] = []
    for spec in specs:
        if isinstance(spec, CodeEvaluator):
            out.append(CodeCall(spec))
        elif isinstance(spec, MatchEvaluator):
            out.append(MatchCall(spec))
        else:
            out.append(JudgeCall(spec, judge, client))
    return out
