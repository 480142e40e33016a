"""Fixtures for the Docker tier: the image built offline once per session, containers, compose.

Without a Docker Engine every test here skips with the reason; in CI, where
one runs, the first test builds the image with `.ci/docker-image` and every
later test reuses it. The build is cached by content hash: about 80 s from
nothing, half a minute after a source change, a second when nothing changed.
Set QUORUMDB_DOCKER_IMAGE to test an image that already exists instead.

Everything a test starts is removed by its fixture even when the test
fails, and at the end of the session anything still carrying this run's
label is removed too. Names and compose project names contain a per-run id,
so concurrent runs on one engine do not collide.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dockerctl import (
    TEST_RUN_LABEL,
    ComposeProject,
    Container,
    NodeFactory,
    compose_command,
    create_volume,
    docker,
    engine_problem,
    remove_labelled,
)
from support import free_ports

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / ".ci" / "docker-image"
COMPOSE_FILE = REPO / "compose.yaml"
TEST_IMAGE = "quorumdb:test"
BUILD_TIMEOUT = 600.0
NODE_HEALTHY_TIMEOUT = 60.0
CLUSTER_HEALTHY_TIMEOUT = 120.0
COMPOSE_SERVICES = ("node1", "node2", "node3")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Attach the logs of a failed test's containers to its report, while they still run."""
    report = yield
    if report.when == "call" and report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, Container | ComposeProject | NodeFactory):
                report.sections.append((f"docker logs ({name})", value.logs()))
    return report


@pytest.fixture(scope="session")
def docker_run_id() -> Iterator[str]:
    """An id for this test session's Docker objects; skips the tier when Docker is unusable."""
    problem = engine_problem()
    if problem is not None:
        pytest.skip(f"Docker tests need a Docker Engine: {problem}")
    run_id = uuid.uuid4().hex[:10]
    yield run_id
    leftovers = remove_labelled(f"{TEST_RUN_LABEL}={run_id}")
    if leftovers:
        print(f"removed Docker objects left by this run: {', '.join(leftovers)}")


@pytest.fixture(scope="session")
def quorumdb_image(docker_run_id: str, pytestconfig: pytest.Config) -> str:
    """The QuorumDB image under test, built without registry access by `.ci/docker-image`.

    The build prints its progress straight to the terminal (capture is
    suspended): from scratch it takes a minute or two, and a silent minute
    in CI looks like a hang.
    """
    existing = os.environ.get("QUORUMDB_DOCKER_IMAGE")
    if existing:
        return existing
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nbuilding {TEST_IMAGE} with {BUILD_SCRIPT.relative_to(REPO)}", flush=True)
        try:
            done = subprocess.run(
                [str(BUILD_SCRIPT), "--tag", TEST_IMAGE], timeout=BUILD_TIMEOUT, cwd=REPO
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{BUILD_SCRIPT.name} did not finish in {BUILD_TIMEOUT}s")
    if done.returncode != 0:
        pytest.fail(f"{BUILD_SCRIPT.name} failed with exit code {done.returncode} (output above)")
    return TEST_IMAGE


@pytest.fixture
def node_factory(quorumdb_image: str, docker_run_id: str) -> Iterator[NodeFactory]:
    factory = NodeFactory(quorumdb_image, docker_run_id, NODE_HEALTHY_TIMEOUT)
    try:
        yield factory
    finally:
        factory.remove_all()


@pytest.fixture
def single_node(node_factory: NodeFactory) -> Container:
    """One container of the image as a single node, healthy, PostgreSQL published."""
    return node_factory.start()


@pytest.fixture
def docker_volume(docker_run_id: str) -> Iterator[str]:
    """A named volume, removed after the test (request it before the containers using it)."""
    volume = create_volume(f"quorumdb-test-{docker_run_id}-{uuid.uuid4().hex[:6]}", docker_run_id)
    try:
        yield volume
    finally:
        docker("volume", "rm", "--force", volume, check=False)


@pytest.fixture
def compose_cluster(quorumdb_image: str, docker_run_id: str) -> Iterator[ComposeProject]:
    """compose.yaml up under a project name of its own, on free host ports, all nodes healthy.

    Torn down with its networks and volumes however the test ends, including
    when the nodes never become healthy.
    """
    yield from _compose_cluster(quorumdb_image, docker_run_id)


@pytest.fixture(scope="module")
def compose_module_cluster(quorumdb_image: str, docker_run_id: str) -> Iterator[ComposeProject]:
    """`compose_cluster` shared by the tests of one module; each test must leave the three
    nodes running and healthy, as it found them."""
    yield from _compose_cluster(quorumdb_image, docker_run_id)


def _compose_cluster(quorumdb_image: str, docker_run_id: str) -> Iterator[ComposeProject]:
    command = compose_command()
    if command is None:
        pytest.skip("Docker compose tests need `docker compose` or `docker-compose`")
    ports = free_ports(len(COMPOSE_SERVICES))
    env = {
        **os.environ,
        "QUORUMDB_IMAGE": quorumdb_image,
        "QUORUMDB_PUBLISH_ADDRESS": "127.0.0.1",
        **{f"QUORUMDB_PG_PORT_{i}": str(port) for i, port in enumerate(ports, start=1)},
    }
    project = ComposeProject(
        command, COMPOSE_FILE, f"qdbtest{docker_run_id}{uuid.uuid4().hex[:4]}", env
    )
    try:
        project.up()
        project.wait_healthy(COMPOSE_SERVICES, CLUSTER_HEALTHY_TIMEOUT)
        yield project
    finally:
        project.down()
