"""Trigger.dev's schedules API, as `schedules.*` of `@trigger.dev/sdk` 4.x calls it.

`POST /api/v1/schedules` (the same deduplicationKey updates the schedule), `GET /api/v1/schedules?page=&perPage=`,
`GET|PUT|DELETE /api/v1/schedules/{id}`, `POST /api/v1/schedules/{id}/activate|deactivate`, and
`GET /api/v1/timezones` (no API key). Schedule ids are `sched_` + the engine's ULID in lower case.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard import cron
from runyard.api.common import ApiError, Endpoint, int_schema, json_response, parse_int, read_body
from runyard.api.trigger_dev_wire import bad, decode
from runyard.errors import NotFoundError
from runyard.ids import is_ulid, us_to_rfc3339
from runyard.models import Schedule
from runyard.schedules import SCHEDULE_ID_PREFIX as SCHEDULE_PREFIX
from runyard.schedules import ScheduleInput, Schedules

ENVIRONMENT_ID = "env_runyard"
MAX_PER_PAGE = 100


class CreateScheduleBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    task: str
    cron: str
    deduplicationKey: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    externalId: str | None = None
    timezone: str | None = None
    window: str | None = None


class UpdateScheduleBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    task: str
    cron: str
    externalId: str | None = None
    timezone: str | None = None
    window: str | None = None


class Generator(msgspec.Struct, kw_only=True):
    type: str = "CRON"
    expression: str
    description: str


class Environment(msgspec.Struct, kw_only=True):
    id: str
    type: str


class ScheduleObject(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    type: str  # DECLARATIVE (runyard.toml) | IMPERATIVE (made over the API)
    task: str
    active: bool
    deduplicationKey: str | None = None
    externalId: str | None = None
    generator: Generator
    timezone: str
    nextRun: str | None = None
    environments: list[Environment]


class OffsetPagination(msgspec.Struct, kw_only=True):
    currentPage: int
    totalPages: int
    count: int


class ScheduleList(msgspec.Struct, kw_only=True):
    data: list[ScheduleObject]
    pagination: OffsetPagination


class DeletedSchedule(msgspec.Struct, kw_only=True):
    id: str


class Timezones(msgspec.Struct, kw_only=True):
    timezones: list[str]


def friendly_id(schedule_id: str) -> str:
    return SCHEDULE_PREFIX + schedule_id.lower()


def render(schedules: Schedules, schedule: Schedule) -> ScheduleObject:
    upcoming = schedules.upcoming(schedule, 1)
    return ScheduleObject(
        id=friendly_id(schedule.id),
        type="DECLARATIVE" if schedule.declarative else "IMPERATIVE",
        task=schedule.task,
        active=schedule.active,
        deduplicationKey=None if schedule.declarative else schedule.deduplication_key,
        externalId=schedule.external_id,
        generator=Generator(expression=schedule.cron, description=cron.parse(schedule.cron).describe()),
        timezone=schedule.timezone,
        nextRun=us_to_rfc3339(upcoming[0]) if upcoming else None,
        environments=[Environment(id=ENVIRONMENT_ID, type="PRODUCTION")],
    )


@contextlib.contextmanager
def _not_found_as_trigger_dev() -> Iterator[None]:
    """The engine's "schedule not found" in Trigger.dev's wording (its 404s read "Run not found", ...)."""
    try:
        yield
    except NotFoundError as exc:
        if exc.message == "schedule not found":
            raise ApiError(404, "Schedule not found") from None
        raise


def _schedules(request: Request) -> Schedules:
    schedules: Schedules = request.app.state.service.schedules
    return schedules


def _schedule_id(request: Request) -> str:
    raw = str(request.path_params["scheduleId"])
    bare = raw[len(SCHEDULE_PREFIX) :] if raw.startswith(SCHEDULE_PREFIX) else raw
    if not is_ulid(bare.upper()):
        raise ApiError(404, "Schedule not found")
    return bare.upper()


def _input(body: CreateScheduleBody | UpdateScheduleBody, key: str | None) -> ScheduleInput:
    if body.window is not None:
        raise bad("window is not supported by this server: leave it out")
    if body.externalId is not None and not 0 < len(body.externalId) <= 1000:
        raise bad("externalId must be 1 to 1000 characters")
    return ScheduleInput(
        task=body.task, cron=body.cron, timezone=body.timezone or "UTC", external_id=body.externalId,
        deduplication_key=key,
    )  # fmt: skip


async def create_schedule(request: Request) -> Response:
    body: CreateScheduleBody = decode(await read_body(request), CreateScheduleBody)
    if not 0 < len(body.deduplicationKey) <= 1000:
        raise bad("deduplicationKey must be 1 to 1000 characters")
    schedules = _schedules(request)
    schedule, _created = await schedules.create(_input(body, body.deduplicationKey))
    return json_response(render(schedules, schedule))


async def list_schedules(request: Request) -> Response:
    q = request.query_params
    try:
        page = parse_int(q.get("page", "1"), 1, 10**9)
        per_page = parse_int(q.get("perPage", "10"), 1, MAX_PER_PAGE)
    except ValueError:
        raise bad(f"page must be 1 or more and perPage from 1 to {MAX_PER_PAGE}") from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise bad(f"page must be 1 or more and perPage from 1 to {MAX_PER_PAGE}")
    schedules = _schedules(request)
    found, total = await schedules.page(limit=per_page, offset=(page - 1) * per_page)
    pagination = OffsetPagination(currentPage=page, totalPages=max(1, math.ceil(total / per_page)), count=total)
    return json_response(ScheduleList(data=[render(schedules, s) for s in found], pagination=pagination))


async def retrieve_schedule(request: Request) -> Response:
    schedules = _schedules(request)
    with _not_found_as_trigger_dev():
        return json_response(render(schedules, await schedules.get(_schedule_id(request))))


async def update_schedule(request: Request) -> Response:
    schedule_id = _schedule_id(request)
    body: UpdateScheduleBody = decode(await read_body(request), UpdateScheduleBody)
    schedules = _schedules(request)
    with _not_found_as_trigger_dev():
        return json_response(render(schedules, await schedules.update(schedule_id, _input(body, None))))


async def activate_schedule(request: Request) -> Response:
    schedules = _schedules(request)
    with _not_found_as_trigger_dev():
        return json_response(render(schedules, await schedules.set_active(_schedule_id(request), True)))


async def deactivate_schedule(request: Request) -> Response:
    schedules = _schedules(request)
    with _not_found_as_trigger_dev():
        return json_response(render(schedules, await schedules.set_active(_schedule_id(request), False)))


async def delete_schedule(request: Request) -> Response:
    with _not_found_as_trigger_dev():
        deleted = await _schedules(request).delete(_schedule_id(request))
    return json_response(DeletedSchedule(id=friendly_id(deleted.id)))


async def list_timezones(request: Request) -> Response:
    names = cron.timezones()
    if request.query_params.get("excludeUtc") == "true":
        names = [n for n in names if n not in ("UTC", "Etc/UTC")]
    return json_response(Timezones(timezones=names))


ENDPOINTS = [
    Endpoint("POST", "/api/v1/schedules", create_schedule, "Create a schedule (its deduplicationKey updates)",
             "trigger.dev", body=CreateScheduleBody, response=ScheduleObject),
    Endpoint("GET", "/api/v1/schedules", list_schedules, "List schedules", "trigger.dev", response=ScheduleList,
             query={"page": "1 or more", "perPage": f"1..{MAX_PER_PAGE}, default 10"},
             schemas={"page": int_schema(1, 10**9), "perPage": int_schema(1, MAX_PER_PAGE)}),
    Endpoint("GET", "/api/v1/schedules/{scheduleId}", retrieve_schedule, "Retrieve a schedule", "trigger.dev",
             response=ScheduleObject),
    Endpoint("PUT", "/api/v1/schedules/{scheduleId}", update_schedule, "Update a schedule", "trigger.dev",
             body=UpdateScheduleBody, response=ScheduleObject),
    Endpoint("DELETE", "/api/v1/schedules/{scheduleId}", delete_schedule, "Delete a schedule", "trigger.dev",
             response=DeletedSchedule),
    Endpoint("POST", "/api/v1/schedules/{scheduleId}/activate", activate_schedule, "Activate a schedule",
             "trigger.dev", response=ScheduleObject),
    Endpoint("POST", "/api/v1/schedules/{scheduleId}/deactivate", deactivate_schedule, "Deactivate a schedule",
             "trigger.dev", response=ScheduleObject),
    Endpoint("GET", "/api/v1/timezones", list_timezones, "The IANA time zones schedules accept", "trigger.dev",
             response=Timezones, auth=False, query={"excludeUtc": "true leaves out UTC"}),
]  # fmt: skip
