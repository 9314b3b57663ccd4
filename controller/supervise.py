"""Supervised long-lived tasks: nothing dies silently (issue 11).

`Supervisor.start(name, factory)` runs `factory()` (a coroutine function that should run for ever) in its own
asyncio task. When it raises (or returns, or is cancelled by anyone but the supervisor), the failure is logged
with its traceback, counted, and the coroutine is started again after a backoff on the injected clock
(`RestartPolicy`: 1 s, doubling up to 60 s; reset once a run lasted `healthy_after_s`). A task that fails
`max_failures` times within `window_s` gives up: `give_up(name, error)` is called, by default
`exit_process`, which raises SystemExit(70) out of the event loop so the process ends with a failure status and
systemd (Restart=always) starts it afresh. Cancelling the task `start` returned stops the supervision cleanly;
`stop()` first makes a task that ends during a shutdown end quietly.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NoReturn

from controller.clock import Clock

log = logging.getLogger(__name__)

EXIT_TASK_FAILED = 70  # EX_SOFTWARE


@dataclass(frozen=True)
class RestartPolicy:
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_failures: int = 5  # within window_s: then give up
    window_s: float = 600.0
    healthy_after_s: float = 300.0  # a run this long resets the backoff


class TaskGaveUp(RuntimeError):
    """A supervised task failed too often; raised by its supervisor once `give_up` returned."""


def exit_process(name: str, error: BaseException | None) -> NoReturn:
    """End the process with a failure status (asyncio re-raises SystemExit out of the event loop)."""
    raise SystemExit(EXIT_TASK_FAILED)


@dataclass
class SupervisedTask:
    name: str
    failures: int = 0  # in all
    restarts: int = 0
    inner: asyncio.Task[None] | None = None
    recent: deque[float] = field(default_factory=deque)  # monotonic times of failures within the window

    def kill(self, why: str = "killed") -> None:
        """Cancel the running coroutine as a crash would end it (for tests and diagnostics)."""
        if self.inner is not None and not self.inner.done():
            self.inner.cancel(why)


class Supervisor:
    def __init__(
        self,
        clock: Clock,
        policy: RestartPolicy | None = None,
        give_up: Callable[[str, BaseException | None], None] = exit_process,
    ) -> None:
        self.clock = clock
        self.policy = policy or RestartPolicy()
        self.give_up = give_up
        self.tasks: dict[str, SupervisedTask] = {}
        self.stopping = False  # set before a clean shutdown: a task that ends then is not restarted

    def stop(self) -> None:
        self.stopping = True

    def start(self, name: str, factory: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        state = SupervisedTask(name)
        self.tasks[name] = state
        return asyncio.create_task(self._supervise(state, factory), name=f"supervise {name}")

    async def _supervise(self, state: SupervisedTask, factory: Callable[[], Awaitable[None]]) -> None:
        p = self.policy
        backoff = p.initial_backoff_s
        while True:
            started = self.clock.monotonic()
            error: BaseException | None = None
            state.inner = asyncio.ensure_future(factory())
            state.inner.set_name(state.name)
            try:
                await state.inner
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if self.stopping or (task is not None and task.cancelling()):
                    raise  # we are being stopped
                error = exc
                log.error("task %s was cancelled from outside (%s); restarting it", state.name, exc.args or "")
            except Exception as exc:  # noqa: BLE001 - the point of supervision
                error = exc
                log.exception("task %s failed", state.name)
            else:
                if self.stopping:
                    return
                log.error("task %s returned; it should run for ever; restarting it", state.name)
            if self.stopping:
                return
            now = self.clock.monotonic()
            state.failures += 1
            if now - started >= p.healthy_after_s:
                backoff = p.initial_backoff_s
            state.recent.append(now)
            while state.recent and now - state.recent[0] > p.window_s:
                state.recent.popleft()
            if len(state.recent) >= p.max_failures:
                log.critical("task %s failed %d times within %g s; giving up (the process ends)",
                             state.name, len(state.recent), p.window_s)
                self.give_up(state.name, error)
                raise TaskGaveUp(state.name) from error
            await self.clock.sleep(backoff)
            backoff = min(backoff * 2, p.max_backoff_s)
            state.restarts += 1
            log.warning("task %s restarted (%d restarts)", state.name, state.restarts)
