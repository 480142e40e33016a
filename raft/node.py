"""`RaftNode`: the thread-safe API the layer above uses to replicate commands.

One RaftNode owns one Raft thread (the tick loop) that runs pysyncobj
(`Core`), the transport, the journal and the snapshot store; nothing else
touches them. Callers in other threads (an asyncio server) talk to it through
futures:

* `propose(command)` -> `concurrent.futures.Future` resolving to the state
  machine's return value, or failing with an error from raft/errors.py. A
  node only accepts proposals while it believes it leads.
* On leadership loss every proposal in flight fails at once with
  `TransactionResolutionUnknown` (08007) - it may still commit under the new
  leader - and queued, not yet appended ones with `NotLeader`; role-change
  callbacks then run (the SQL layer drops its row locks there).
* `lease_valid()` / `wait_lease()` / `read_index()` serve linearizable reads
  without touching the log (see raft/leadership.py for why the lease is safe).

The tick loop, in order: run calls queued for the Raft thread, expire
proposals past their deadline, pre-vote (`LeadershipGuard.before_tick`),
pysyncobj's tick (timers, commit, apply, send, compaction), lease refresh and
waiters, then `flush_outbox` (one fdatasync, then the sends) around the wait
for the network. Applying an entry flushes the journal first, so no entry is
applied before it is durable.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any, TypeVar

from quorumdb.storage.errors import AdminShutdown, QuorumError, TransactionResolutionUnknown

from .config import RaftConfig
from .errors import (
    EXIT_APPLY_FAILED,
    EXIT_TICK_FAILED,
    NotLeader,
    RequestDenied,
    error_for_fail_reason,
)
from .journal import DurableJournal
from .leadership import LeadershipGuard
from .pysyncobj_glue import FAIL_REASON, RAFT_STATE_NAMES, Core, clock
from .snapshot import SnapshotStore
from .state import StateMachine, halt

__all__ = ["RaftNode", "RaftStatus", "PeerStatus", "Role", "RoleChange"]

log = logging.getLogger("quorumdb.raft")

# The longest a turn of the tick loop takes when the process runs normally: a poll
# (tick_period), a bounded slice of applying (a heartbeat period), an fsync. Longer
# gaps between two checks of the quorum are this node's stall, excused to its members.
_STALL_ALLOWANCE = 0.3
_SLOW_TURN = 0.5  # a turn this long is logged with where the time went
# A Raft loop that has failed on every turn for this many maximum election timeouts
# stops the process: the member is silent (no heartbeats, no answers), and a
# leader in that state would keep accepting clients whose commits cannot happen.
_FAILING_TIMEOUTS = 2
T = TypeVar("T")


class Role(enum.Enum):
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEADER = "leader"


_ROLES = {state: Role(name) for state, name in RAFT_STATE_NAMES.items()}


@dataclass(frozen=True, slots=True)
class RoleChange:
    old: Role
    new: Role
    term: int
    leader: str | None  # as known at the moment of the change (may still be unknown)


@dataclass(frozen=True, slots=True)
class PeerStatus:
    address: str
    connected: bool
    match_index: int | None  # known on the leader only
    next_index: int | None


@dataclass(frozen=True, slots=True)
class RaftStatus:
    address: str
    role: Role
    term: int
    leader: str | None
    commit_index: int
    applied_index: int  # last log entry applied (including no-op and membership entries)
    state_machine_index: int  # the state machine's own applied index
    log_first_index: int
    log_last_index: int
    snapshot_index: int | None  # last log index covered by the current snapshot
    members: tuple[str, ...]
    peers: tuple[PeerStatus, ...]
    has_quorum: bool
    lease_valid: bool


@dataclass(slots=True)
class _Proposal:
    future: Future[Any]
    deadline: float


def _settle(future: Future[Any], result: object = None, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # already failed (leadership loss, timeout) or cancelled
        pass


class RaftNode:
    """A member of a Raft group replicating opaque commands into `state_machine`."""

    def __init__(self, config: RaftConfig, state_machine: StateMachine) -> None:
        self.config = config
        self._sm = state_machine
        self._clock = clock  # pysyncobj's: its election and heartbeat timers use it
        self._journal = DurableJournal(
            config.journal_dir, fsync=config.fsync, segment_bytes=config.journal_segment_bytes
        )
        self._store = SnapshotStore(
            config.snapshot_dir,
            state_machine,
            fsync=config.fsync,
            chunk_bytes=config.snapshot_chunk_bytes,
        )
        self._sm_applied = state_machine.applied_index()
        self._lock = threading.Lock()  # _inflight, _deadlines
        self._inflight: dict[int, _Proposal] = {}
        self._deadlines: list[tuple[float, int]] = []
        self._ids = itertools.count(1)
        self._calls: deque[Callable[[], None]] = deque()
        self._waiters: list[tuple[Callable[[], object], Future[Any], float]] = []
        self._role_callbacks: list[Callable[[RoleChange], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._role = Role.FOLLOWER
        try:
            self._core = Core(
                config,
                self._journal,
                self._store,
                applier=self._apply_entry,
                on_state_changed=self._on_state_changed,
                on_restored=self._on_restored,
                state_machine_index=lambda: self._sm_applied,
                window_bytes=config.replication_window_bytes,
            )
        except BaseException:
            self._journal.close()
            self._store.close()
            raise
        self._transport = self._core.transport()
        self._guard = LeadershipGuard(
            self._core,
            self._transport.send,
            min_timeout=config.election_timeout_min,
            max_timeout=config.election_timeout_max,
            lease_duration=config.effective_lease_duration,
            now=self._clock(),
        )
        self._transport.attach(self._journal, self._guard, self._clock)
        self._thread = threading.Thread(
            target=self._run, name=f"raft-{config.self_address}", daemon=True
        )
        self._thread.start()

    # ---- identity and role (any thread) -----------------------------------------

    @property
    def address(self) -> str:
        return self.config.self_address

    def role(self) -> Role:
        """This node's current role (a racy snapshot, like `is_leader`)."""
        return _ROLES[self._core.raft_state()]

    def term(self) -> int:
        return self._core.term()

    def is_leader(self) -> bool:
        return self._core.is_leader()

    def leader_address(self) -> str | None:
        return self._core.leader_address()

    def on_role_change(self, callback: Callable[[RoleChange], None]) -> Callable[[], None]:
        """Call `callback` on every role change, on the Raft thread: it must not block.

        Returns a function that unregisters it.
        """
        self._role_callbacks.append(callback)

        def remove() -> None:
            try:
                self._role_callbacks.remove(callback)
            except ValueError:
                pass

        return remove

    # ---- proposals (any thread) ---------------------------------------------------

    def propose(self, command: bytes, timeout: float | None = None) -> Future[Any]:
        """Replicate `command`; the future resolves to the state machine's result on this node.

        Fails with `NotLeader` (nothing appended; retry on the leader),
        `SerializationFailure` (appended but overwritten: definitely not
        committed) or `TransactionResolutionUnknown` (timeout or leadership lost
        while in flight: it may or may not commit).
        """
        future: Future[Any] = Future()
        if self._stop.is_set():
            _settle(future, error=AdminShutdown("the Raft node is shutting down"))
            return future
        if not self._core.is_leader():
            _settle(future, error=NotLeader(leader=self.leader_address()))
            return future
        wait = self.config.proposal_timeout if timeout is None else timeout
        pid = self._track(future, wait)
        self._core.propose(bytes(command), functools.partial(self._on_result, pid))
        return future

    async def propose_async(self, command: bytes, timeout: float | None = None) -> Any:
        """`propose` for asyncio callers: awaits without blocking the event loop."""
        return await asyncio.wrap_future(self.propose(command, timeout))

    def _track(self, future: Future[Any], timeout: float) -> int:
        pid = next(self._ids)
        deadline = self._clock() + timeout
        with self._lock:
            self._inflight[pid] = _Proposal(future, deadline)
            heapq.heappush(self._deadlines, (deadline, pid))
        return pid

    def _on_result(self, pid: int, result: object, reason: int) -> None:
        with self._lock:
            proposal = self._inflight.pop(pid, None)
        if proposal is None:
            return
        if reason == FAIL_REASON.SUCCESS:
            _settle(proposal.future, result)
        else:
            _settle(
                proposal.future, error=error_for_fail_reason(reason, leader=self.leader_address())
            )

    def _fail_inflight(self, error_factory: Callable[[], QuorumError]) -> None:
        with self._lock:
            proposals, self._inflight = self._inflight, {}
            self._deadlines.clear()
        for proposal in proposals.values():
            _settle(proposal.future, error=error_factory())

    def _expire(self, now: float) -> None:
        expired = []
        with self._lock:
            while self._deadlines and self._deadlines[0][0] <= now:
                _, pid = heapq.heappop(self._deadlines)
                proposal = self._inflight.pop(pid, None)
                if proposal is not None:
                    expired.append(proposal)
        for proposal in expired:
            _settle(
                proposal.future,
                error=TransactionResolutionUnknown("the commit timed out; its outcome is unknown"),
            )

    # ---- applying (Raft thread) ---------------------------------------------------------

    def _apply_entry(self, index: int, command: bytes) -> object:
        self._journal.flush()  # never apply what is not durable
        if index <= self._sm_applied:
            log.debug("entry %d skipped: the state machine is at %d", index, self._sm_applied)
            return None  # replayed after a restart: already in the state
        try:
            result = self._sm.apply(index, command)
        except BaseException:  # noqa: BLE001 - any escape means this replica may diverge
            halt(EXIT_APPLY_FAILED, f"applying log entry {index} raised")
        self._sm_applied = index
        return result

    def _on_restored(self) -> None:
        self._sm_applied = self._sm.applied_index()

    def _on_state_changed(self, old: int, new: int) -> None:
        old_role, new_role = _ROLES[old], _ROLES[new]
        self._role = new_role
        if old_role is Role.LEADER:
            # Not yet appended: definitely not committed, retry elsewhere. Appended: unknown.
            self._core.fail_queued()
            self._fail_inflight(
                lambda: TransactionResolutionUnknown(
                    "leadership was lost while the commit was in flight"
                )
            )
        self._guard.refresh(self._clock())
        change = RoleChange(old_role, new_role, self._core.term(), self._core.leader_address())
        if old_role is Role.LEADER and new_role is Role.FOLLOWER:
            # Why: a newer term (someone else won), or check quorum (no majority heard
            # from within leaderFallbackTimeout): say how long ago each member answered.
            log.warning(
                "%s: stepped down in term %d; last answers: %s", self.address, change.term,
                self._core.response_ages(self._clock()),
            )  # fmt: skip
        log.info(
            "%s: %s -> %s in term %d", self.address, old_role.value, new_role.value, change.term
        )
        for callback in list(self._role_callbacks):
            try:
                callback(change)
            except Exception:  # noqa: BLE001 - a subscriber's bug must not stop Raft
                log.exception("role change callback failed")

    # ---- linearizable reads (any thread) ------------------------------------------------

    def lease_valid(self) -> bool:
        """True while this node is certainly the only leader and has every committed entry."""
        return self._clock() < self._guard.lease_until

    def wait_lease(self, timeout: float) -> bool:
        if self.lease_valid():
            return True
        return bool(self._wait_for(self.lease_valid, timeout))

    async def wait_lease_async(self, timeout: float) -> bool:
        if self.lease_valid():
            return True
        return bool(await self._wait_for_async(self.lease_valid, timeout))

    def read_index(self, timeout: float) -> int:
        """Index a linearizable read may be served at: waits for the lease, then for this
        node to have applied the commit index it had at that moment. Raises NotLeader,
        also as soon as this node stops leading the term the read began in."""
        lease = self._lease_in_term(self._core.term())
        if self._wait_for(lease, timeout) is not True:
            raise NotLeader("no valid leader lease", leader=self.leader_address())
        target = self._core.commit_index()
        if not self._wait_for(lambda: self._core.last_applied() >= target, timeout):
            raise TransactionResolutionUnknown("timed out waiting to apply the commit index")
        return target

    async def read_index_async(self, timeout: float) -> int:
        """`read_index` for asyncio callers."""
        lease = self._lease_in_term(self._core.term())
        if await self._wait_for_async(lease, timeout) is not True:
            raise NotLeader("no valid leader lease", leader=self.leader_address())
        target = self._core.commit_index()
        if not await self._wait_for_async(lambda: self._core.last_applied() >= target, timeout):
            raise TransactionResolutionUnknown("timed out waiting to apply the commit index")
        return target

    def _lease_in_term(self, term: int) -> Callable[[], object]:
        """A waiter predicate: True once the lease holds in `term`, "lost" (ends the wait
        too) once this node no longer leads `term`. A read waiting for the lease must not
        outlive its leadership: if the node stepped down and was elected again, the
        client was told its session ends (57P01), and a deposed leader answers nothing."""

        def check() -> object:
            if self._core.term() != term or not self._core.is_leader():
                return "lost"
            return self.lease_valid()

        return check

    def wait_applied(self, index: int, timeout: float) -> bool:
        return bool(self._wait_for(lambda: self._core.last_applied() >= index, timeout))

    def applied_index(self) -> int:
        return self._core.last_applied()

    def commit_index(self) -> int:
        return self._core.commit_index()

    def leader_commit_index(self) -> int | None:
        """The leader's commit index as last heard from it (None before that): a follower
        whose commit index reached it has every entry the leader had committed then."""
        return self._core.leader_commit_index()

    def _wait_for(self, predicate: Callable[[], object], timeout: float) -> object:
        """The predicate's first truthy value (False after `timeout`)."""
        value = predicate()
        if value:
            return value
        future = self._add_waiter(predicate, timeout)
        try:
            return future.result(timeout + 1.0)
        except Exception:  # noqa: BLE001 - shutdown or timeout
            return False

    async def _wait_for_async(self, predicate: Callable[[], object], timeout: float) -> object:
        value = predicate()
        if value:
            return value
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(self._add_waiter(predicate, timeout)), timeout + 1.0
            )
        except Exception:  # noqa: BLE001
            return False

    def _add_waiter(self, predicate: Callable[[], object], timeout: float) -> Future[Any]:
        future: Future[Any] = Future()
        deadline = self._clock() + timeout
        self._calls.append(lambda: self._waiters.append((predicate, future, deadline)))
        self._core.wake()
        return future

    def _check_waiters(self, now: float) -> None:
        if not self._waiters:
            return
        keep = []
        for predicate, future, deadline in self._waiters:
            value = predicate()
            if value:
                _settle(future, value)
            elif now >= deadline or self._stop.is_set():
                _settle(future, False)
            else:
                keep.append((predicate, future, deadline))
        self._waiters = keep

    # ---- administration (any thread) ---------------------------------------------------

    def status(self, timeout: float = 5.0) -> RaftStatus:
        return self._in_tick(self._build_status).result(timeout)

    def transfer_leadership(
        self, to: str | None = None, timeout: float | None = None
    ) -> Future[str]:
        """Hand leadership to `to` (default: the most caught-up follower).

        The lease ends when the transfer starts. Resolves to the new leader's
        address once this node has stepped down and knows it; fails with
        NotLeader, or RequestDenied if no target caught up in time.
        """
        result: Future[str] = Future()
        wait = 2 * self.config.election_timeout_max if timeout is None else timeout
        deadline = self._clock() + wait
        started = False

        def attempt() -> None:
            nonlocal started
            if result.done():
                return
            now = self._clock()
            if not self._core.is_leader():
                leader = self._core.leader_address()
                if not started:
                    _settle(result, error=NotLeader(leader=leader))
                elif leader is not None and leader != self.address:
                    _settle(result, leader)
                elif now >= deadline:
                    _settle(result, error=RequestDenied("leadership transfer did not complete"))
                else:
                    self._calls.append(attempt)
                return
            if now >= deadline:
                self._guard.resume_lease(now)
                _settle(
                    result,
                    error=RequestDenied(f"no caught-up target for a transfer to {to or 'any'}"),
                )
                return
            outcome: list[int] = []
            self._guard.end_lease(now, deadline)
            self._core.transferLeadership(to, lambda _res, err: outcome.append(err))
            if outcome and outcome[0] == FAIL_REASON.SUCCESS:
                started = True  # TimeoutNow is queued; the target elects itself next
            else:
                self._guard.resume_lease(now)  # target not caught up yet: retry next tick
            self._calls.append(attempt)

        self._calls.append(attempt)
        self._core.wake()
        return result

    def add_member(self, address: str, timeout: float | None = None) -> Future[None]:
        """Add a node (one change at a time); resolves when the change is committed."""
        return self._membership(
            lambda cb: self._core.addNodeToCluster(address, callback=cb), timeout
        )

    def remove_member(self, address: str, timeout: float | None = None) -> Future[None]:
        """Remove a node (not this one: transfer leadership first); resolves when committed."""
        if address == self.address:
            future: Future[None] = Future()
            _settle(
                future,
                error=RequestDenied("a leader cannot remove itself; transfer leadership first"),
            )
            return future
        return self._membership(
            lambda cb: self._core.removeNodeFromCluster(address, callback=cb), timeout
        )

    def _membership(
        self, submit: Callable[[Callable[[object, int], None]], None], timeout: float | None
    ) -> Future[None]:
        future: Future[None] = Future()
        if not self._core.is_leader():
            _settle(future, error=NotLeader(leader=self.leader_address()))
            return future
        pid = self._track(future, self.config.proposal_timeout if timeout is None else timeout)
        submit(functools.partial(self._on_membership_result, pid))
        self._core.wake()
        return future

    def _on_membership_result(self, pid: int, _result: object, reason: int) -> None:
        self._on_result(pid, None, reason)

    # ---- lifecycle ----------------------------------------------------------------------

    def destroy(self) -> None:
        """Stop the Raft thread, close sockets, journal and snapshots. Idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        try:
            self._core.wake()
        except OSError:
            pass
        thread.join()

    def __enter__(self) -> RaftNode:
        return self

    def __exit__(self, *_: object) -> None:
        self.destroy()

    # ---- the Raft thread ------------------------------------------------------------------

    def _in_tick(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        if self._thread is threading.current_thread():
            future.set_result(fn())
            return future
        if self._stop.is_set():
            future.set_exception(AdminShutdown("the Raft node is shutting down"))
            return future

        def call() -> None:
            try:
                _settle(future, fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                _settle(future, error=exc)

        self._calls.append(call)
        self._core.wake()
        return future

    def _run(self) -> None:
        core, transport, guard, store = self._core, self._transport, self._guard, self._store
        failures = 0
        failing_since = 0.0
        next_info = 0.0
        last_tick = self._clock()
        while not self._stop.is_set():
            try:
                now = turn_start = self._clock()
                for _ in range(len(self._calls)):
                    self._calls.popleft()()
                if now >= next_info:
                    next_info = now + self.config.info_period
                    self._send_info()
                self._expire(now)
                guard.before_tick(now)
                if self._journal.bytes_size() > self.config.snapshot_bytes and not store.running():
                    core.forceLogCompaction()
                if self._journal.dirty:  # commit indexes may only count durable entries
                    self._journal.flush()
                # Check quorum runs in doTick: time this loop itself did not run (the
                # process starved of CPU, a slow fsync) is not the members' silence.
                tick_at = self._clock()
                stalled = tick_at - last_tick - _STALL_ALLOWANCE
                last_tick = tick_at
                if stalled > 0 and core.is_leader():
                    core.excuse_stall(stalled)
                core.doTick(0.0)
                guard.after_tick()
                now = self._clock()
                guard.refresh(now)
                self._check_waiters(now)
                transport.flush_outbox()
                polled = self._clock()
                core.poll(0.001 if store.sending() else self.config.tick_period)
                transport.flush_outbox()
                done = self._clock()
                if done - turn_start > _SLOW_TURN:
                    log.warning(
                        "%s: slow Raft turn %.2fs (before tick %.2fs, tick %.2fs, poll %.2fs)",
                        self.address, done - turn_start, tick_at - turn_start,
                        now - tick_at, done - polled,
                    )  # fmt: skip
                failures = 0
            except Exception:  # noqa: BLE001 - like pysyncobj's own loop: log, pause, go on
                failures += 1
                now = self._clock()
                if failures == 1:
                    failing_since = now
                if failures <= 3 or failures % 100 == 0:
                    log.exception("Raft tick failed (%d in a row)", failures)
                failing = now - failing_since
                if failures > 3 and failing > _FAILING_TIMEOUTS * self.config.election_timeout_max:
                    halt(
                        EXIT_TICK_FAILED,
                        f"the Raft loop failed on every turn for {failing:.1f}s "
                        f"({failures} in a row)",
                    )
                time.sleep(self.config.tick_period)
        self._shutdown()

    def _send_info(self) -> None:
        info = dict(self.config.info)
        for node in list(self._core.voting_peers()):
            self._transport.send(node, {"type": "node_info", "info": info})

    def member_info(self) -> dict[str, dict[str, str]]:
        """What each member advertises (its `RaftConfig.info`), by Raft address, self included.

        Peers are only known once they have sent their first node_info (every
        `info_period` seconds); a member not heard from yet is absent.
        """
        known = dict(self._transport.peer_info)
        known[self.address] = dict(self.config.info)
        return known

    def _shutdown(self) -> None:
        self._transport.discard_outbox()
        self._fail_inflight(lambda: TransactionResolutionUnknown("the Raft node stopped"))
        for _, future, _ in self._waiters:
            _settle(future, False)
        self._waiters = []
        for _ in range(len(self._calls)):  # once: a retrying call re-queues itself
            try:
                self._calls.popleft()()
            except Exception:  # noqa: BLE001
                log.exception("call during shutdown failed")
        self._calls.clear()
        try:
            self._core.destroy_now()
        finally:
            self._store.close()

    def _build_status(self) -> RaftStatus:
        core = self._core
        first, last = core.log_bounds()
        current = self._store.current()
        peers = tuple(PeerStatus(a, c, m, n) for a, c, m, n in core.peer_progress())
        return RaftStatus(
            address=self.address,
            role=_ROLES[core.raft_state()],
            term=core.term(),
            leader=core.leader_address(),
            commit_index=core.commit_index(),
            applied_index=core.last_applied(),
            state_machine_index=self._sm_applied,
            log_first_index=first,
            log_last_index=last,
            snapshot_index=current.last_index if current else None,
            members=tuple(sorted([self.address, *(p.address for p in peers)])),
            peers=peers,
            has_quorum=core.hasQuorum,
            lease_valid=self.lease_valid(),
        )
