"""Engine errors. Dialects translate them into their own error shapes (never a 5xx for bad input)."""

from __future__ import annotations


class RunyardError(Exception):
    """Base of the engine's errors; `status` is the HTTP status a dialect should answer with."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(RunyardError):
    status = 400


class Unauthorized(RunyardError):
    status = 401


class Forbidden(RunyardError):
    status = 403


class NotFoundError(RunyardError):
    status = 404


class ConflictError(RunyardError):
    status = 409


class ServiceNotTriggerable(RunyardError):
    """A service's replicas are kept running by the server; they are restarted, never triggered."""

    status = 409

    def __init__(self, message: str = "services cannot be triggered; use the restart endpoint") -> None:
        super().__init__(message)


class PayloadTooLarge(RunyardError):
    status = 413


class Unprocessable(RunyardError):
    status = 422
