-- Autocommit INSERTs from concurrent clients (bench/pgbench.py SCRIPTS["insert"]):
-- the workload where group commit (several transactions per Raft entry) shows.
\set aid random(1, 100000 * :scale)
\set bid random(1, 1 * :scale)
\set tid random(1, 10 * :scale)
\set delta random(-5000, 5000)
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
