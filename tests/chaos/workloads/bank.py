"""Bank workload: concurrent transfers between accounts, and reads of all balances.

A transfer is one explicit transaction::

    BEGIN;
    UPDATE chaos_accounts SET balance = balance - x WHERE id = a AND balance >= x;
    UPDATE chaos_accounts SET balance = balance + x WHERE id = b;
    INSERT INTO chaos_ledger VALUES (transfer id, a, b, x);
    COMMIT;

rolled back (a definite failure) when the debit matched no row. Reads are one
statement each - the sum, minimum and count of the balances, or all rows -
through the linearizable client or, for a share of them, through a stale-read
client on any replica: every consistent snapshot, anywhere, must have the
same total. Checked by checkers/bank.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import psycopg

from ..checkers.bank import check_bank
from ..client import Abort, Progress
from ..history import Op
from ..verdict import Verdict
from .base import Worker

__all__ = ["BankWorkload"]


class BankWorkload:
    name = "bank"

    def __init__(
        self,
        *,
        threads: int = 3,
        accounts: int = 5,
        initial_balance: int = 100,
        max_amount: int = 25,
    ) -> None:
        self.threads = threads
        self.accounts = accounts
        self.initial_balance = initial_balance
        self.max_amount = max_amount
        self._ids = itertools.count(1)

    def setup_statements(self) -> list[str]:
        rows = ", ".join(f"({i}, {self.initial_balance})" for i in range(self.accounts))
        return [
            "CREATE TABLE chaos_accounts (id INT PRIMARY KEY, balance INT NOT NULL)",
            "CREATE TABLE chaos_ledger (id INT PRIMARY KEY, src INT NOT NULL, dst INT NOT NULL, "
            "amount INT NOT NULL)",
            f"INSERT INTO chaos_accounts VALUES {rows}",
        ]

    def operate(self, worker: Worker) -> Op | None:
        roll = worker.rng.random()
        if roll < 0.7:
            return self._transfer(worker)
        stale = roll >= 0.9
        client = worker.stale_client if stale else worker.client
        whole = worker.rng.random() < 0.5
        return client.perform(
            worker.recorder, "read", {"stale": stale}, lambda conn, _: _read(conn, whole=whole)
        )

    def _transfer(self, worker: Worker) -> Op | None:
        rng = worker.rng
        src, dst = rng.sample(range(self.accounts), 2)
        transfer = {
            "id": next(self._ids),
            "from": src,
            "to": dst,
            "amount": rng.randint(1, self.max_amount),
        }

        def body(conn: psycopg.Connection[Any], progress: Progress) -> None:
            x = transfer["amount"]
            conn.execute("BEGIN")
            debit = conn.execute(
                f"UPDATE chaos_accounts SET balance = balance - {x} WHERE id = {src} AND balance >= {x}"
            )
            if debit.rowcount != 1:
                conn.execute("ROLLBACK")
                raise Abort("insufficient funds")
            conn.execute(f"UPDATE chaos_accounts SET balance = balance + {x} WHERE id = {dst}")
            conn.execute(f"INSERT INTO chaos_ledger VALUES ({transfer['id']}, {src}, {dst}, {x})")
            progress.committing = True
            tag = conn.execute("COMMIT").statusmessage
            if tag != "COMMIT":
                raise Abort(f"COMMIT answered {tag}")

        return worker.client.perform(worker.recorder, "transfer", transfer, body, committing=False)

    def final_read(self, conn: psycopg.Connection[Any]) -> Any:
        balances = conn.execute("SELECT id, balance FROM chaos_accounts").fetchall()
        ledger = conn.execute("SELECT id, src, dst, amount FROM chaos_ledger").fetchall()
        return {"balances": [list(r) for r in balances], "ledger": [list(r) for r in ledger]}

    def check(self, ops: list[Op]) -> Verdict:
        return check_bank(ops, accounts=self.accounts, initial_balance=self.initial_balance)


def _read(conn: psycopg.Connection[Any], *, whole: bool) -> dict[str, Any]:
    if whole:
        rows = conn.execute("SELECT id, balance FROM chaos_accounts ORDER BY id").fetchall()
        return {"balances": [list(r) for r in rows]}
    row = conn.execute("SELECT sum(balance), min(balance), count(*) FROM chaos_accounts").fetchone()
    assert row is not None
    total, low, count = (None if v is None else int(v) for v in row)
    return {"total": total, "min": low, "count": count}
