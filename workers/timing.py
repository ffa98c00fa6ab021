"""Retry timing: full-jitter backoff, and the rule that every countdown stays below the visibility timeout.

A countdown at or above `visibility_timeout - task_time_limit` lets Redis redeliver a retry while a
worker still holds it (celery#2481), so `max_countdown` is the ceiling of every delay we schedule.
"""

from __future__ import annotations

import random

from workers.config import Config

COUNTDOWN_MARGIN = 30


def max_countdown(config: Config) -> float:
    """The longest countdown any retry may use under this config."""
    return float(config.worker.visibility_timeout - config.worker.task_time_limit - COUNTDOWN_MARGIN)


def backoff(config: Config, failures: int) -> float:
    """Full-jitter exponential backoff (half to full of the step), capped below the visibility timeout."""
    w = config.worker
    ceiling = min(w.retry_backoff_cap, w.retry_backoff_base * (2 ** min(max(0, failures - 1), 30)))
    return min(max(0.5, random.uniform(ceiling / 2, ceiling)), max_countdown(config))
