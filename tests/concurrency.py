"""Running a call "elsewhere", for the tests written once in tests/_async.

unasync turns ``AsyncX`` into ``SyncX``: the async tests use `AsyncElsewhere` (another task on
the same loop) and their generated twins `SyncElsewhere` (another thread), with the same methods.
Waits are on conditions with a deadline, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

DEADLINE = 10.0


class AsyncElsewhere:
    """Runs `call()` in another task of the running loop."""

    def __init__(self, call: Callable[[], Awaitable[Any]]) -> None:
        self._task = asyncio.ensure_future(call())

    async def result(self, timeout: float = DEADLINE) -> Any:
        """The call's result (or its exception), waiting at most `timeout` seconds."""
        return await asyncio.wait_for(self._task, timeout)

    @staticmethod
    async def until(condition: Callable[[], bool], timeout: float = DEADLINE) -> None:
        """Return once `condition()` holds (the loop keeps running meanwhile)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            await asyncio.sleep(0.005)


class SyncElsewhere:
    """Runs `call()` in another thread."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._outcome: list[Any] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._outcome.append(call())
        except BaseException as exc:
            self._error.append(exc)

    def result(self, timeout: float = DEADLINE) -> Any:
        """The call's result (or its exception), waiting at most `timeout` seconds."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the call did not return in time")
        if self._error:
            raise self._error[0]
        return self._outcome[0]

    @staticmethod
    def until(condition: Callable[[], bool], timeout: float = DEADLINE) -> None:
        """Return once `condition()` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            time.sleep(0.005)


def in_thread(call: Callable[[], Any]) -> threading.Thread:
    """Run `call()` in a daemon thread (the same in both flavours: for cross-thread calls)."""
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread
