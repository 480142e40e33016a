"""The partitioning proxies (tests/chaos/proxy.py) against echo servers standing in for nodes.

A "node" here is an echo server; a client speaks as node `src` by sending the
first message pysyncobj would (its identity, length-prefixed, zlib-compressed
pickle) through the proxy in front of node `dst`.
"""

from __future__ import annotations

import pickle
import socket
import socketserver
import struct
import threading
import zlib
from collections.abc import Iterator

import pytest
from support import free_ports

from .proxy import Network, pg_source, raft_source

QUIET = 0.3  # how long "nothing arrives" is watched for


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def raft_hello(identity: str) -> bytes:
    payload = zlib.compress(pickle.dumps(identity), 3)
    return struct.pack("<i", len(payload)) + payload


def pg_startup(params: dict[str, str]) -> bytes:
    body = (
        struct.pack("!I", 196608)
        + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items())
        + b"\0"
    )
    return struct.pack("!I", len(body) + 4) + body


@pytest.fixture
def net() -> Iterator[tuple[Network, dict[int, int]]]:
    """Nodes 0 and 1: echo servers behind raft proxies; returns the proxy port of each."""
    network = Network()
    servers = []
    proxies: dict[int, int] = {}
    try:
        for node in (0, 1):
            server = _Server(("127.0.0.1", 0), _Echo)
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            servers.append(server)
            (proxy_port,) = free_ports(1)
            network.register(node, raft_identity=f"127.0.0.1:{proxy_port}", node_id=f"n{node}")
            network.proxy("raft", node, proxy_port, server.server_address)
            proxies[node] = proxy_port
        yield network, proxies
    finally:
        network.close()
        for server in servers:
            server.shutdown()
            server.server_close()


def connect_as(src: int, dst: int, proxies: dict[int, int]) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxies[dst]), timeout=5)
    sock.sendall(raft_hello(f"127.0.0.1:{proxies[src]}"))
    return sock


def receive(sock: socket.socket, n: int, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def nothing_arrives(sock: socket.socket) -> bool:
    """True if no byte (and no end of stream) arrives within QUIET seconds."""
    sock.settimeout(QUIET)
    try:
        sock.recv(1)
    except TimeoutError:
        return True
    return False


def closed_by_peer(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_sources_are_recognised_from_the_first_message():
    identities = {b"127.0.0.1:7001": 0, b"127.0.0.1:7002": 1}
    assert raft_source(raft_hello("127.0.0.1:7002"), identities) == 1
    assert raft_source(raft_hello("readonly"), identities) is None
    assert raft_source(b"\x05\x00\x00\x00garbage", identities) is None
    node_ids = {"n0": 0, "n1": 1}
    assert pg_source(pg_startup({"user": "u", "quorumdb.routed_from": "n1"}), node_ids) == 1
    assert pg_source(pg_startup({"user": "u"}), node_ids) is None


def test_an_open_link_carries_bytes_both_ways(net):
    network, proxies = net
    with connect_as(1, 0, proxies) as sock:
        hello = raft_hello(f"127.0.0.1:{proxies[1]}")
        assert receive(sock, len(hello)) == hello  # the echo of the identity message
        sock.sendall(b"ping")
        assert receive(sock, 4) == b"ping"


def test_a_stalled_link_delivers_nothing_until_healed_then_everything_in_order(net):
    network, proxies = net
    with connect_as(1, 0, proxies) as sock:
        hello = raft_hello(f"127.0.0.1:{proxies[1]}")
        receive(sock, len(hello))
        network.partition([{0}, {1}], "stall")
        sock.sendall(b"one,")
        sock.sendall(b"two")
        assert nothing_arrives(sock)
        network.heal()
        assert receive(sock, 7) == b"one,two"


def test_a_one_way_cut_stalls_only_its_direction(net):
    network, proxies = net
    with connect_as(1, 0, proxies) as sock:
        hello = raft_hello(f"127.0.0.1:{proxies[1]}")
        receive(sock, len(hello))
        network.cut([(0, 1)], "stall")  # node 0 cannot send to node 1; 1 -> 0 still works
        sock.sendall(b"echo me")
        assert nothing_arrives(sock)  # it reached the echo server, but the echo is held
        assert network.cut_links() == {(0, 1): "stall"}
        network.heal()
        assert receive(sock, 7) == b"echo me"


def test_a_reset_closes_connections_across_the_cut_and_refuses_new_ones(net):
    network, proxies = net
    with connect_as(1, 0, proxies) as sock:
        hello = raft_hello(f"127.0.0.1:{proxies[1]}")
        receive(sock, len(hello))
        network.partition([{0}, {1}], "reset")
        assert closed_by_peer(sock)
    with connect_as(1, 0, proxies) as again:
        assert closed_by_peer(again)  # closed right after it said who it is
    network.heal()
    with connect_as(1, 0, proxies) as healed:
        assert receive(healed, len(hello)) == hello


def test_connections_from_unknown_sources_are_never_cut(net):
    network, proxies = net
    network.partition([{0}, {1}], "reset")
    with socket.create_connection(("127.0.0.1", proxies[0]), timeout=5) as sock:
        hello = raft_hello("127.0.0.1:1")  # nobody we know
        sock.sendall(hello)
        assert receive(sock, len(hello)) == hello


def test_a_chaos_cluster_never_hands_a_port_out_twice(tmp_path, monkeypatch):
    # A node binds its ports only when it starts: bind(0) alone handed n1's PostgreSQL
    # port to n2's proxy once, and n1 could not start (a 60-second partition run).
    from . import cluster as chaos_cluster

    real = chaos_cluster.free_ports
    first: list[int] = []

    def repeating(n: int) -> list[int]:  # the second call repeats the first call's ports
        if not first:
            first.extend(real(n))
            return list(first)
        if len(first) == n:
            first.append(0)  # only once
            return list(first[:n])
        return real(n)

    monkeypatch.setattr(chaos_cluster, "free_ports", repeating)
    with Network() as network:
        cluster = chaos_cluster.ChaosCluster(str(tmp_path), network, 2)
        ports = [
            p
            for n in cluster.nodes
            for p in (n.pg_port, n.grpc_port, n.raft_port, n.http_port)
            + (n.raft_proxy_port, n.pg_proxy_port)
        ]
        assert len(set(ports)) == len(ports) == 12
