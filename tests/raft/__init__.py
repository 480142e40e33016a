"""Tests of quorumdb.raft: unit tests, in-process clusters, and crash tests with processes."""
