"""Task parameters, RunWisp's `params`: declared on a task, given when it is triggered
(`{"params": {"<key>": "value" | null}}`), checked, and handed to the run.

A parameter is one of: `env = "NAME"` (an environment variable), `arg = "name"` (a positional argument),
`option = "--name"` (an option and its value), `flag = "--name"` (present when true). Each may be `required`,
have a `default`, a list of `choices` and `type = "number"`; a flag is a boolean (no choices, never required).
Shell tasks get them as environment variables and arguments appended to the command; Python tasks get
`{"params": {...}}` as their payload. A value given as null leaves the parameter out (its default too).
"""

from __future__ import annotations

import math
import re
import shlex
from typing import Any, Literal

import msgspec

Kind = Literal["env", "arg", "option", "flag"]
KINDS: tuple[Kind, ...] = ("env", "arg", "option", "flag")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}
MAX_VALUE = 65_536  # characters of one value (it becomes an environment variable or an argument)


class Param(msgspec.Struct, frozen=True, kw_only=True):
    kind: Kind
    key: str
    required: bool = False
    default: str | None = None  # canonical text
    choices: list[str] = msgspec.field(default_factory=list)
    allow_custom: bool = False  # a value outside the choices is taken too
    number: bool = False


class ParamError(ValueError):
    """A declaration or a given value that is not valid (the message says which)."""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParamError(f"{value!r} is not a finite number")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    raise ParamError(f"{value!r} is not a string, number or boolean")


def _flag(value: Any) -> str:
    text = _text(value).lower()
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    raise ParamError(f"{value!r} is not a boolean")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def declare(where: str, raw: Any, *, env: dict[str, Any], scheduled: bool) -> list[Param]:
    """The parameters of `params = [...]` in a task's table (raises ParamError naming `where`)."""
    if not isinstance(raw, list):
        raise ParamError(f'{where}: a list of tables like {{ env = "NAME" }}')
    out: list[Param] = []
    for n, item in enumerate(raw):
        at = f"{where}[{n}]"
        if not isinstance(item, dict):
            raise ParamError(f'{at}: a table like {{ arg = "name", required = true }}')
        unknown = set(item) - {*KINDS, "required", "default", "choices", "type", "allow_custom"}
        if unknown:
            raise ParamError(f"{at}: unknown keys {sorted(unknown)}")
        kinds = [k for k in KINDS if k in item]
        if len(kinds) != 1:
            raise ParamError(f"{at}: exactly one of env, arg, option, flag")
        kind = kinds[0]
        key = item[kind]
        if not isinstance(key, str) or not key:
            raise ParamError(f"{at}.{kind}: a non-empty string")
        if kind == "env" and not _ENV.match(key):
            raise ParamError(f"{at}.env: {key!r} is not an environment variable name")
        if kind == "env" and key in env:
            raise ParamError(f"{at}.env: {key!r} is also in the task's env")
        if kind in ("option", "flag") and not key.startswith("-"):
            raise ParamError(f"{at}.{kind}: {key!r} must start with '-'")
        if any(p.key == key for p in out):
            raise ParamError(f"{at}: the parameter {key!r} is declared twice")
        number = item.get("type", "string") == "number"
        if item.get("type", "string") not in ("string", "number"):
            raise ParamError(f"{at}.type: 'string' or 'number'")
        required = bool(item.get("required", False))
        choices = [_text(c) for c in item.get("choices", [])]
        if kind == "flag" and (required or choices or "type" in item):
            raise ParamError(f"{at}: a flag is a boolean: no required, choices or type")
        if item.get("allow_custom") and not choices:
            raise ParamError(f"{at}.allow_custom: needs choices")
        if number and (bad := [c for c in choices if not _is_number(c)]):
            raise ParamError(f"{at}.choices: {bad[0]!r} is not a number")
        default = None
        if "default" in item:
            default = _flag(item["default"]) if kind == "flag" else _text(item["default"])
        if required and default is None and scheduled:
            raise ParamError(f"{at}: {key!r} is required and has no default, but the task runs on a schedule")
        out.append(Param(kind=kind, key=key, required=required, default=default, choices=choices,
                         allow_custom=bool(item.get("allow_custom", False)), number=number))  # fmt: skip
    return out


def resolve(params: list[Param], given: dict[str, Any] | None) -> dict[str, str]:
    """The values a run gets: the given ones checked, then defaults; raises ParamError in RunWisp's words."""
    given = given or {}
    known = {p.key for p in params}
    for key in given:
        if key not in known:
            raise ParamError(f'unknown parameter "{key}"')
    values: dict[str, str] = {}
    for p in params:
        if p.key in given:
            raw = given[p.key]
            if raw is None:
                continue  # null leaves it out, default and all
            try:
                value = _flag(raw) if p.kind == "flag" else _text(raw)
            except ParamError as exc:
                raise ParamError(f'parameter "{p.key}": {exc}') from None
        elif p.default is not None:
            value = p.default
        elif p.required:
            raise ParamError(f'missing required parameter "{p.key}"')
        else:
            continue
        if "\x00" in value or len(value) > MAX_VALUE:
            raise ParamError(f'parameter "{p.key}": at most {MAX_VALUE} characters, and no NUL')
        if p.number and not _is_number(value):
            raise ParamError(f'parameter "{p.key}" must be a number, not {value!r}')
        if p.choices and value not in p.choices and not p.allow_custom:
            raise ParamError(f'parameter "{p.key}" must be one of {", ".join(p.choices)}')
        values[p.key] = value
    return values


def shell_parts(params: list[Param], values: dict[str, str]) -> tuple[dict[str, str], str]:
    """Environment variables, and the argument text appended to the command, for these values."""
    env: dict[str, str] = {}
    args: list[str] = []
    for p in params:
        if p.key not in values:
            continue
        value = values[p.key]
        if p.kind == "env":
            env[p.key] = value
        elif p.kind == "arg":
            args.append(shlex.quote(value))
        elif p.kind == "option":
            args += [shlex.quote(p.key), shlex.quote(value)]
        elif value == "true":
            args.append(shlex.quote(p.key))
    return env, " ".join(args)
