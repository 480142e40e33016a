"""Cancelling running statements, and running long queries off the event loop.

Statements run inline on the asyncio loop: an ordinary statement (a key
lookup, an insert of a few rows) costs far less than a thread hop. A query
the session marks as *long* (`quorumdb.sql.client.OffloadedRows`: a scan,
sort, aggregate, join, ... anything whose cost is not bounded by its plan)
has its rows pulled by `QueryWorkers`, a small thread pool, in batches of
about `_FLUSH_BYTES` of output, so the loop keeps serving other sessions and
CancelRequests while it runs.

`CancelState` is per connection. A CancelRequest (`request`) marks the
running statement cancelled; it ends with 57014 "canceling statement due to
user request" at the first of:

* the next batch boundary (rows are checked between batches and rows);
* inside a batch on a worker thread: the cancel is raised *in that thread*
  (`PyThreadState_SetAsyncExc`), so even one long step (an aggregate over a
  big table) stops at its next bytecode;
* a lock wait: the connection's task is cancelled while it waits and the
  cancellation is reported as 57014 (pgserver does the conversion).

Invariants:

* An asynchronous exception is only ever aimed at a thread while it runs a
  batch for *this* connection (`_thread` is set and cleared under `_lock`),
  and a pending one is cleared before the thread leaves the batch, so it can
  never hit another connection's work or the pool's own code.
* A cancel that arrives when nothing runs is forgotten at the next statement
  (PostgreSQL: a cancel request is not queued).
"""

from __future__ import annotations

import asyncio
import ctypes
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from quorumdb.storage.errors import QueryCanceled

__all__ = ["StatementCanceled", "CancelState", "QueryWorkers"]

_raise_in = ctypes.pythonapi.PyThreadState_SetAsyncExc
_raise_in.argtypes = (ctypes.c_ulong, ctypes.py_object)
_raise_in.restype = ctypes.c_int
# The same C function, declared again to pass NULL ("clear the pending exception").
_clear_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)


class StatementCanceled(QueryCanceled):
    """57014, raised into the statement (also asynchronously, hence no required args)."""

    def __init__(self, message: str = "canceling statement due to user request", **kw: Any) -> None:
        super().__init__(message, **kw)


class CancelState:
    """Whether the running statement of one connection is cancelled, and where it runs."""

    __slots__ = ("requested", "_lock", "_thread", "waiting_task")

    def __init__(self) -> None:
        self.requested = False
        self._lock = threading.Lock()
        self._thread: int | None = None  # the worker thread running our batch, if any
        self.waiting_task: asyncio.Task[Any] | None = None  # cancelled if it waits on a lock

    def begin(self) -> None:
        """A new statement starts: an earlier, unanswered cancel no longer applies."""
        self.requested = False

    def request(self) -> None:
        """A CancelRequest for this connection (called on the loop)."""
        self.requested = True
        with self._lock:
            if self._thread is not None:
                _raise_in(self._thread, StatementCanceled)

    def check(self) -> None:
        if self.requested:
            raise StatementCanceled()

    def run_batch(self, work: Callable[[], Any]) -> Any:
        """Run `work` on the calling (worker) thread, cancellable from the loop."""
        me = threading.get_ident()
        try:
            with self._lock:
                if self.requested:
                    raise StatementCanceled()
                self._thread = me
            return work()
        finally:
            while True:
                try:
                    self._leave(me)
                    break
                except StatementCanceled:
                    # A cancel landed while leaving: the batch is over; `requested` stays
                    # set, so the statement is cancelled at its next check.
                    continue

    def _leave(self, me: int) -> None:
        with self._lock:
            self._thread = None
            _clear_in(me, None)  # drop a cancel that has not landed yet


class QueryWorkers:
    """The threads that pull rows of long queries (see the module docstring).

    Daemon threads fed by a queue (not a ThreadPoolExecutor, whose threads the
    interpreter waits for at exit): a query still running when the server stops
    never holds the process up."""

    def __init__(self, threads: int = 4) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Callable[[Any, BaseException | None], None]] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"qdb-query-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            work, done = job
            try:
                result = work()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting statement
                done(None, exc)
            else:
                done(result, None)

    async def batch(
        self,
        cancel: CancelState,
        rows: Iterator[tuple[object, ...]],
        encode: Callable[[tuple[object, ...]], bytes],
        max_bytes: int,
    ) -> tuple[list[bytes], bool]:
        """Pull and encode rows until `max_bytes` of output; (messages, exhausted).

        If the waiting task is cancelled (the server stops), the batch is cancelled too."""

        def pull() -> tuple[list[bytes], bool]:
            out: list[bytes] = []
            size = 0
            for row in rows:
                data = encode(row)
                out.append(data)
                size += len(data)
                if size >= max_bytes:
                    return out, False
            return out, True

        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[list[bytes], bool]] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)

        def done(result: Any, error: BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

        self._jobs.put((lambda: cancel.run_batch(pull), done))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.request()  # stop the worker; it ends on its own
            raise

    def shutdown(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
