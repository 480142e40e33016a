"""Driving the Docker CLI from tests: engine and compose detection, containers, compose projects.

Tests talk to Docker only through the `docker` command line (and `docker compose`
or `docker-compose`, whichever is installed), the same tools an operator uses,
so no Docker SDK is needed. Every wait polls with a deadline; a container that
exits or restarts while we wait for it is reported at once, with its log,
instead of running into the deadline. Everything a test creates carries the
run's label or compose project name, so it can be found and removed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TEST_RUN_LABEL",
    "DockerError",
    "ContainerExited",
    "ContainerState",
    "Container",
    "NodeFactory",
    "ComposeProject",
    "docker",
    "engine_problem",
    "compose_command",
    "inspect_states",
    "logs_of",
    "create_volume",
    "wait_healthy",
    "remove_labelled",
    "docker_exec",
    "networks_of",
]

TEST_RUN_LABEL = "org.quorumdb.test-run"
COMMAND_TIMEOUT = 120.0
POLL_INTERVAL = 0.25


class DockerError(RuntimeError):
    """A docker or compose command failed; the message has its output."""


class ContainerExited(DockerError):
    """A container stopped or restarted while it was expected to come up healthy.

    Distinct from a timeout: the node process itself gave up (bad settings, a
    feature it refuses), so there is nothing to wait for.
    """


def docker(*args: str, timeout: float = COMMAND_TIMEOUT, check: bool = True) -> str:
    """Run `docker ARGS`, return its stdout; raise DockerError with its output on failure."""
    return _run(["docker", *args], timeout=timeout, check=check)


def _run(
    argv: Sequence[str],
    timeout: float = COMMAND_TIMEOUT,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        raise DockerError(f"{' '.join(argv)} did not finish in {timeout}s") from exc
    if check and done.returncode != 0:
        raise DockerError(
            f"{' '.join(argv)} exited with {done.returncode}:\n{done.stdout}{done.stderr}".rstrip()
        )
    return done.stdout


def docker_exec(
    container_id: str, *args: str, timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """`docker exec CONTAINER ARGS` without a TTY; the caller checks the exit code."""
    try:
        return subprocess.run(
            ["docker", "exec", container_id, *args], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise DockerError(
            f"docker exec {container_id} {' '.join(args)} did not finish in {timeout}s"
        ) from exc


def networks_of(container_id: str) -> dict[str, list[str]]:
    """The container's networks and its DNS aliases on each."""
    info = json.loads(docker("inspect", container_id))[0]
    return {
        name: list(settings.get("Aliases") or [])
        for name, settings in info["NetworkSettings"]["Networks"].items()
    }


def engine_problem() -> str | None:
    """Why no Docker Engine can be used here, or None when `docker info` answers."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30s"
    if done.returncode != 0 or not done.stdout.strip():
        detail = (done.stderr or done.stdout).strip().splitlines()
        return "no Docker Engine answers `docker info`" + (f": {detail[-1]}" if detail else "")
    return None


def compose_command() -> list[str] | None:
    """The compose CLI to use: the `docker compose` plugin if present, else `docker-compose`."""
    candidates = (["docker", "compose"], ["docker-compose"])
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        try:
            done = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            continue
        if done.returncode == 0:
            return command
    return None


@dataclass(frozen=True, slots=True)
class ContainerState:
    name: str
    status: str  # created, running, restarting, exited, dead, ...
    health: str | None  # starting, healthy, unhealthy; None without a HEALTHCHECK
    exit_code: int
    restart_count: int

    @property
    def gave_up(self) -> bool:
        """The process ended (or ended and is being restarted): no point waiting further."""
        return self.status in ("exited", "dead", "restarting") or self.restart_count > 0


def inspect_states(container_ids: Iterable[str]) -> list[ContainerState]:
    ids = list(container_ids)
    if not ids:
        return []
    states = []
    for info in json.loads(docker("inspect", *ids)):
        state = info["State"]
        states.append(
            ContainerState(
                name=info["Name"].lstrip("/"),
                status=state["Status"],
                health=(state.get("Health") or {}).get("Status"),
                exit_code=state["ExitCode"],
                restart_count=info.get("RestartCount", 0),
            )
        )
    return states


def logs_of(container_id: str, tail: int = 60) -> str:
    """The container's last `tail` log lines, stdout and stderr interleaved (nodes log to stderr)."""
    try:
        done = subprocess.run(
            ["docker", "logs", "--tail", str(tail), container_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return f"<docker logs {container_id} did not answer in {COMMAND_TIMEOUT}s>"
    return done.stdout


def wait_healthy(container_ids: Sequence[str], timeout: float) -> None:
    """Poll until every container's HEALTHCHECK reports healthy.

    Raises ContainerExited as soon as one exits or restarts, DockerError when
    one turns unhealthy, TimeoutError after `timeout` seconds; each message
    carries the containers' recent log lines.
    """
    deadline = time.monotonic() + timeout
    while True:
        states = inspect_states(container_ids)
        for cid, state in zip(container_ids, states, strict=True):
            if state.gave_up:
                raise ContainerExited(
                    f"{state.name} {state.status} (exit code {state.exit_code}, "
                    f"restarts {state.restart_count}) instead of becoming healthy; "
                    f"its log:\n{logs_of(cid)}"
                )
            if state.health == "unhealthy":
                raise DockerError(f"{state.name} is unhealthy; its log:\n{logs_of(cid)}")
            if state.health is None:
                raise DockerError(f"{state.name} has no HEALTHCHECK to wait for")
        if all(state.health == "healthy" for state in states):
            return
        if time.monotonic() >= deadline:
            waiting = ", ".join(f"{s.name}: {s.status}/{s.health}" for s in states)
            logs = "\n".join(
                f"--- {s.name}\n{logs_of(c)}" for c, s in zip(container_ids, states, strict=True)
            )
            raise TimeoutError(f"not healthy after {timeout}s ({waiting})\n{logs}")
        time.sleep(POLL_INTERVAL)


class Container:
    """One `docker run -d` container, removed (with its anonymous volumes) by `remove`."""

    def __init__(self, container_id: str, name: str) -> None:
        self.id = container_id
        self.name = name

    @classmethod
    def run(
        cls,
        image: str,
        name: str,
        run_label: str,
        publish: Sequence[int] = (),
        volumes: Mapping[str, str] | None = None,
        options: Sequence[str] = (),
    ) -> Container:
        """Start `image`; each port in `publish` goes to a free host port on 127.0.0.1."""
        argv = ["run", "--detach", "--name", name, "--label", f"{TEST_RUN_LABEL}={run_label}"]
        for port in publish:
            argv += ["--publish", f"127.0.0.1::{port}"]  # Docker picks the host port
        for source, target in (volumes or {}).items():
            argv += ["--volume", f"{source}:{target}"]
        container_id = docker(*argv, *options, image).strip()
        return cls(container_id, name)

    def host_port(self, container_port: int) -> int:
        """The host port Docker published `container_port` on."""
        mapping = docker("port", self.id, f"{container_port}/tcp").split()
        if not mapping:
            raise DockerError(f"{self.name}: port {container_port} is not published")
        return int(mapping[0].rpartition(":")[2])

    def wait_healthy(self, timeout: float) -> None:
        wait_healthy([self.id], timeout)

    def state(self) -> ContainerState:
        return inspect_states([self.id])[0]

    def logs(self, tail: int = 60) -> str:
        return logs_of(self.id, tail)

    def stop(self, timeout: int = 20) -> None:
        docker("stop", "--time", str(timeout), self.id, timeout=timeout + COMMAND_TIMEOUT)

    def remove(self) -> None:
        """Force-remove the container and its anonymous volumes; a missing one is fine."""
        docker("rm", "--force", "--volumes", self.id, check=False)


class NodeFactory:
    """Starts single-node containers of the image (no peers) and removes them all at the end."""

    def __init__(self, image: str, run_id: str, healthy_timeout: float) -> None:
        self.image = image
        self.run_id = run_id
        self.healthy_timeout = healthy_timeout
        self.started: list[Container] = []

    def start(self, volumes: Mapping[str, str] | None = None) -> Container:
        """A healthy node with its PostgreSQL port published on a free host port."""
        node = Container.run(
            self.image,
            f"quorumdb-test-{self.run_id}-{uuid.uuid4().hex[:6]}",
            self.run_id,
            publish=[5432],
            volumes=volumes,
            # The image checks every 5s; a test need not wait that long for the first check.
            options=["--health-interval", "1s"],
        )
        self.started.append(node)
        node.wait_healthy(self.healthy_timeout)
        return node

    def logs(self) -> str:
        return "\n".join(f"--- {node.name}\n{node.logs()}" for node in self.started)

    def remove_all(self) -> None:
        for node in self.started:
            node.remove()


class ComposeProject:
    """A compose file brought up under its own project name, so runs never collide.

    `env` is the whole environment of the compose commands: the file's
    ${VARIABLES} are interpolated from it (images, host ports).
    """

    def __init__(
        self, command: Sequence[str], compose_file: Path, name: str, env: Mapping[str, str]
    ) -> None:
        self.command = list(command)
        self.compose_file = compose_file
        self.name = name
        self.env = dict(env)

    def compose(self, *args: str, timeout: float = COMMAND_TIMEOUT, check: bool = True) -> str:
        argv = [*self.command, "--project-name", self.name, "--file", str(self.compose_file)]
        return _run(
            [*argv, *args],
            timeout=timeout,
            check=check,
            env=self.env,
            cwd=self.compose_file.parent,
        )

    def up(self) -> None:
        # --no-build: the image is built (offline) by the fixture, never by compose.
        self.compose("up", "--detach", "--no-build", timeout=300)

    def containers(self) -> dict[str, str]:
        """service name -> container id, from the labels both compose CLIs set."""
        out = docker(
            "ps", "--all", "--no-trunc",
            "--filter", f"label=com.docker.compose.project={self.name}",
            "--format", '{{.ID}} {{.Label "com.docker.compose.service"}}',
        )  # fmt: skip
        pairs = (line.split() for line in out.splitlines() if line.strip())
        return {service: cid for cid, service in pairs}

    def wait_healthy(self, services: Sequence[str], timeout: float) -> None:
        containers = self.containers()
        missing = [s for s in services if s not in containers]
        if missing:
            raise DockerError(f"compose project {self.name} has no container for {missing}")
        wait_healthy([containers[s] for s in services], timeout)

    def host_port(self, service: str, container_port: int) -> int:
        """The host port compose published `service`'s `container_port` on."""
        out = self.compose("port", service, str(container_port)).strip()
        if not out:
            raise DockerError(f"{service}: port {container_port} is not published")
        return int(out.rpartition(":")[2])

    def logs(self, tail: int = 60) -> str:
        return self.compose("logs", "--no-color", "--tail", str(tail), check=False)

    def down(self) -> None:
        """Remove the project's containers, networks and volumes, whatever state they are in.

        `down` is the normal path; anything it leaves behind (a half-created
        project, a compose CLI that died) is removed by label afterwards.
        """
        try:
            self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=180)
        finally:
            remove_labelled(f"com.docker.compose.project={self.name}")


def create_volume(name: str, run_label: str) -> str:
    """A named volume carrying the run's label, so `remove_labelled` finds it."""
    return docker("volume", "create", "--label", f"{TEST_RUN_LABEL}={run_label}", name).strip()


def remove_labelled(label: str) -> list[str]:
    """Force-remove every container, then network and volume, carrying `label` (KEY=VALUE).

    Returns what was left over and removed, so callers can tell that a
    normal teardown missed something.
    """
    removed = []
    containers = docker("ps", "--all", "--quiet", "--filter", f"label={label}").split()
    if containers:
        docker("rm", "--force", "--volumes", *containers, check=False)
        removed += [f"container {c}" for c in containers]
    networks = docker("network", "ls", "--quiet", "--filter", f"label={label}").split()
    if networks:
        docker("network", "rm", *networks, check=False)
        removed += [f"network {n}" for n in networks]
    volumes = docker("volume", "ls", "--quiet", "--filter", f"label={label}").split()
    if volumes:
        docker("volume", "rm", "--force", *volumes, check=False)
        removed += [f"volume {v}" for v in volumes]
    return removed
