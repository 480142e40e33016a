"""`quorumdb serve` configuration: flags, QUORUMDB_* variables, precedence, usage errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from support import QUORUMDB

from quorumdb.node import config as cfg
from quorumdb.node.config import Address, ConfigError, parse_serve_args
from quorumdb.node.devcluster import layout


def test_defaults():
    c = parse_serve_args(["--data-dir", "/tmp/x"], environ={})
    assert c.data_dir == Path("/tmp/x")
    assert c.storage_dir == Path("/tmp/x/store")
    assert c.raft_dir == Path("/tmp/x/raft")
    assert c.raft_advertise == c.raft_listen and c.pg_advertise == c.pg_listen
    assert c.pg_listen == Address("127.0.0.1", 5432)
    assert c.grpc_listen == Address("127.0.0.1", 6432)
    assert c.raft_listen == Address("127.0.0.1", 7432)
    assert c.http_listen == Address("127.0.0.1", 8432)
    assert c.peers == ()
    assert c.join is False
    assert c.fsync is True
    assert c.node_id == "127.0.0.1:7432"  # derived from the Raft address
    assert c.max_connections == 100
    assert (c.log_level, c.log_format) == ("info", "text")
    assert c.event_loop == "uvloop"
    assert not c.clustered


def test_every_flag_reads_its_environment_variable():
    env = {
        "QUORUMDB_DATA_DIR": "/data/n1",
        "QUORUMDB_PG_LISTEN": "0.0.0.0:15432",
        "QUORUMDB_GRPC_LISTEN": "0.0.0.0:16432",
        "QUORUMDB_RAFT_LISTEN": "10.0.0.1:17432",
        "QUORUMDB_HTTP_LISTEN": "0.0.0.0:18432",
        "QUORUMDB_PG_ADVERTISE": "n1.example:15432",
        "QUORUMDB_GRPC_ADVERTISE": "n1.example:16432",
        "QUORUMDB_RAFT_ADVERTISE": "n1.example:17432",
        "QUORUMDB_HTTP_ADVERTISE": "n1.example:18432",
        "QUORUMDB_SNAPSHOT_ENTRIES": "1000",
        "QUORUMDB_PEER": "10.0.0.2:7432, 10.0.0.3:7432",
        "QUORUMDB_JOIN": "true",
        "QUORUMDB_FSYNC": "false",
        "QUORUMDB_GROUP_COMMIT": "false",
        "QUORUMDB_EVENT_LOOP": "asyncio",
        "QUORUMDB_NODE_ID": "n1",
        "QUORUMDB_MAX_CONNECTIONS": "7",
        "QUORUMDB_AUTH": "scram",
        "QUORUMDB_SUPERUSER": "admin",
        "QUORUMDB_SUPERUSER_PASSWORD": "s3cret",
        "QUORUMDB_TLS_CERT": "/etc/qdb/server.crt",
        "QUORUMDB_TLS_KEY": "/etc/qdb/server.key",
        "QUORUMDB_LOG_LEVEL": "DEBUG",
        "QUORUMDB_LOG_FORMAT": "json",
    }
    assert {o.env for o in cfg.OPTIONS} == set(env)
    c = parse_serve_args([], environ=env)
    assert c.data_dir == Path("/data/n1")
    assert c.pg_listen == Address("0.0.0.0", 15432)
    assert c.grpc_listen == Address("0.0.0.0", 16432)
    assert c.raft_listen == Address("10.0.0.1", 17432)
    assert c.http_listen == Address("0.0.0.0", 18432)
    assert c.raft_advertise == Address("n1.example", 17432)
    assert c.pg_advertise == Address("n1.example", 15432)
    assert c.snapshot_entries == 1000
    assert c.peers == (Address("10.0.0.2", 7432), Address("10.0.0.3", 7432))
    assert c.join is True
    assert c.fsync is False
    assert c.group_commit is False
    assert c.event_loop == "asyncio"
    assert c.node_id == "n1"
    assert c.max_connections == 7
    assert (c.auth, c.superuser, c.superuser_password) == ("scram", "admin", "s3cret")
    assert (c.tls_cert, c.tls_key) == (Path("/etc/qdb/server.crt"), Path("/etc/qdb/server.key"))
    assert (c.log_level, c.log_format) == ("debug", "json")
    assert c.clustered


def test_command_line_wins_over_environment():
    env = {
        "QUORUMDB_DATA_DIR": "/env",
        "QUORUMDB_PG_LISTEN": "127.0.0.1:1111",
        "QUORUMDB_PEER": "10.0.0.9:7432",
        "QUORUMDB_FSYNC": "false",
        "QUORUMDB_MAX_CONNECTIONS": "3",
    }
    c = parse_serve_args(
        [
            "--data-dir", "/cli",
            "--pg-listen", "127.0.0.1:2222",
            "--peer", "10.0.0.2:7432",
            "--peer", "10.0.0.3:7432",
            "--fsync",
            "--max-connections", "9",
        ],
        environ=env,
    )  # fmt: skip
    assert c.data_dir == Path("/cli")
    assert c.pg_listen.port == 2222
    assert c.peers == (Address("10.0.0.2", 7432), Address("10.0.0.3", 7432))
    assert c.fsync is True
    assert c.max_connections == 9
    assert parse_serve_args(["--no-fsync"], environ={"QUORUMDB_DATA_DIR": "/d"}).fsync is False


def test_empty_environment_variables_are_ignored():
    c = parse_serve_args(
        ["--data-dir", "/d"], environ={"QUORUMDB_PG_LISTEN": " ", "QUORUMDB_PEER": ""}
    )
    assert c.pg_listen.port == 5432
    assert c.peers == ()


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"QUORUMDB_PG_LISTEN": "nonsense"}, "QUORUMDB_PG_LISTEN"),
        ({"QUORUMDB_MAX_CONNECTIONS": "0"}, "QUORUMDB_MAX_CONNECTIONS"),
        ({"QUORUMDB_FSYNC": "maybe"}, "QUORUMDB_FSYNC"),
        ({"QUORUMDB_LOG_FORMAT": "xml"}, "QUORUMDB_LOG_FORMAT"),
        ({"QUORUMDB_PEER": "10.0.0.2:7432,bad"}, "QUORUMDB_PEER"),
        ({"QUORUMDB_GRPC_LISTEN": "127.0.0.1:5432"}, "both use 127.0.0.1:5432"),
    ],
)
def test_invalid_environment_is_reported_by_name(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_serve_args(["--data-dir", "/d"], environ=env)


def test_data_dir_is_required():
    with pytest.raises(ConfigError, match="--data-dir"):
        parse_serve_args([], environ={})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("127.0.0.1:5432", Address("127.0.0.1", 5432)),
        ("db.internal:1", Address("db.internal", 1)),
        ("[::1]:5432", Address("::1", 5432)),
        ("0.0.0.0:65535", Address("0.0.0.0", 65535)),
    ],
)
def test_address_parse(text, expected):
    assert Address.parse(text) == expected
    assert str(Address.parse(text)) == text


@pytest.mark.parametrize(
    "text", ["5432", ":5432", "host:", "host:x", "host:0", "host:70000", "::1:5432"]
)
def test_address_parse_rejects(text):
    with pytest.raises(ValueError):
        Address.parse(text)


def test_devcluster_layout_grows_to_three_nodes(tmp_path):
    [single] = layout(tmp_path, 5432, 1)
    assert single.ports == (5432, 6432, 7432, 8432)
    assert "--peer" not in single.serve_args([single])
    nodes = layout(tmp_path, 5432, 3)
    assert [n.pg_port for n in nodes] == [5432, 5433, 5434]
    assert [n.raft_port for n in nodes] == [7432, 7433, 7434]
    args = nodes[1].serve_args(nodes)
    peers = [args[i + 1] for i, a in enumerate(args) if a == "--peer"]
    assert peers == ["127.0.0.1:7432", "127.0.0.1:7434"]
    assert args[0] == "serve"
    assert parse_serve_args(args[1:], environ={}).peers == (
        Address("127.0.0.1", 7432),
        Address("127.0.0.1", 7434),
    )


# ---- the command ------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QUORUMDB_")}
    return subprocess.run(
        QUORUMDB + list(args),
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
    )


def test_help_explains_every_flag_and_its_variable():
    out = run_cli("serve", "--help")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    for option in cfg.OPTIONS:
        assert option.flag in text
        assert option.env in text
        assert option.help.split(".")[0].strip() in text
    assert "--no-fsync" in text and "UNSAFE" in text


@pytest.mark.parametrize(
    "args, env",
    [
        (["--peer", "127.0.0.1:7433", "--raft-listen", "0.0.0.0:7432"], {}),
        (["--join"], {"QUORUMDB_PG_LISTEN": "0.0.0.0:5432"}),
    ],
)
def test_a_cluster_node_on_a_wildcard_address_must_advertise(tmp_path, args, env):
    out = run_cli("serve", "--data-dir", str(tmp_path), *args, env=env)
    assert out.returncode == 2
    assert "advertise" in out.stderr
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    "args, env, fragment",
    [
        ([], {}, "--data-dir"),
        (["--data-dir", "/d", "--pg-listen", "nope"], {}, "--pg-listen"),
        (["--data-dir", "/d"], {"QUORUMDB_MAX_CONNECTIONS": "many"}, "QUORUMDB_MAX_CONNECTIONS"),
        (["--data-dir", "/d", "--log-level", "loud"], {}, "--log-level"),
    ],
)
def test_usage_errors_exit_2(args, env, fragment):
    out = run_cli("serve", *args, env=env)
    assert out.returncode == 2
    assert fragment in out.stderr


def test_no_command_prints_help_and_exits_2():
    out = run_cli()
    assert out.returncode == 2
    assert "serve" in out.stderr


# ---- logging -------------------------------------------------------------------------------


def test_log_lines_carry_the_node_id_and_fields():
    import io
    import logging

    from quorumdb.node import log as logsetup

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        stream = io.StringIO()
        logsetup.configure("n7", level="info", fmt="text", stream=stream)
        logging.getLogger("quorumdb.test").info(
            "hello world", extra=logsetup.fields(peer="1.2.3.4:5", n=3)
        )
        logging.getLogger("quorumdb.test").debug("hidden")
        line = stream.getvalue().strip()
        assert "INFO node=n7 quorumdb.test: hello world peer=1.2.3.4:5 n=3" in line
        assert "hidden" not in stream.getvalue()

        stream = io.StringIO()
        logsetup.configure("n7", level="debug", fmt="json", stream=stream)
        assert len([h for h in root.handlers if h.get_name() == "quorumdb"]) == 1
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("other.lib").exception("failed", extra=logsetup.fields(n=3))
        entry = json.loads(stream.getvalue().splitlines()[0])
        assert entry["node"] == "n7"
        assert entry["level"] == "error"
        assert entry["logger"] == "other.lib"
        assert entry["msg"] == "failed"
        assert entry["n"] == 3
        assert "RuntimeError: boom" in entry["exc"]
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
