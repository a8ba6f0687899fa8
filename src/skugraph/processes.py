"""Work spread over processes on one machine: :class:`Workers` maps a function over items in
spawned processes, in order and a few tasks at a time, or in this process where one worker is
asked; :func:`collector_paused` for work that builds many objects."""

from __future__ import annotations

import gc
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import islice
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Workers:
    """``count`` spawned processes (spawned, not forked: torch's and ONNX Runtime's threads do
    not survive a fork; Ctrl-C is left to this one), each started with
    ``initializer(*initargs)``; with ``count`` ≤ 1, none: :meth:`map` runs here. Use as a
    context manager."""

    def __init__(self, count: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()):
        self.count = max(1, count)
        self._pool = None
        self._start = (initializer, initargs)
        if self.count > 1:
            self._pool = self._new_pool()
        elif initializer is not None:
            initializer(*initargs)

    def _new_pool(self):
        import multiprocessing

        return multiprocessing.get_context("spawn").Pool(self.count, initializer=_start, initargs=self._start)

    def renew(self) -> None:
        """Fresh processes in place of these (after work that left each holding much memory
        it no longer needs: Python keeps what it freed); with one worker, nothing."""
        if self._pool is not None:
            self.close()
            self._pool = self._new_pool()

    def map(self, function: Callable[[Item], Result], items: Iterable[Item], batch: int = 1) -> Iterator[Result]:
        """``function`` of each item, in order. In processes, ``batch`` items travel as one task
        and at most two tasks per process are in flight, so the items are never all sent (or
        held) at once."""
        if self._pool is None:
            yield from map(function, items)
            return
        pending: deque = deque()
        source = iter(items)
        while chunk := list(islice(source, batch)):
            pending.append(self._pool.apply_async(_each, (function, chunk)))
            if len(pending) >= 2 * self.count:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()

    def later(self, function: Callable[[Item], Result], item: Item) -> Callable[[], Result]:
        """``function(item)`` begun now in a process (with one worker: here, when its result is
        asked); call what this returns for the result."""
        if self._pool is None:
            return partial(function, item)
        return self._pool.apply_async(function, (item,)).get

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is not None and self._pool is not None:
            self._pool.terminate()
        self.close()


def _start(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """A worker ignores Ctrl-C (this process stops it, and prints the one message), then
    starts as asked."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


def _each(function: Callable[[Item], Result], chunk: list[Item]) -> list[Result]:
    return [function(item) for item in chunk]


class _Pauses:
    """The open :func:`collector_paused` blocks of all threads: the collector is switched off by the
    first and back on (if it was on) by the last, so a server's threads that overlap never leave it off."""

    lock = threading.Lock()
    open = 0
    resume = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused (as it was after the last open pause of any thread
    ends): work that builds many objects meant to live on (a catalogue's offers, a shard's facts,
    the recommender's documents) otherwise has the collector scan them all again and again, which
    cost fusion a fifth of its time."""
    with _Pauses.lock:
        if _Pauses.open == 0:
            _Pauses.resume = gc.isenabled()
            gc.disable()
        _Pauses.open += 1
    try:
        yield
    finally:
        with _Pauses.lock:
            _Pauses.open -= 1
            if _Pauses.open == 0 and _Pauses.resume:
                gc.enable()
