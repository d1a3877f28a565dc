"""The swarm runtime: the system as a Docker Swarm stack, services as replicas.

The stack file is derived from the Docker runtime's compose file
(chaos.runtime.stack) and deployed with `docker stack deploy --resolve-image
never` (images stay local: no registry). Toxiproxy is a plain container on
the stack's attachable overlay network, publishing on 127.0.0.1 only its API
and one access proxy per service (swarm ignores a published port's host
address, so no swarm service publishes anything). With a port offset the
stack is named STACK-OFFSET and the host ports move, so runs side by side
do not meet.

The runtime initialises a swarm when the engine is in none (remembered in
the state folder) and leaves it again at `down`, when nothing else runs in
it. It acts only on services, tasks' containers, networks and volumes that
carry the stack's namespace label, and refuses any of those without our
io.flask-chaos.* labels.

A unit is all of a service's replicas: `kill` SIGKILLs every task and scales
the service to 0, so it stays down until `start` scales it back (the
contract every runtime keeps). Replica-level faults (chaos.runtime.Replicated)
act on some tasks and let the scheduler replace them; `watch_replicas`
records every task's state changes into the run's history.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path

import requests
import yaml

from chaos.clients.agent import agent_token
from chaos.clients.http import Session
from chaos.clients.toxiproxy import Toxiproxy, ToxiproxyError
from chaos.errors import SetupError
from chaos.runtime import TOXIPROXY, Status
from chaos.runtime.stack import OUR_PROJECT, OUR_SERVICE, stack_file, toxiproxy_proxies
from chaos.runtime.swarm_tasks import ReplicaWatcher, parse_time
from chaos.spec.system import System

NAMESPACE = "com.docker.stack.namespace"
SERVICE_NAME = "com.docker.swarm.service.name"
READY_TIMEOUT = 90.0  # a task waits for the restart delay, starts and turns healthy
DOCKER_TIMEOUT = 120.0


class SwarmRuntime:
    """Runs a system as a swarm stack. See chaos.runtime.Runtime; also
    chaos.runtime.Replicated."""

    def __init__(self, system: System, state_dir: Path, env: dict[str, str] | None = None):
        if system.spec.docker is None or system.spec.swarm is None:
            raise SetupError(f"{system.path} has no swarm: section (and docker: section), which the swarm runtime needs")
        self.system = system
        self.offset = system.port_offset
        self.stack = system.spec.swarm.stack + (f"-{self.offset}" if self.offset else "")
        self.network = system.spec.docker.network
        self.compose_file = (system.root / system.spec.docker.compose).resolve()
        self.state_dir = state_dir.resolve()
        self.agent_token = agent_token(self.state_dir)
        self.env = {**os.environ, **(env or {}), "CHAOS_AGENT_TOKEN": self.agent_token}
        self.units = [TOXIPROXY, *system.services]
        self.replicas = dict(system.spec.swarm.replicas)
        if os.environ.get("REPLICAS"):
            try:
                count = int(os.environ["REPLICAS"])
            except ValueError:
                count = 0
            if not 1 <= count <= 20:
                raise SetupError(f"REPLICAS must be a number from 1 to 20, not '{os.environ['REPLICAS']}'")
            self.replicas = {name: count for name in self.replicas}
        self._client = None
        self._http = Session()

    # -- the protocol ---------------------------------------------------------

    def up(self) -> list[str]:
        self._join_swarm()
        self._refuse_strangers()
        before = {name: self.identity(name) for name in self.units}
        services = {s: self._service(s) for s in self.system.services}
        if any(svc is None for svc in services.values()):
            self._deploy()
        else:
            for name, svc in services.items():
                for c in self._containers(name):
                    if c.status == "paused":
                        self._api("unpause", name, c.unpause)  # left paused by an interrupted run
                if self._desired(svc) != self.desired(name):
                    self._api("scale", name, svc.scale, self.desired(name))
        self._toxiproxy_up()
        self._wait_ready(self.units)
        self._populate_proxies()
        return [name for name in self.units if self.identity(name) != before[name]]

    def down(self) -> list[str]:
        if self._client_or_none() is None:
            return []
        self._refuse_strangers()
        present = [name for name in self.units if self.status(name) is not Status.STOPPED]
        if any(self._service(s) is not None for s in self.system.services):
            self._docker("stack", "rm", self.stack)
        c = self._toxiproxy()
        if c is not None:
            self._api("remove", TOXIPROXY, c.remove, force=True)
        self._wait_gone()
        self._leave_swarm()
        return list(reversed(present))

    def start(self, name: str) -> None:
        if name == TOXIPROXY:
            c = self._toxiproxy()
            if c is not None and c.status in ("running", "paused"):
                raise SetupError(f"{name} is already running (container {c.name})")
            self._toxiproxy_up()
        else:
            svc = self._service(name)
            if svc is None:
                self._deploy()
            elif self._running_containers(name):
                raise SetupError(f"{name} is already running")
            else:
                self._api("scale", name, svc.scale, self.desired(name))
        self._wait_ready([name])

    def stop(self, name: str) -> None:
        if name == TOXIPROXY:
            c = self._toxiproxy()
            if c is not None and c.status in ("running", "paused"):
                self._api("stop", name, c.stop, timeout=10)
            return
        svc = self._service(name)
        if svc is not None:
            self._api("scale", name, svc.scale, 0)  # swarm stops each task with SIGTERM, then SIGKILL
            self._wait(lambda: not self._running_containers(name), 30.0, f"{name} did not stop")

    def kill(self, name: str) -> None:
        if name == TOXIPROXY:
            c = self._toxiproxy()
            if c is None or c.status not in ("running", "paused"):
                raise SetupError(f"cannot kill {name}: it is not running under this runtime")
            self._api("kill", name, c.kill, signal="SIGKILL")
            return
        running = self._running_containers(name)
        if not running:
            raise SetupError(f"cannot kill {name}: it is not running under this runtime")
        for c in running:
            self._api("kill", name, c.kill, signal="SIGKILL")
        # Scaled to 0 at once, so the scheduler does not replace the killed
        # tasks: the unit stays down until start(), as on every runtime.
        self._api("scale", name, self._service(name).scale, 0)
        self._wait(lambda: not self._running_containers(name), 15.0, f"{name} survived SIGKILL")

    def pause(self, name: str) -> None:
        running = [c for c in self._unit_containers(name) if c.status == "running"]
        if not running:
            raise SetupError(f"cannot pause {name}: it is not running under this runtime")
        for c in running:
            self._api("pause", name, c.pause)

    def resume(self, name: str) -> None:
        for c in self._unit_containers(name):
            if c.status == "paused":
                self._api("resume", name, c.unpause)

    def restart(self, name: str) -> None:
        if self.status(name) is not Status.STOPPED:
            self.kill(name)
        self.start(name)

    def status(self, name: str) -> Status:
        live = [c for c in self._unit_containers(name) if c.status in ("running", "paused")]
        if not live:
            return Status.STOPPED
        return Status.PAUSED if all(c.status == "paused" for c in live) else Status.RUNNING

    def logs(self, name: str) -> Path | None:
        """A file with the output of the unit's containers so far, each headed by its name."""
        found = self._unit_containers(name)
        if not found:
            return None
        path = self.state_dir / "logs" / f"swarm-{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            for c in found:
                f.write(f"== {c.name}\n".encode())
                f.write(c.logs(stdout=True, stderr=True))
        return path

    def identity(self, name: str) -> str | None:
        """The running containers' ids and start times: it changes whenever a
        task (or Toxiproxy) is started again. None while nothing runs."""
        live = [c for c in self._unit_containers(name) if c.status in ("running", "paused")]
        if not live:
            return None
        return ",".join(sorted(f"{c.id[:12]}/{c.attrs['State']['StartedAt']}" for c in live))

    # -- replicas (chaos.runtime.Replicated) -----------------------------------

    def desired(self, name: str) -> int:
        """How many replicas the service runs when healthy."""
        return int(self.replicas.get(name, 1))

    def kill_replicas(self, name: str, count: int) -> list[str]:
        """SIGKILL `count` of the service's running tasks, chosen at random;
        the scheduler replaces them. Returns their containers' short ids."""
        chosen = self._choose(name, count, "kill")
        for c in chosen:
            self._api("kill", name, c.kill, signal="SIGKILL")
        return [c.id[:12] for c in chosen]

    def pause_replicas(self, name: str, count: int) -> list[str]:
        """Freeze `count` of the service's running tasks; returns their ids for resume_replicas."""
        chosen = self._choose(name, count, "pause")
        for c in chosen:
            self._api("pause", name, c.pause)
        return [c.id[:12] for c in chosen]

    def resume_replicas(self, name: str, ids: list[str]) -> None:
        """Thaw the given tasks' containers that are still paused."""
        for c in self._unit_containers(name):
            if c.id[:12] in ids and c.status == "paused":
                self._api("resume", name, c.unpause)

    def wait_replicas(self, name: str, timeout: float = READY_TIMEOUT) -> float:
        """Wait until the service runs its desired replicas, each healthy and
        it answers; returns the seconds waited."""
        began = time.monotonic()
        self._wait_ready([name], timeout)
        return time.monotonic() - began

    def rolling_restart(self, name: str) -> None:
        """Start replacing the service's tasks one at a time (a forced update);
        returns at once. See wait_update."""
        svc = self._service(name)
        if svc is None:
            raise SetupError(f"cannot update {name}: it is not deployed")
        self._api("update", name, svc.force_update)

    def wait_update(self, name: str, timeout: float = 180.0) -> float:
        """Wait until the service's update completed; SetupError if it was
        paused or rolled back. Returns the seconds the update took."""
        deadline = time.monotonic() + timeout
        while True:
            svc = self._service(name)
            state = ((svc.attrs if svc else {}).get("UpdateStatus") or {})
            if state.get("State") == "completed":
                began, done = parse_time(state.get("StartedAt")), parse_time(state.get("CompletedAt"))
                self._wait_ready([name])
                return (done - began) if began and done else 0.0
            if state.get("State") in ("paused", "rollback_completed", "rollback_paused"):
                raise SetupError(f"the update of {name} ended {state['State']}: {state.get('Message', '')}")
            if time.monotonic() > deadline:
                raise SetupError(f"the update of {name} did not complete in {timeout:.0f} s ({state.get('State')})")
            time.sleep(0.5)

    def watch_replicas(self, history) -> ReplicaWatcher:  # type: ignore[no-untyped-def]
        """A started watcher that records every task state change of the
        stack's services into `history`; stop() it at the end of the run."""
        ids = {svc.id: name for name in self.system.services if (svc := self._service(name)) is not None}
        watcher = ReplicaWatcher(self.client, ids, self.desired, history)
        watcher.start()
        return watcher

    def _choose(self, name: str, count: int, verb: str) -> list:  # type: ignore[type-arg]
        running = [c for c in self._running_containers(name) if c.status == "running"]
        if not running:
            raise SetupError(f"cannot {verb} replicas of {name}: it is not running under this runtime")
        return random.sample(running, min(count, len(running)))

    # -- the swarm, the stack and Toxiproxy -----------------------------------

    @property
    def client(self):  # type: ignore[no-untyped-def]
        client = self._client_or_none(raise_=True)
        return client

    def _client_or_none(self, raise_: bool = False):  # type: ignore[no-untyped-def]
        if self._client is None:
            try:
                import docker  # imported here: the local runtime must not need the SDK
            except ImportError:
                raise SetupError("the swarm runtime needs the docker package: pip install 'flask-chaos[docker]'") from None
            try:
                client = docker.from_env()
                client.ping()
                self._client = client
            except docker.errors.DockerException as e:
                if raise_:
                    raise SetupError(f"no Docker engine answers ({e}); start one for the swarm runtime") from None
                return None
        return self._client

    def _join_swarm(self) -> None:
        state = self.client.info().get("Swarm", {}).get("LocalNodeState")
        if state == "active":
            return
        if state not in ("inactive", None):
            raise SetupError(f"the engine's swarm state is '{state}': neither in a swarm nor out of one; fix it first")
        self._docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        self._save_state({"initialised_swarm": True})

    def _leave_swarm(self) -> None:
        if not self._load_state().get("initialised_swarm"):
            return
        others = self.client.services.list()
        if others:  # someone else's services: leaving would remove them
            return
        self._docker("swarm", "leave", "--force")
        self._save_state({})

    def _deploy(self) -> None:
        compose = yaml.safe_load(self.compose_file.read_text())
        data = stack_file(compose, stack=self.stack, network=self.network, toxiproxy=TOXIPROXY, replicas=self.replicas, env=self.env)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "swarm-stack.yaml"
        path.write_text("# Derived from the compose file by chaos.runtime.stack; `docker stack deploy -c` takes it.\n"
                        + yaml.safe_dump(data, sort_keys=False))
        self._docker("stack", "deploy", "--resolve-image", "never", "--prune", "-c", str(path), self.stack)

    def _toxiproxy_spec(self) -> dict:  # type: ignore[type-arg]
        compose = yaml.safe_load(self.compose_file.read_text())
        return compose["services"][TOXIPROXY]

    def _toxiproxy_up(self) -> None:
        c = self._toxiproxy()
        if c is not None and c.status == "paused":
            self._api("unpause", TOXIPROXY, c.unpause)
        if c is not None and c.status == "running":
            return
        if c is not None:
            self._api("remove", TOXIPROXY, c.remove, force=True)
        ports = {name: s.port - self.offset for name, s in self.system.services.items()}
        proxies = toxiproxy_proxies([p.model_dump() for p in self.system.docker_proxies.values()], ports)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = self.state_dir / "swarm-proxies.json"
        config.write_text(json.dumps(proxies, indent=2))
        spec = self._toxiproxy_spec()
        command = [a for a in spec.get("command", []) if not str(a).startswith(("-config", "--config"))]
        api_port = int(str(self.system.spec.toxiproxy.url).rsplit(":", 1)[1].split("/")[0])
        published = {f"{api_port - self.offset}/tcp": ("127.0.0.1", api_port)}
        for name, s in self.system.services.items():
            published[f"{ports[name]}/tcp"] = ("127.0.0.1", s.port)
        network = self._network()
        self._api("create", TOXIPROXY, lambda: self.client.containers.run(
            spec["image"], [*command, "-config=/config/proxies.json"], detach=True, name=f"{self.stack}-{TOXIPROXY}",
            labels={OUR_PROJECT: self.stack, OUR_SERVICE: TOXIPROXY, NAMESPACE: self.stack},
            volumes={str(config): {"bind": "/config/proxies.json", "mode": "ro"}},
            ports=published, network=network.name,
        ))
        # The services call it by name, as in the compose file.
        c = self._toxiproxy()
        network.disconnect(c)
        network.connect(c, aliases=[TOXIPROXY])

    def _network(self):  # type: ignore[no-untyped-def]
        name = f"{self.stack}_{self.network}"
        deadline = time.monotonic() + 30
        while True:
            found = [n for n in self.client.networks.list(names=[name]) if n.name == name]
            if found:
                if found[0].attrs.get("Labels", {}).get(NAMESPACE) != self.stack:
                    raise SetupError(f"refusing to use network {name}: it lacks the label {NAMESPACE}={self.stack}")
                return found[0]
            if time.monotonic() > deadline:
                raise SetupError(f"the stack's network {name} does not exist (is the stack deployed?)")
            time.sleep(0.2)

    def _populate_proxies(self) -> None:
        ports = {name: s.port - self.offset for name, s in self.system.services.items()}
        Toxiproxy(self.system.spec.toxiproxy.url).populate(
            toxiproxy_proxies([p.model_dump() for p in self.system.docker_proxies.values()], ports))

    # -- finding what is ours ------------------------------------------------

    def _unit(self, name: str) -> None:
        if name not in self.units:
            raise SetupError(f"unknown unit '{name}' (known: {', '.join(self.units)})")

    def _service(self, name: str):  # type: ignore[no-untyped-def]
        full = f"{self.stack}_{name}"
        found = [s for s in self.client.services.list(filters={"name": full}) if s.name == full]
        for s in found:
            self._check_ours(s.name, s.attrs["Spec"].get("Labels") or {}, name)
        return found[0] if found else None

    def _toxiproxy(self):  # type: ignore[no-untyped-def]
        found = self.client.containers.list(all=True, filters={"label": [f"{NAMESPACE}={self.stack}", f"{OUR_SERVICE}={TOXIPROXY}"]})
        for c in found:
            self._check_ours(c.name, c.labels, TOXIPROXY)
        return found[0] if found else None

    def _containers(self, name: str) -> list:  # type: ignore[type-arg]
        found = self.client.containers.list(all=True, filters={"label": [f"{NAMESPACE}={self.stack}", f"{SERVICE_NAME}={self.stack}_{name}"]})
        for c in found:
            self._check_ours(c.name, c.labels, name)
        return found

    def _unit_containers(self, name: str) -> list:  # type: ignore[type-arg]
        self._unit(name)
        if name == TOXIPROXY:
            c = self._toxiproxy()
            return [c] if c is not None else []
        return self._containers(name)

    def _running_containers(self, name: str) -> list:  # type: ignore[type-arg]
        return [c for c in self._containers(name) if c.status in ("running", "paused")]

    def _check_ours(self, what: str, labels: dict, name: str) -> None:  # type: ignore[type-arg]
        if labels.get(OUR_PROJECT) != self.stack or labels.get(OUR_SERVICE) != name:
            raise SetupError(f"refusing to touch {what}: it has the stack label {NAMESPACE}={self.stack} but not "
                             f"{OUR_PROJECT}={self.stack} and {OUR_SERVICE}={name}, so the toolkit did not create it")

    def _refuse_strangers(self) -> None:
        """`docker stack rm` removes every service with the stack's label: make sure each is ours first."""
        for s in self.client.services.list(filters={"label": f"{NAMESPACE}={self.stack}"}):
            labels = s.attrs["Spec"].get("Labels") or {}
            self._check_ours(f"service {s.name}", labels, labels.get(OUR_SERVICE) or s.name.removeprefix(f"{self.stack}_"))

    # -- waiting --------------------------------------------------------------

    def _desired(self, svc) -> int:  # type: ignore[no-untyped-def]
        return int(svc.attrs["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 0))

    def _wait(self, done, timeout: float, message: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise SetupError(message + f" within {timeout:.0f} s")
            time.sleep(0.1)

    def _wait_ready(self, names: list[str], timeout: float = READY_TIMEOUT) -> None:
        """Until each unit runs all its replicas, healthy by docker's
        healthcheck, and answers through its loopback port."""
        pending = list(names)
        deadline = time.monotonic() + timeout
        while pending:
            for name in list(pending):
                if self._ready(name):
                    pending.remove(name)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise SetupError(f"{', '.join(pending)} not ready in {timeout:.0f} s; last lines of {pending[0]}'s log:\n"
                                 + self._tail(pending[0]))
            time.sleep(0.2)

    def _ready(self, name: str) -> bool:
        if name == TOXIPROXY:
            try:
                Toxiproxy(self.system.spec.toxiproxy.url, timeout=(0.2, 1.0)).version()
                return True
            except ToxiproxyError:
                return False
        live = [c for c in self._containers(name) if c.status == "running"]
        healthy = [c for c in live if c.attrs["State"].get("Health", {}).get("Status", "healthy") == "healthy"]
        if len(healthy) < self.desired(name) or len(live) > len(healthy):
            return False
        spec = self.system.services[name]
        try:
            return self._http.get(spec.base_url + spec.health, timeout=(0.2, 1.0)).status_code == 200
        except requests.RequestException:
            return False

    def _wait_gone(self) -> None:
        """Until no service, container or network of the stack is left; then its volumes go."""
        label = {"label": f"{NAMESPACE}={self.stack}"}
        deadline = time.monotonic() + 60
        while True:
            left = (self.client.services.list(filters=label) or self.client.containers.list(all=True, filters=label))
            networks = self.client.networks.list(filters=label)
            if not left:
                for n in networks:
                    try:
                        n.remove()
                    except Exception:  # noqa: BLE001 - still detaching; tried again below
                        pass
                networks = self.client.networks.list(filters=label)
            if not left and not networks:
                break
            if time.monotonic() > deadline:
                raise SetupError(f"the stack {self.stack} was not gone in 60 s: {[getattr(x, 'name', x) for x in [*left, *networks]]}")
            time.sleep(0.3)
        for v in self.client.volumes.list(filters=label):
            self._api("remove", v.name, v.remove, force=True)

    def _tail(self, name: str, lines: int = 15) -> str:
        found = self._unit_containers(name)
        if not found:
            return "(no container)"
        return found[-1].logs(tail=lines).decode(errors="replace").rstrip() or "(empty log)"

    # -- helpers ---------------------------------------------------------------

    def _api(self, verb: str, name: str, call, *args, **kwargs):  # type: ignore[no-untyped-def]
        import docker

        try:
            return call(*args, **kwargs)
        except docker.errors.APIError as e:
            raise SetupError(f"docker could not {verb} {name}: {e.explanation or e}") from None

    def _docker(self, *args: str) -> str:
        try:
            done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=DOCKER_TIMEOUT,
                                  stdin=subprocess.DEVNULL, env=self.env)
        except subprocess.TimeoutExpired:
            raise SetupError(f"`docker {' '.join(args)}` did not finish in {DOCKER_TIMEOUT:.0f} s") from None
        if done.returncode != 0:
            raise SetupError(f"`docker {' '.join(args)}` failed (exit {done.returncode}): {(done.stdout + done.stderr).strip()[-800:]}")
        return done.stdout

    def _load_state(self) -> dict:  # type: ignore[type-arg]
        try:
            return json.loads((self.state_dir / "swarm.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _save_state(self, data: dict) -> None:  # type: ignore[type-arg]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "swarm.json").write_text(json.dumps(data))
