"""A RaftNode in its own process, driven over a tiny line-JSON control socket.

Run by tests/raft/procs.py::ProcNode; not a product entry point. Requests
(one JSON object per line, one reply per line):

    {"op": "status"}                       role, term, leader, indices, lease
    {"op": "propose", "command": str}      {"index": n} or {"error": name, "sqlstate": code}
    {"op": "items"}                        the key-value state
    {"op": "log"}                          every applied entry [[index, command], ...]
    {"op": "lease_history"}                [[from, to], ...] intervals the lease was held
                                           (pysyncobj's clock, sampled every millisecond)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socketserver
import sys
import threading
import time

sys.path[:0] = [os.path.dirname(__file__), os.path.dirname(os.path.dirname(__file__))]

from kvsm import KVStateMachine, Rejected  # noqa: E402

from quorumdb.raft import RaftConfig, RaftNode  # noqa: E402
from quorumdb.raft.pysyncobj_glue import clock  # noqa: E402
from quorumdb.storage.errors import QuorumError  # noqa: E402


class LeaseRecorder(threading.Thread):
    def __init__(self, node: RaftNode) -> None:
        super().__init__(daemon=True)
        self.node = node
        self.intervals: list[list[float]] = []
        self._open: list[float] | None = None

    def run(self) -> None:
        while True:
            now = clock()
            if self.node.lease_valid():
                if self._open is None:
                    self._open = [now, now]
                    self.intervals.append(self._open)
                self._open[1] = now
            else:
                self._open = None
            time.sleep(0.001)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--peers", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--snapshot-entries", type=int, default=50_000)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("RAFT_DEBUG") else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s.%(msecs)03d %(process)d %(threadName)s %(name)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    config = RaftConfig(
        self_address=args.address,
        peers=tuple(args.peers.split(",")),
        data_dir=os.path.join(args.data, "raft"),
        fsync=not args.no_fsync,
        bind_address=args.address,
        snapshot_entries=args.snapshot_entries,
        snapshot_chunk_bytes=16 << 10,
    )
    sm = KVStateMachine(os.path.join(args.data, "sm"))
    logging.getLogger("quorumdb.raft").info("starting: state machine at %d", sm.applied_index())
    node = RaftNode(config, sm)
    recorder = LeaseRecorder(node)
    recorder.start()

    def handle(request: dict) -> dict:
        op = request["op"]
        if op == "status":
            s = node.status()
            return {
                "role": s.role.value,
                "term": s.term,
                "leader": s.leader,
                "commit": s.commit_index,
                "applied": s.applied_index,
                "sm_applied": s.state_machine_index,
                "first": s.log_first_index,
                "last": s.log_last_index,
                "snapshot": s.snapshot_index,
                "lease": s.lease_valid,
                "clock": clock(),
            }
        if op == "propose":
            try:
                result = node.propose(
                    request["command"].encode(), timeout=request.get("timeout", 5.0)
                ).result(30)
            except QuorumError as exc:
                return {"error": type(exc).__name__, "sqlstate": exc.sqlstate}
            if isinstance(result, Rejected):
                return {"rejected": result.reason}
            return {"index": result}
        if op == "items":
            return {"items": {k.decode(): v.decode() for k, v in sm.items().items()}}
        if op == "log":
            return {"log": [[i, c.decode()] for i, c in sm.log()], "digest": sm.digest()}
        if op == "lease_history":
            return {"intervals": [list(i) for i in recorder.intervals], "clock": clock()}
        return {"error": f"unknown op {op}"}

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                try:
                    reply = handle(json.loads(line))
                except Exception as exc:  # noqa: BLE001 - reported to the test
                    reply = {"error": type(exc).__name__, "message": str(exc)}
                self.wfile.write(json.dumps(reply).encode() + b"\n")
                self.wfile.flush()

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", args.control_port), Handler)
    print("ready", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        node.destroy()
        sm.close()


if __name__ == "__main__":
    main()
