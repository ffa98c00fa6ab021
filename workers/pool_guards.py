"""What the prefork pool gives for free, kept on the threads pool: time limits and the memory guard.

Celery's threads pool runs each task in a thread of the worker process and enforces neither
`task_soft_time_limit` nor `task_time_limit`, and `worker_max_memory_per_child` replaces prefork
children only. So, on any pool but prefork:

- time limits: a watchdog thread raises `SoftTimeLimitExceeded` in a task's thread once the soft limit
  has passed (the same exception, at the same kind of moment — between two Python bytecodes — as the
  prefork pool's SIGUSR1 handler raises it), and `TimeLimitExceeded` every second past the hard limit
  until the task lets go. The pipeline turns either into a retry and, after a few, a dead letter
  (workers.pipeline). A thread blocked inside a C call takes the exception when the call returns:
  every blocking call has a timeout (Redis `socket_timeout`, the API's connect and read timeouts).
- memory: after a task, a process whose RSS is past `max_memory_per_child_mib` restarts in place
  (Celery's own SIGHUP restart: a warm shutdown — running tasks finish, held messages go back to the
  queue — then the same command line is executed again, same pid).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
import time
from typing import Any

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import task_postrun, task_prerun, worker_init

from workers.config import Config

log = logging.getLogger("cstar_bridge.worker")

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def raise_in_thread(thread_id: int, exc_type: type[BaseException]) -> bool:
    """Raise `exc_type` in another thread at its next bytecode; False if no such thread runs."""
    return ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)) == 1


class ThreadTimeLimits:
    """Soft and hard time limits for tasks that run in threads (see the module docstring)."""

    def __init__(self, soft: float, hard: float, *, tick: float = 0.5) -> None:
        self.soft = soft
        self.hard = hard
        self.tick = tick
        self._running: dict[int, tuple[str, float, bool]] = {}   # thread id -> (task id, started, soft sent)
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None

    def started(self, task_id: str) -> None:
        with self._mutex:
            self._running[threading.get_ident()] = (task_id, time.monotonic(), False)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="cstar-time-limits", daemon=True)
                self._thread.start()

    def finished(self) -> None:
        ident = threading.get_ident()
        while True:
            try:
                with self._mutex:
                    self._running.pop(ident, None)
                return
            except (SoftTimeLimitExceeded, TimeLimitExceeded):
                continue   # a limit that fired just as the task ended: it has ended

    def check(self, now: float | None = None) -> list[tuple[int, type[BaseException]]]:
        """Raise the limit exceptions now due; what was raised, where (for the log and tests)."""
        now = time.monotonic() if now is None else now
        due: list[tuple[int, type[BaseException]]] = []
        # Raised under the mutex: a task that has left `_running` (finished) never gets one, so an idle
        # pool thread is never hit.
        with self._mutex:
            for ident, (task_id, started, soft_sent) in list(self._running.items()):
                age = now - started
                if age >= self.hard:
                    due.append((ident, TimeLimitExceeded))
                elif age >= self.soft and not soft_sent:
                    self._running[ident] = (task_id, started, True)
                    due.append((ident, SoftTimeLimitExceeded))
            raised = [(ident, exc) for ident, exc in due if raise_in_thread(ident, exc)]
        for ident, exc in raised:
            log.error("task in thread %s ran past its %s time limit (%s s): %s raised in it", ident,
                          "hard" if exc is TimeLimitExceeded else "soft",
                          self.hard if exc is TimeLimitExceeded else self.soft, exc.__name__)
        return due

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            try:
                self.check()
            except Exception:  # never let the watchdog die
                log.exception("time-limit watchdog")


def rss_mib() -> float:
    """This process's resident memory, MiB (Linux /proc; 0 where it cannot be read)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


_restarting = False
_restart_mutex = threading.Lock()


def restart_in_place(reason: str) -> None:
    """Celery's SIGHUP restart, from a task's thread: warm shutdown, then exec the same command line."""
    import atexit

    from celery.worker import state

    global _restarting
    with _restart_mutex:
        if _restarting:
            return
        _restarting = True
    log.warning("memory guard: %s; restarting the worker in place (warm shutdown, then the same command)", reason)
    argv = list(getattr(sys, "orig_argv", [])[1:]) or sys.argv

    def exec_again() -> None:
        from celery import platforms

        platforms.close_open_fds([sys.__stdin__, sys.__stdout__, sys.__stderr__])
        os.execv(sys.executable, [sys.executable, *argv])

    atexit.register(exec_again)
    state.should_stop = 0   # EX_OK: the consumer loop stops at its next turn


def install(app: Celery, config: Config) -> None:
    """On a worker whose pool is not prefork, enforce the time limits and the memory guard."""
    w = config.worker
    limits = ThreadTimeLimits(w.task_soft_time_limit, w.task_time_limit)
    active = {"threads": False, "memory": False}

    def ours(sender: Any) -> bool:
        return sender is not None and getattr(sender, "app", None) is app

    @worker_init.connect(weak=False)
    def on_init(sender: Any = None, **_: Any) -> None:
        if not ours(sender):
            return
        pool = sender.pool_cls if isinstance(sender.pool_cls, str) else getattr(sender.pool_cls, "__module__", "")
        prefork = "prefork" in str(pool) or str(pool) in ("processes", "")
        active["threads"] = "thread" in str(pool)
        active["memory"] = not prefork and bool(w.max_memory_per_child_mib)

    @task_prerun.connect(weak=False)
    def on_prerun(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
        if active["threads"] and getattr(sender, "app", None) is app:
            limits.started(task_id or "")

    @task_postrun.connect(weak=False)
    def on_postrun(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app:
            return
        if active["threads"]:
            limits.finished()
        if active["memory"]:
            used = rss_mib()
            if used > w.max_memory_per_child_mib:
                restart_in_place(f"RSS {used:.0f} MiB is past worker.max_memory_per_child_mib "
                                 f"({w.max_memory_per_child_mib} MiB)")
