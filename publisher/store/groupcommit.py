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

``submit`` queues a write without waiting for it: it is committed with the next group that any caller leads
(in queue order, so before any write queued after it), and ``settle`` returns its result, leading a commit
if none is under way. The dispatcher queues a delivery's result this way and lets the lane's next "sending"
write commit both with one fsync (``Dispatcher._lane``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

T = TypeVar("T")
Work = Callable[[Connection], Any]


class Ticket(Generic[T]):
    """A queued write: its result once committed (``GroupCommit.settle``)."""

    __slots__ = ("done", "error", "result", "waiting", "wake", "work")

    def __init__(self, work: Callable[[Connection], T], *, waiting: bool) -> None:
        self.work = work
        #: a caller sleeps on ``wake`` for it (only such a write may be handed the lead)
        self.waiting = waiting
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
        self._queue: list[Ticket[Any]] = []
        self._busy = False
        self._leader: int | None = None

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in the next group; returns once it is committed."""
        self._not_leading()
        mine: Ticket[T] = Ticket(work, waiting=True)
        with self._mutex:
            self._queue.append(mine)
            lead = not self._busy
            self._busy = True
        return self._wait(mine, lead)

    def submit(self, work: Callable[[Connection], T]) -> Ticket[T]:
        """Queue ``work`` for the next group without waiting: not durable until ``settle`` returns (or a
        write queued after it has been committed)."""
        ticket: Ticket[T] = Ticket(work, waiting=False)
        with self._mutex:
            self._queue.append(ticket)
        return ticket

    def settle(self, ticket: Ticket[T]) -> T:
        """The result of a ``submit``-ted write once it is committed; leads a commit if nobody does."""
        self._not_leading()
        with self._mutex:
            if ticket.done:
                lead = None
            else:
                ticket.waiting = True
                lead = not self._busy
                self._busy = True
        if lead is None:
            return self._outcome(ticket)
        return self._wait(ticket, lead)

    def _not_leading(self) -> None:
        if self._leader == threading.get_ident():
            raise RuntimeError("a store write inside another store write would wait for itself")

    def _wait(self, mine: Ticket[T], lead: bool) -> T:
        if not lead:
            mine.wake.acquire()  # released when committed, or when handed the lead (not done yet)
        if not mine.done:
            self._lead(mine)
        return self._outcome(mine)

    @staticmethod
    def _outcome(ticket: Ticket[T]) -> T:
        if ticket.error is not None:
            raise ticket.error
        result: T = ticket.result
        return result

    def _lead(self, mine: Ticket[Any]) -> None:
        """Commit everything queued so far as one group, wake its callers, hand the lead on or give it up."""
        self._leader = threading.get_ident()
        with self._mutex:
            batch, self._queue = self._queue, []
        try:
            self._commit(batch)  # marks every write of the batch done, with its result or error
        finally:
            self._leader = None
            with self._mutex:
                # the next leader: the first queued write whose caller waits (a submitted one waits for
                # the next caller, or for its ``settle``)
                following = next((t for t in self._queue if t.waiting), None)
                if following is None:
                    self._busy = False
            for pending in batch:
                if pending is not mine:
                    pending.wake.release()
            if following is not None:
                following.wake.release()  # not done: it leads the next group

    def _commit(self, batch: list[Ticket[Any]]) -> None:
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
