"""The Docker runtime: Toxiproxy and every service as containers of one
compose project (the system file's docker: section names the compose file,
the project and its network).

Containers are found by their compose labels (com.docker.compose.project and
com.docker.compose.service) and nothing else, and acted on only when they also
carry ours (io.flask-chaos.project and io.flask-chaos.service with the same
values): a container that has the compose labels but not ours is refused with
a SetupError naming it, and left alone. Compose creates and removes the
stack (`up`, `down`); everything else goes through the Docker API.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from chaos.clients.agent import agent_token
from chaos.clients.http import Session
from chaos.errors import SetupError
from chaos.runtime import TOXIPROXY, Status
from chaos.runtime.compose import run_compose
from chaos.runtime.process import start_ticks, started_at
from chaos.runtime.readiness import service_ready
from chaos.spec.system import System
from chaos.clients.toxiproxy import Toxiproxy, ToxiproxyError

STOP_GRACE = 10
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
OUR_PROJECT = "io.flask-chaos.project"
OUR_SERVICE = "io.flask-chaos.service"
TOXIPROXY_START_TIMEOUT = 20.0
# The engine records a container's start once its process runs, and /proc's
# boot time is whole seconds: how much later than the process's start in
# /proc the container's StartedAt may be (a busy engine is slow to record it).
PID_START_SLACK = 5.0


def _in_cgroup_of(pid: int, container_id: str) -> bool:
    """Whether /proc shows `pid` in a cgroup named after the container
    (/docker/<id>, docker-<id>.scope, libpod-<id>.scope)."""
    try:
        return container_id in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False


def _when(stamp: str) -> float | None:
    """Seconds since the epoch of the engine's RFC 3339 time (nanoseconds, Z)."""
    import datetime

    try:
        head, _, frac = stamp.rstrip("Z").partition(".")
        at = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.timezone.utc)
        return at.timestamp() + (float(f"0.{frac.split('+')[0]}") if frac else 0.0)
    except (ValueError, AttributeError):
        return None


class DockerRuntime:
    """Runs a system's units as containers of one compose project. See
    chaos.runtime.Runtime; also chaos.runtime.Partitionable."""

    def __init__(self, system: System, state_dir: Path, env: dict[str, str] | None = None):
        if system.spec.docker is None:
            raise SetupError(f"{system.path} has no docker: section, which the Docker runtime needs")
        self.system = system
        self.spec = system.spec.docker
        self.project = self.spec.project
        self.compose_file = (system.root / self.spec.compose).resolve()
        self.state_dir = state_dir.resolve()
        # compose.yaml passes CHAOS_AGENT_TOKEN and CHAOS_BREAKERS through to the services.
        self.agent_token = agent_token(self.state_dir)
        self.extra_env = {**(env or {}), "CHAOS_AGENT_TOKEN": self.agent_token}
        self.units = [TOXIPROXY, *system.services]
        self._holders = _network_holders(self.compose_file)
        self._client = None
        self._http = Session()
        self._pids: dict[str, tuple[int, int]] = {}  # unit: (pid, its start ticks in /proc)
        self._pid_misses = 0

    # -- the protocol ---------------------------------------------------------

    def up(self) -> list[str]:
        self._refuse_strangers()
        before = {name: self.identity(name) for name in self.units}
        for name in self.units:
            c = self._container(name)
            if c is not None and c.attrs["State"]["Paused"]:
                self._api("unpause", name, c.unpause)  # left paused by an interrupted run: compose would leave it so
            if c is not None and c.status == "running" and not self._attached(self._net_holder(c)):
                self.reconnect(name)  # left partitioned by an interrupted run
            if before[name] is None:
                self._check_port_free(name)
        run_compose(self.compose_file, self.project, ["up", "-d", "--no-build"], self.extra_env)
        self._wait_ready(self.units)
        self._populate_proxies()
        return [name for name in self.units if self.identity(name) != before[name]]

    def down(self) -> list[str]:
        self._refuse_strangers()
        present = [name for name in self.units if self._container(name) is not None]
        # -v: the services' data volumes go too; --remove-orphans: containers
        # of this project whose service the file no longer names.
        run_compose(self.compose_file, self.project, ["down", "-v", "--remove-orphans", "-t", str(STOP_GRACE)], self.extra_env)
        (self.state_dir / "docker-aliases.json").unlink(missing_ok=True)
        return list(reversed(present))

    def start(self, name: str) -> None:
        c = self._container(name)
        if c is not None and c.status in ("running", "paused", "restarting"):
            raise SetupError(f"{name} is already running (container {c.name})")
        self._check_port_free(name)
        if c is None:
            # With its dependencies: the holder of its network namespace, if any.
            run_compose(self.compose_file, self.project, ["up", "-d", "--no-build", name], self.extra_env)
        else:
            self._api("start", name, c.start)
        self._wait_ready([name])

    def stop(self, name: str) -> None:
        c = self._container(name)
        if c is None or c.status not in ("running", "paused", "restarting"):
            return
        self._api("stop", name, c.stop, timeout=STOP_GRACE)  # docker thaws a paused container so it can act on SIGTERM
        self._wait_status(c, lambda s: s["Status"] in ("exited", "dead"), 5.0, f"{name} did not stop")

    def kill(self, name: str) -> None:
        c = self._running(name, "kill")
        # A paused container is killed too (docker delivers the SIGKILL and
        # thaws it); either way it must end up exited, not paused.
        self._api("kill", name, c.kill, signal="SIGKILL")
        self._wait_status(c, lambda s: s["Status"] in ("exited", "dead") and not s["Paused"], 5.0, f"{name} survived SIGKILL for 5 s")

    def pause(self, name: str) -> None:
        c = self._running(name, "pause")
        self._api("pause", name, c.pause)
        self._wait_status(c, lambda s: s["Paused"], 5.0, f"{name} did not freeze within 5 s")

    def resume(self, name: str) -> None:
        c = self._container(name)
        if c is not None and c.attrs["State"]["Paused"]:
            self._api("resume", name, c.unpause)
            self._wait_status(c, lambda s: not s["Paused"], 5.0, f"{name} did not thaw within 5 s")

    def restart(self, name: str) -> None:
        if self.status(name) is not Status.STOPPED:
            self.kill(name)
        self.start(name)

    def status(self, name: str) -> Status:
        c = self._container(name)
        if c is None:
            return Status.STOPPED
        state = c.attrs["State"]
        if state["Paused"]:
            return Status.PAUSED
        return Status.RUNNING if state["Running"] else Status.STOPPED

    def logs(self, name: str) -> Path | None:
        """A file with the container's output so far (docker keeps the log itself)."""
        c = self._container(name)
        if c is None:
            return None
        path = self.state_dir / "logs" / f"docker-{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(c.logs(stdout=True, stderr=True))
        return path

    def identity(self, name: str) -> str | None:
        """Container id, pid and start time of the running unit: it changes
        whenever the unit is started again. None while it is not running."""
        c = self._container(name)
        if c is None or not c.attrs["State"]["Running"]:
            return None
        state = c.attrs["State"]
        return f"{c.id[:12]}/{state['Pid']}/{state['StartedAt']}"

    def pid(self, name: str) -> int | None:
        """The pid of the unit's container's main process as this machine's
        /proc shows it, while it runs: its processes are the unit's for the
        run's CPU figures (chaos.engine.pressure). None when the engine runs
        its containers out of this /proc's sight (a VM, another host, another
        pid namespace): a pid is taken only when /proc shows a process that
        started when the container did and is in a cgroup named after its
        id, so another process that happens to have that number here is never counted. Asked once a second: the
        engine is asked again only when the process it gave has ended."""
        known = self._pids.get(name)
        if known is not None and start_ticks(known[0]) == known[1]:  # the same process still: one read of its stat
            return known[0]
        self._pids.pop(name, None)
        if self._pid_misses >= 3:
            return None  # the engine's pids are not this machine's: stop asking it every second
        c = self._container(name)
        if c is None or not c.attrs["State"]["Running"]:  # a paused one runs still: its threads wait, frozen
            return None
        pid, began = c.attrs["State"]["Pid"], _when(c.attrs["State"]["StartedAt"])
        here = started_at(pid)
        if here is None or began is None or not -1.0 <= began - here <= PID_START_SLACK or not _in_cgroup_of(pid, c.id):
            self._pid_misses += 1
            return None
        ticks = start_ticks(pid)
        if ticks is None:
            return None  # ended since
        self._pid_misses = 0
        self._pids[name] = (pid, ticks)
        return pid

    def container_id(self, name: str) -> str | None:
        """The full id of the unit's container, if it has one."""
        c = self._container(name)
        return c.id if c is not None else None

    # -- partitions (chaos.runtime.Partitionable) ------------------------------

    def disconnect(self, name: str) -> None:
        """Take the unit off the project's network: it keeps running, but no
        other unit (nor the published port) reaches it. Its aliases are kept
        in the state folder for `reconnect`."""
        c = self._net_holder(self._running(name, "disconnect"))
        network = self._network()
        attached = c.attrs["NetworkSettings"]["Networks"].get(network.name)
        if attached is None:
            return
        self._save_aliases(name, attached.get("Aliases") or [])
        self._api("disconnect", name, network.disconnect, c)

    def reconnect(self, name: str) -> None:
        """Put the unit back on the project's network under the names the
        others call it by: a plain connect would drop the compose aliases
        (the service name), and callers could no longer resolve it."""
        c = self._container(name)
        if c is None:
            raise SetupError(f"cannot reconnect {name}: it has no container")
        c = self._net_holder(c)
        network = self._network()
        if self._attached(c):
            return
        aliases = [a for a in self._load_aliases().get(name, []) if a != c.id[:12]]
        if name not in aliases:
            aliases.insert(0, name)
        self._api("reconnect", name, network.connect, c, aliases=aliases)
        self._save_aliases(name, None)

    # -- finding what is ours ------------------------------------------------

    @property
    def client(self):  # type: ignore[no-untyped-def]
        if self._client is None:
            try:
                import docker  # imported here: the local runtime must not need the SDK
            except ImportError:
                raise SetupError("the Docker runtime needs the docker package: pip install 'flask-chaos[docker]'") from None
            try:
                self._client = docker.from_env()
                self._client.ping()
            except docker.errors.DockerException as e:
                self._client = None
                raise SetupError(f"no Docker engine answers ({e}); start one (e.g. `dockerd`) for the Docker runtime") from None
        return self._client

    def _unit(self, name: str) -> None:
        if name not in self.units:
            raise SetupError(f"unknown unit '{name}' (known: {', '.join(self.units)})")

    def _container(self, name: str):  # type: ignore[no-untyped-def]
        """The unit's container, or None; SetupError if one with its compose
        labels is not ours."""
        self._unit(name)
        labels = [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={name}"]
        found = self.client.containers.list(all=True, filters={"label": labels})
        for c in found:
            self._check_ours(c, name)
        found = [c for c in found if c.labels.get("com.docker.compose.oneoff", "False") != "True"]
        if len(found) > 1:
            raise SetupError(f"{name} has {len(found)} containers ({', '.join(c.name for c in found)}); expected one")
        return found[0] if found else None

    def _check_ours(self, c, name: str) -> None:  # type: ignore[no-untyped-def]
        labels = c.labels
        if labels.get(OUR_PROJECT) != self.project or labels.get(OUR_SERVICE) != name:
            raise SetupError(
                f"refusing to touch container {c.name} ({c.short_id}): it has the compose labels of "
                f"{self.project}/{name} but not {OUR_PROJECT}={self.project} and {OUR_SERVICE}={name}, "
                "so the toolkit did not create it"
            )

    def _api(self, verb: str, name: str, call, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        """Make one Docker API call; the engine's refusal becomes a SetupError
        (exit 2, rollback) instead of a traceback."""
        import docker

        try:
            call(*args, **kwargs)
        except docker.errors.APIError as e:
            raise SetupError(f"docker could not {verb} {name}: {e.explanation or e}") from None

    def _refuse_strangers(self) -> None:
        """Compose acts on every container with the project's label: make sure each is ours first."""
        for c in self.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"}):
            self._check_ours(c, c.labels.get(SERVICE_LABEL, "?"))

    def _running(self, name: str, verb: str):  # type: ignore[no-untyped-def]
        c = self._container(name)
        if c is None or c.status not in ("running", "paused"):
            raise SetupError(f"cannot {verb} {name}: it is not running under this runtime")
        return c

    def _network(self):  # type: ignore[no-untyped-def]
        # Both compose versions name a network PROJECT_KEY.
        name = f"{self.project}_{self.spec.network}"
        found = self.client.networks.list(names=[name])
        found = [n for n in found if n.name == name]
        if not found:
            raise SetupError(f"network {name} does not exist (is the system up?)")
        network = found[0]
        if network.attrs.get("Labels", {}).get(PROJECT_LABEL) != self.project:
            raise SetupError(f"refusing to touch network {name}: it lacks the label {PROJECT_LABEL}={self.project}")
        return network

    def _net_holder(self, c):  # type: ignore[no-untyped-def]
        """The container whose network namespace `c` runs in (compose's
        network_mode: service:NAME), which holds its address and aliases; `c`
        itself when it has its own. Refused unless it is ours too."""
        mode = c.attrs["HostConfig"].get("NetworkMode", "")
        if not mode.startswith("container:"):
            return c
        holder = self.client.containers.get(mode.removeprefix("container:"))
        self._check_ours(holder, holder.labels.get(SERVICE_LABEL, "?"))
        if holder.labels.get(PROJECT_LABEL) != self.project:
            raise SetupError(f"refusing to touch container {holder.name}: not of the project {self.project}")
        return holder

    def _attached(self, c) -> bool:  # type: ignore[no-untyped-def]
        return f"{self.project}_{self.spec.network}" in c.attrs["NetworkSettings"]["Networks"]

    # -- readiness ------------------------------------------------------------

    def _wait_status(self, c, done, timeout: float, message: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            c.reload()
            if done(c.attrs["State"]):
                return
            if time.monotonic() > deadline:
                raise SetupError(f"{message} (container {c.name} is {c.status})")
            time.sleep(0.02)

    def _wait_ready(self, names: list[str]) -> None:
        """Until each unit's container runs and answers through its published
        port, as the toolkit will call it (the local runtime's readiness).
        Docker's own healthcheck is not waited for: it runs every 30 s
        (compose.yaml says why), so `docker ps` may say "starting" for a while
        after `up` while the service already answers."""
        pending = list(names)
        timeouts = {n: TOXIPROXY_START_TIMEOUT if n == TOXIPROXY else self.system.services[n].start_timeout for n in names}
        deadline = time.monotonic() + max(timeouts.values()) + 10.0  # containers start slower than processes
        while pending:
            for name in list(pending):
                c = self._container(name)
                if c is None or c.attrs["State"]["Status"] in ("exited", "dead"):
                    code = c.attrs["State"]["ExitCode"] if c is not None else "?"
                    raise SetupError(f"{name} exited while starting (exit code {code}); last lines of its log:\n{self._tail(c)}")
                if c.attrs["State"]["Running"] and self._answers(name):
                    pending.remove(name)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise SetupError(
                    f"{', '.join(pending)} not ready in time; last lines of {pending[0]}'s log:\n{self._tail(self._container(pending[0]))}"
                )
            time.sleep(0.1)

    def _answers(self, name: str) -> bool:
        try:
            if name == TOXIPROXY:
                Toxiproxy(self.system.spec.toxiproxy.url, timeout=(0.2, 1.0)).version()
                return True
            return service_ready(self.system.services[name], self._http)
        except (ToxiproxyError, requests.RequestException):
            return False

    def _check_port_free(self, name: str) -> None:
        holder = self._holders.get(name)
        if holder is not None:
            found = self.client.containers.list(filters={"label": [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={holder}"]})
            for c in found:
                self._check_ours(c, holder)
            if found:
                return  # the port is published by the running holder of the unit's network, which is ours
        if name == TOXIPROXY:
            url = urlsplit(self.system.spec.toxiproxy.url)
            host, port = url.hostname or "127.0.0.1", url.port or 8474
        else:
            host, port = self.system.services[name].host, self.system.services[name].port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                raise SetupError(
                    f"cannot start {name}: {host}:{port} is already in use by something this runtime did not start "
                    "(the local runtime? `make down`)"
                )

    def _tail(self, c, lines: int = 15) -> str:  # type: ignore[no-untyped-def]
        if c is None:
            return "(no container)"
        return c.logs(tail=lines).decode(errors="replace").rstrip() or "(empty log)"

    def _populate_proxies(self) -> None:
        proxies = [p.model_dump() for p in self.system.docker_proxies.values()]
        Toxiproxy(self.system.spec.toxiproxy.url).populate(proxies)

    # -- aliases of disconnected units ----------------------------------------

    def _load_aliases(self) -> dict[str, list[str]]:
        path = self.state_dir / "docker-aliases.json"
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _save_aliases(self, name: str, aliases: list[str] | None) -> None:
        data = self._load_aliases()
        if aliases is None:
            data.pop(name, None)
        else:
            data[name] = aliases
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "docker-aliases.json").write_text(json.dumps(data, indent=2))


def _network_holders(compose_file: Path) -> dict[str, str]:
    """Services of the compose file that run in another service's network
    namespace (network_mode: service:HOLDER), by name: HOLDER."""
    import yaml

    try:
        services = yaml.safe_load(compose_file.read_text()).get("services") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return {}  # the system file's checks have already reported a bad compose file
    return {
        name: str(spec["network_mode"]).removeprefix("service:")
        for name, spec in services.items()
        if isinstance(spec, dict) and str(spec.get("network_mode", "")).startswith("service:")
    }
