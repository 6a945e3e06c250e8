"""Retry backoff: exponential with a floor, a ceiling and optional full randomization."""

from __future__ import annotations

import random

from runyard.models import RetryPolicy


def next_retry_delay(policy: RetryPolicy, attempt_number: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt `attempt_number + 1`, after attempt `attempt_number` failed.

    delay = min(max_delay, min_delay * factor ** (attempt_number - 1)), or min_delay * attempt_number when
    linear; randomized delays are drawn
    uniformly from [delay / 2, delay] (Trigger.dev's `randomize`), never below min_delay.
    """
    if policy.linear:
        base = min(policy.max_delay, policy.min_delay * max(1, attempt_number))
    else:
        base = min(policy.max_delay, policy.min_delay * policy.factor ** max(0, attempt_number - 1))
    if policy.randomize:
        base = (rng or random).uniform(max(policy.min_delay, base / 2), base)
    return max(0.0, base)
