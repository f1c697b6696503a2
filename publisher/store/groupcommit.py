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
    __slots__ = ("done", "error", "result", "wake", "work")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        #: held until this caller is woken: its write is committed, or it is to lead the next group
        self.wake = threading.Lock()
        self.wake.acquire()


class GroupCommit:
    """Queue of write transactions run by one leader at a time; see the module docstring.

    Each waiting caller sleeps on a lock of its own that the leader releases when that caller's write is
    committed (or when it is to lead next): a shared condition woke every waiter at each commit, and those
    wake-ups were a twentieth of a delivery's CPU at high rates.
    """

    def __init__(self, transaction: Callable[[Sequence[Work]], list[Any]]) -> None:
        #: runs the works in one transaction (with the store's lock retries); their results, in order
        self._transaction = transaction
        self._mutex = threading.Lock()
        self._queue: list[_Pending[Any]] = []
        self._busy = False
        self._leader: int | None = None

    def run(self, work: Callable[[Connection], T]) -> T:
        mine: _Pending[T] = _Pending(work)
        if self._leader == threading.get_ident():
            raise RuntimeError("a store write inside another store write would wait for itself")
        with self._mutex:
            self._queue.append(mine)
            lead = not self._busy
            self._busy = True
        if not lead:
            mine.wake.acquire()  # released when committed, or when handed the lead (not done yet)
        if not mine.done:
            self._lead(mine)
        if mine.error is not None:
            raise mine.error
        result: T = mine.result
        return result

    def _lead(self, mine: _Pending[Any]) -> None:
        """Commit everything queued so far as one group, wake its callers, hand the lead on or give it up."""
        self._leader = threading.get_ident()
        with self._mutex:
            batch, self._queue = self._queue, []
        try:
            self._commit(batch)  # marks every write of the batch done, with its result or error
        finally:
            self._leader = None
            with self._mutex:
                following = self._queue[0] if self._queue else None
                if following is None:
                    self._busy = False
            for pending in batch:
                if pending is not mine:
                    pending.wake.release()
            if following is not None:
                following.wake.release()  # not done: it leads the next group

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
