"""The Trigger.dev v3 dialect."""

from __future__ import annotations

from runyard.api.common import Endpoint

ENDPOINTS: list[Endpoint] = []
