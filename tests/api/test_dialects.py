"""The dialect registry: every dialect speaks for every engine status, owns its paths, renders its own
errors, and the paths it serves without an API key are exactly its endpoints marked open."""

from __future__ import annotations

import re

import msgspec
import pytest

from runyard.api.dialects import APP_OPEN_PATHS, DIALECTS, dialect_for, error_for_path, is_open
from runyard.models import RunStatus


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_status_map_covers_every_engine_status(dialect) -> None:  # type: ignore[no-untyped-def]
    assert set(dialect.statuses) == set(RunStatus)
    assert all(isinstance(word, str) and word for word in dialect.statuses.values())


def test_dialect_names_and_prefixes_are_distinct() -> None:
    assert len({d.name for d in DIALECTS}) == len(DIALECTS)
    prefixes = [p for d in DIALECTS for p in d.prefixes]
    assert len(set(prefixes)) == len(prefixes)


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_each_endpoint_belongs_to_its_dialect_and_is_open_exactly_when_marked(dialect) -> None:  # type: ignore[no-untyped-def]
    for ep in dialect.endpoints:
        path = _sample(ep.path)
        assert dialect_for(path) is dialect, ep.path
        assert is_open(path) is (not ep.auth), ep.path


def test_errors_take_the_shape_of_the_owning_dialect() -> None:
    for dialect in DIALECTS:
        for prefix in dialect.prefixes:
            response = error_for_path(prefix + "nothing", 418, "teapot")
            assert response.status_code == 418
            assert response.media_type == dialect.error_media_type
            msgspec.json.decode(bytes(response.body), type=dialect.error_schema)
    assert dialect_for("/api/v2/runs").name == "trigger.dev" and dialect_for("/api/runs").name == "runwisp"
    assert not is_open("/v1/runs") and not is_open("/api/v1/runs") and all(is_open(p) for p in APP_OPEN_PATHS)
