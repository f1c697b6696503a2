"""Group commit: the write transactions that this process's threads ask for at once share one commit.

With ``synchronous=FULL`` every SQLite commit waits for an fsync, and SQLite lets one writer in at a time;
threads that find the write lock taken sleep in SQLite's busy handler (1, 2, 5, 10 ms ...), however soon the
lock is free again. So on SQLite the store's writes queue here instead: the first thread to arrive (the
leader) takes every write queued so far, runs them one after another in one transaction and commits once;
the others wait on a condition and are woken the moment their write is committed. Each caller still returns
only after its own write is durable (the dispatcher's order of commits is unchanged), but four lanes that
finish together pay for one fsync, not four, and nobody sleeps on a busy lock.

When one write of a group raises, the group is rolled back and each write runs again in a transaction of its
own, so a failing write never takes the others down with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

T = TypeVar("T")
Work = Callable[[Connection], Any]


class _Pending(Generic[T]):
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """Queue of write transactions run by one leader at a time; see the module docstring."""

    def __init__(self, transaction: Callable[[Sequence[Work]], list[Any]]) -> None:
        #: runs the works in one transaction (with the store's lock retries); their results, in order
        self._transaction = transaction
        self._cond = threading.Condition()
        self._queue: list[_Pending[Any]] = []
        self._busy = False
        self._leader: int | None = None

    def run(self, work: Callable[[Connection], T]) -> T:
        mine: _Pending[T] = _Pending(work)
        if self._leader == threading.get_ident():
            raise RuntimeError("a store write inside another store write would wait for itself")
        with self._cond:
            self._queue.append(mine)
            while self._busy and not mine.done:
                self._cond.wait()
            if not mine.done:
                self._busy = True
                self._leader = threading.get_ident()
                batch, self._queue = self._queue, []
        if not mine.done:
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._leader = None
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        result: T = mine.result
        return result

    def _commit(self, batch: list[_Pending[Any]]) -> None:
        try:
            results = self._transaction([p.work for p in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for pending in batch:  # each alone: only the failing write fails
                    try:
                        (pending.result,) = self._transaction([pending.work])
                    except Exception as own:
                        pending.error = own
        except BaseException as exc:
            for pending in batch:
                pending.error = exc
                pending.done = True
            raise
        else:
            for pending, result in zip(batch, results, strict=True):
                pending.result = result
        for pending in batch:
            pending.done = True
