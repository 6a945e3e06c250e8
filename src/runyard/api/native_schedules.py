"""runyard's own schedules API under /v1: create (a deduplication key updates), list, get, update, activate,
deactivate, delete. Errors are problem+json like the rest of /v1; schedules from runyard.toml are read-only."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard import cron
from runyard.api.common import ApiError, Endpoint, decode_body, int_schema, json_response, parse_int, read_body
from runyard.ids import is_ulid, us_to_rfc3339
from runyard.models import Schedule
from runyard.schedules import ScheduleInput, Schedules

MAX_LIMIT = 1000


class ScheduleBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    task: str
    cron: str
    timezone: str = "UTC"
    external_id: str | None = None
    deduplication_key: str | None = None
    active: bool = True


class NativeSchedule(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    task: str
    cron: str
    description: str
    timezone: str
    active: bool
    declarative: bool  # from runyard.toml: change it there
    external_id: str | None = None
    deduplication_key: str | None = None
    next_run_at: str | None = None
    last_run_at: str | None = None
    upcoming: list[str]
    created_at: str
    updated_at: str


class ScheduleList(msgspec.Struct, kw_only=True):
    schedules: list[NativeSchedule]
    total: int


def render(schedules: Schedules, s: Schedule) -> NativeSchedule:
    return NativeSchedule(
        id=s.id, task=s.task, cron=s.cron, description=cron.parse(s.cron).describe(), timezone=s.timezone,
        active=s.active, declarative=s.declarative, external_id=s.external_id, deduplication_key=s.deduplication_key,
        next_run_at=us_to_rfc3339(s.next_run_at) if s.active and s.next_run_at is not None else None,
        last_run_at=us_to_rfc3339(s.last_run_at) if s.last_run_at is not None else None,
        upcoming=[us_to_rfc3339(u) for u in schedules.upcoming(s)],
        created_at=us_to_rfc3339(s.created_at), updated_at=us_to_rfc3339(s.updated_at),
    )  # fmt: skip


def _schedules(request: Request) -> Schedules:
    schedules: Schedules = request.app.state.service.schedules
    return schedules


def _id(request: Request) -> str:
    value = str(request.path_params["id"])
    if not is_ulid(value):
        raise ApiError(404, "schedule not found")
    return value


def _input(body: ScheduleBody) -> ScheduleInput:
    return ScheduleInput(
        task=body.task, cron=body.cron, timezone=body.timezone, external_id=body.external_id,
        deduplication_key=body.deduplication_key, active=body.active,
    )  # fmt: skip


async def create_schedule(request: Request) -> Response:
    body: ScheduleBody = decode_body(await read_body(request), ScheduleBody)
    schedules = _schedules(request)
    schedule, created = await schedules.create(_input(body))
    return json_response(render(schedules, schedule), 201 if created else 200)


async def list_schedules(request: Request) -> Response:
    q = request.query_params
    try:
        limit, offset = parse_int(q.get("limit", "50"), 1, MAX_LIMIT), parse_int(q.get("offset", "0"), 0, 10**12)
    except ValueError as exc:
        raise ApiError(422, f"limit and offset: {exc}") from None
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ApiError(422, f"limit must be from 1 to {MAX_LIMIT} and offset 0 or more")
    schedules = _schedules(request)
    found, total = await schedules.page(limit=limit, offset=offset, task=q.get("task") or None)
    return json_response(ScheduleList(schedules=[render(schedules, s) for s in found], total=total))


async def get_schedule(request: Request) -> Response:
    schedules = _schedules(request)
    return json_response(render(schedules, await schedules.get(_id(request))))


async def update_schedule(request: Request) -> Response:
    schedule_id = _id(request)
    body: ScheduleBody = decode_body(await read_body(request), ScheduleBody)
    if body.deduplication_key is not None:
        raise ApiError(422, "deduplication_key cannot be changed")
    schedules = _schedules(request)
    schedule = await schedules.update(schedule_id, _input(body))
    if schedule.active != body.active:
        schedule = await schedules.set_active(schedule_id, body.active)
    return json_response(render(schedules, schedule))


async def activate_schedule(request: Request) -> Response:
    schedules = _schedules(request)
    return json_response(render(schedules, await schedules.set_active(_id(request), True)))


async def deactivate_schedule(request: Request) -> Response:
    schedules = _schedules(request)
    return json_response(render(schedules, await schedules.set_active(_id(request), False)))


async def delete_schedule(request: Request) -> Response:
    schedules = _schedules(request)
    return json_response(render(schedules, await schedules.delete(_id(request))))


ENDPOINTS = [
    Endpoint("POST", "/v1/schedules", create_schedule, "Create a schedule (201), or update the one with its "
             "deduplication_key (200)", "native", body=ScheduleBody, response=NativeSchedule, status=201,
             also={200: "a schedule with this deduplication_key was updated"}),
    Endpoint("GET", "/v1/schedules", list_schedules, "List schedules, oldest first", "native", response=ScheduleList,
             query={"task": "", "limit": f"1..{MAX_LIMIT}", "offset": ""},
             schemas={"limit": int_schema(1, MAX_LIMIT), "offset": int_schema(0, 10**12)}),
    Endpoint("GET", "/v1/schedules/{id}", get_schedule, "Get a schedule and its next ticks", "native",
             response=NativeSchedule),
    Endpoint("PUT", "/v1/schedules/{id}", update_schedule, "Replace a schedule's task, cron, zone, external id, "
             "active flag", "native", body=ScheduleBody, response=NativeSchedule),
    Endpoint("POST", "/v1/schedules/{id}/activate", activate_schedule, "Activate a schedule", "native",
             response=NativeSchedule),
    Endpoint("POST", "/v1/schedules/{id}/deactivate", deactivate_schedule, "Deactivate a schedule", "native",
             response=NativeSchedule),
    Endpoint("DELETE", "/v1/schedules/{id}", delete_schedule, "Delete a schedule", "native",
             response=NativeSchedule),
]  # fmt: skip
