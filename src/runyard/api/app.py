"""The ASGI application: every dialect's routes, auth, body limits, docs."""

from __future__ import annotations
