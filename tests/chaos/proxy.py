"""`Network`: TCP proxies between the nodes, whose links can be cut per direction.

Every node's Raft port (and the PostgreSQL port it advertises to the other
nodes for relaying clients to the leader) sits behind a proxy owned by the
test: each node advertises the proxy's address, so every byte one node sends
another passes through a proxy. A proxy knows the destination (the node it
fronts) and learns the source from the first message of a connection:

* Raft (pysyncobj): the connecting node first sends its own address - its
  identity, which is its proxy's address - as one length-prefixed, zlib
  compressed pickle; the proxy looks for the known identities in it (it does
  not unpickle anything).
* PostgreSQL relays: the startup packet of a relayed connection carries
  ``quorumdb.routed_from`` = the relaying node's id.

A connection whose source is not recognised (a test's own client) is never
cut. A cut link src -> dst either *stalls* (the proxy stops forwarding in that
direction; what was sent is delivered in order after the heal, as TCP does
across a real partition) or *resets* (connections across the link are closed,
and new ones are closed right after they identify themselves).

The proxies run on one asyncio loop in a daemon thread; `close` stops them
and every connection. All methods are thread-safe.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import zlib
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Network", "Link", "raft_source", "pg_source"]

T = TypeVar("T")
Link = tuple[int, int]  # (source node, destination node)
_CHUNK = 64 << 10


def raft_source(first: bytes, identities: dict[bytes, int]) -> int | None:
    """The node that sent pysyncobj's first message `first` (length prefix included)."""
    try:
        payload = zlib.decompress(first[4:])
    except zlib.error:
        return None
    for identity, node in identities.items():
        if identity in payload:
            return node
    return None


def pg_source(first: bytes, node_ids: dict[str, int]) -> int | None:
    """The node that relayed a PostgreSQL connection, from its startup packet."""
    words = first[8:].split(b"\0")
    params = dict(zip(words[0::2], words[1::2], strict=False))
    origin = params.get(b"quorumdb.routed_from")
    return None if origin is None else node_ids.get(origin.decode(errors="replace"))


async def _read_raft_first(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(4)
    (length,) = struct.unpack("<i", head)
    if not 0 < length < 1 << 20:
        return head
    return head + await reader.readexactly(length)


async def _read_pg_first(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(4)
    (length,) = struct.unpack("!I", head)
    if not 8 <= length < 1 << 16:
        return head
    return head + await reader.readexactly(length - 4)


@dataclass(eq=False)
class _Pipe:
    """One proxied connection."""

    src: int | None
    dst: int
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def close(self) -> None:
        for writer in self.writers:
            writer.transport.abort()


class Network:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="chaos-network", daemon=True
        )
        self._thread.start()
        self._cut: dict[Link, str] = {}  # link -> "stall" | "reset"
        self._changed: asyncio.Event | None = None
        self._servers: list[asyncio.Server] = []
        self._pipes: set[_Pipe] = set()
        self.raft_identities: dict[bytes, int] = {}
        self.node_ids: dict[str, int] = {}
        self._closed = False

    # ---- setup ---------------------------------------------------------------------

    def _call(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run the coroutine function `fn` on the proxies' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(timeout=10)

    def register(self, node: int, *, raft_identity: str, node_id: str) -> None:
        """Tell the proxies how `node` identifies itself on Raft and in relays."""
        self.raft_identities[raft_identity.encode()] = node
        self.node_ids[node_id] = node

    def proxy(self, kind: str, dst: int, listen_port: int, target: tuple[str, int]) -> None:
        """Start a proxy on 127.0.0.1:`listen_port` in front of node `dst` at `target`.

        `kind` is "raft" or "pg" (how the source of a connection is recognised)."""
        if kind not in ("raft", "pg"):
            raise ValueError(kind)

        async def start() -> None:
            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await self._serve(kind, dst, target, reader, writer)

            server = await asyncio.start_server(
                handle, "127.0.0.1", listen_port, reuse_address=True
            )
            self._servers.append(server)

        self._call(start)

    # ---- faults --------------------------------------------------------------------

    def cut(self, links: Iterable[Link], mode: str = "stall") -> None:
        """Cut each directed link (src, dst); `mode` is "stall" or "reset"."""
        if mode not in ("stall", "reset"):
            raise ValueError(mode)
        links = list(links)

        async def apply() -> None:
            for link in links:
                self._cut[link] = mode
            for pipe in list(self._pipes):
                if "reset" in (self._mode(pipe.src, pipe.dst), self._mode(pipe.dst, pipe.src)):
                    pipe.close()
            self._notify()

        self._call(apply)

    def partition(self, groups: Iterable[Iterable[int]], mode: str = "stall") -> None:
        """Cut every link between nodes of different groups, both ways (others stay up)."""
        sets = [set(g) for g in groups]
        links = [
            (a, b)
            for i, ga in enumerate(sets)
            for j, gb in enumerate(sets)
            if i != j
            for a in ga
            for b in gb
        ]
        self.cut(links, mode)

    def heal(self) -> None:
        async def apply() -> None:
            self._cut.clear()
            self._notify()

        self._call(apply)

    def cut_links(self) -> dict[Link, str]:
        async def read() -> dict[Link, str]:
            return dict(self._cut)

        return self._call(read)

    def _mode(self, src: int | None, dst: int | None) -> str | None:
        if src is None or dst is None:
            return None
        return self._cut.get((src, dst))

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
        self._changed = None

    async def _until_open(self, src: int | None, dst: int) -> None:
        while src is not None and (src, dst) in self._cut:
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    # ---- forwarding -----------------------------------------------------------------

    async def _serve(
        self,
        kind: str,
        dst: int,
        target: tuple[str, int],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        pipe = _Pipe(None, dst, [writer])
        self._pipes.add(pipe)
        try:
            try:
                if kind == "raft":
                    first = await _read_raft_first(reader)
                    pipe.src = raft_source(first, self.raft_identities)
                else:
                    first = await _read_pg_first(reader)
                    pipe.src = pg_source(first, self.node_ids)
            except (asyncio.IncompleteReadError, OSError):
                return
            if "reset" in (self._mode(pipe.src, dst), self._mode(dst, pipe.src)):
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*target)
            except OSError:
                return
            pipe.writers.append(up_writer)
            forward = asyncio.ensure_future(self._pump(first, reader, up_writer, pipe.src, dst))
            backward = asyncio.ensure_future(self._pump(b"", up_reader, writer, dst, pipe.src))
            try:
                await asyncio.wait({forward, backward}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (forward, backward):
                    task.cancel()
                await asyncio.gather(forward, backward, return_exceptions=True)
        finally:
            self._pipes.discard(pipe)
            pipe.close()

    async def _pump(
        self,
        first: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        src: int | None,
        dst: int | None,
    ) -> None:
        data = first
        while True:
            if data:
                if src is not None and dst is not None:
                    await self._until_open(src, dst)
                writer.write(data)
                await writer.drain()
            try:
                data = await reader.read(_CHUNK)
            except OSError:
                return
            if not data:
                return

    # ---- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop every proxy and connection, then the loop. Idempotent."""
        if self._closed:
            return
        self._closed = True

        async def shutdown() -> None:
            for server in self._servers:
                server.close()
            for pipe in list(self._pipes):
                pipe.close()
            self._cut.clear()
            self._notify()
            for server in self._servers:
                await server.wait_closed()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self._call(shutdown)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
