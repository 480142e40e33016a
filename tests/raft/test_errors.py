"""FAIL_REASON -> error mapping: what a caller may conclude about a failed proposal."""

from __future__ import annotations

import pytest
from pysyncobj import FAIL_REASON

from quorumdb.raft import NotLeader, ProposalQueueFull, RequestDenied, error_for_fail_reason
from quorumdb.storage.errors import SerializationFailure, TransactionResolutionUnknown


@pytest.mark.parametrize(
    ("reason", "error", "sqlstate"),
    [
        (FAIL_REASON.NOT_LEADER, NotLeader, "25006"),  # not appended: retry on the leader
        (FAIL_REASON.MISSING_LEADER, NotLeader, "25006"),
        (FAIL_REASON.QUEUE_FULL, ProposalQueueFull, "53000"),  # not appended: retry later
        (FAIL_REASON.DISCARDED, SerializationFailure, "40001"),  # definitely not committed
        (FAIL_REASON.LEADER_CHANGED, TransactionResolutionUnknown, "08007"),  # may commit
        (FAIL_REASON.UNKNOWN_OUTCOME, TransactionResolutionUnknown, "08007"),
        (FAIL_REASON.REQUEST_DENIED, RequestDenied, "55000"),
        (99, TransactionResolutionUnknown, "08007"),  # anything new: assume the worst
    ],
)
def test_fail_reasons_map_to_what_the_caller_may_conclude(reason, error, sqlstate):
    exc = error_for_fail_reason(reason, leader="10.0.0.1:7432")
    assert type(exc) is error and exc.sqlstate == sqlstate


def test_not_leader_carries_the_leader_hint():
    exc = error_for_fail_reason(FAIL_REASON.NOT_LEADER, leader="10.0.0.1:7432")
    assert isinstance(exc, NotLeader) and exc.leader == "10.0.0.1:7432"
    assert "10.0.0.1:7432" in (exc.hint or "")
