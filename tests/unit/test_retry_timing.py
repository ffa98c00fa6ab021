"""Every retry countdown stays below the visibility timeout, or Redis redelivers it while a worker
still holds it (celery#2481). These fail the build when a configured delay can reach it."""

from __future__ import annotations

import pytest

from workers.celery_app import check_timing
from workers.config import Config, WorkerConfig
from workers.errors import ConfigError
from workers.timing import backoff, max_countdown


def test_default_config_passes_the_timing_check():
    check_timing(Config())


@pytest.mark.parametrize("worker", [WorkerConfig(), WorkerConfig(visibility_timeout=300, task_time_limit=60,
                                                                  task_soft_time_limit=50, retry_backoff_cap=200)])
def test_no_backoff_can_reach_the_visibility_timeout(worker):
    cfg = Config(worker=worker)
    check_timing(cfg)
    for failures in range(1, 40):
        for _ in range(20):
            d = backoff(cfg, failures)
            assert 0 < d <= max_countdown(cfg) < worker.visibility_timeout - worker.task_time_limit


def test_backoff_grows_then_caps():
    cfg = Config(worker=WorkerConfig(retry_backoff_base=2, retry_backoff_cap=100))
    assert max(backoff(cfg, 1) for _ in range(50)) <= 2
    assert min(backoff(cfg, 5) for _ in range(50)) >= 16
    assert max(backoff(cfg, 30) for _ in range(50)) <= 100


@pytest.mark.parametrize("worker,words", [
    (WorkerConfig(visibility_timeout=100, task_time_limit=90, task_soft_time_limit=80), "visibility_timeout"),
    (WorkerConfig(retry_backoff_cap=900), "retry_backoff_cap"),
    (WorkerConfig(task_time_limit=50, task_soft_time_limit=60), "task_time_limit"),
    (WorkerConfig(lock_lease=5), "lock_lease"),
])
def test_dangerous_timings_are_refused_at_start(worker, words):
    with pytest.raises(ConfigError, match=words):
        check_timing(Config(worker=worker))
