"""Raft replication for QuorumDB: an adapter over pysyncobj that replicates opaque
command bytes into a `StateMachine`, durably and with low latency.

raft/ knows nothing about SQL: commands are bytes, the state machine is a
four-method protocol (raft/state.py). Modules, bottom-up:

* ``state``       the StateMachine protocol and `halt` (stop rather than diverge)
* ``errors``      NotLeader & co, and the FAIL_REASON -> error mapping
* ``config``      RaftConfig, with the reasons behind every pysyncobj setting
* ``journal``     the fsynced, checksummed Raft log (replaces pysyncobj's)
* ``snapshot``    state-machine checkpoints: taken, streamed, installed
* ``leadership``  leader stickiness, pre-vote and the read lease (pure rules)
* ``transport``   TCP transport with a group-fsync outbox and the extra messages
* ``pysyncobj_glue``  the one module touching pysyncobj internals
* ``node``        RaftNode: the thread-safe API
"""

from __future__ import annotations

from .config import RaftConfig
from .errors import NotLeader, ProposalQueueFull, RequestDenied, error_for_fail_reason
from .node import PeerStatus, RaftNode, RaftStatus, Role, RoleChange
from .state import StateMachine, halt

__all__ = [
    "RaftConfig",
    "RaftNode",
    "RaftStatus",
    "PeerStatus",
    "Role",
    "RoleChange",
    "StateMachine",
    "NotLeader",
    "ProposalQueueFull",
    "RequestDenied",
    "error_for_fail_reason",
    "halt",
]
