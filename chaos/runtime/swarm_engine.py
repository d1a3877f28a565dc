"""The swarm runtime's side of the engine: the swarm it joins and leaves, the
stack it deploys and removes, Toxiproxy's container, finding what is ours,
and waiting until units are ready or gone. `SwarmRuntime` (chaos.runtime.swarm)
builds the runtime protocol on these; split from it to keep each file one
responsibility.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from chaos.clients.http import Session
from chaos.clients.toxiproxy import Toxiproxy, ToxiproxyError
from chaos.errors import SetupError
from chaos.runtime import TOXIPROXY
from chaos.runtime.readiness import service_ready
from chaos.runtime.stack import OUR_PROJECT, OUR_SERVICE, stack_file, toxiproxy_proxies
from chaos.spec.system import System

NAMESPACE = "com.docker.stack.namespace"
SERVICE_NAME = "com.docker.swarm.service.name"
READY_TIMEOUT = 90.0  # a task waits for the restart delay, starts and turns healthy
DOCKER_TIMEOUT = 120.0
STACK_HASH = "io.flask-chaos.stack-hash"  # on each service: the stack file it was deployed from


class SwarmEngine:
    """What the swarm runtime asks of the Docker engine, and nothing of the
    runtime protocol. Attributes are set by SwarmRuntime.__init__."""

    system: System
    offset: int
    stack: str
    network: str
    compose_file: Path
    state_dir: Path
    env: dict[str, str]
    units: list[str]
    replicas: dict[str, int]
    _client: object | None
    _http: Session

    def desired(self, name: str) -> int:
        """How many replicas the service runs when healthy."""
        return int(self.replicas.get(name, 1))

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
        """Deploy the stack unless every service already runs the stack file
        this would deploy (its hash is a service label) and only needs
        scaling back (after a kill). A deploy of a spec that differs from the
        running one (another state folder's agent token, other replicas, or a
        spec the scaling API rewrote) replaces every task one by one, which
        takes tens of seconds: done only when the file changed."""
        compose = yaml.safe_load(self.compose_file.read_text())
        data = stack_file(compose, stack=self.stack, network=self.network, toxiproxy=TOXIPROXY, replicas=self.replicas, env=self.env)
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
        services = {name: self._service(name) for name in data["services"]}
        if all(svc is not None and (svc.attrs["Spec"].get("Labels") or {}).get(STACK_HASH) == digest for svc in services.values()):
            for name, svc in services.items():
                wanted = data["services"][name]["deploy"]["replicas"]
                if svc.attrs["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas") != wanted:
                    self._api("scale", name, svc.scale, wanted)
            return
        for spec in data["services"].values():
            spec["deploy"]["labels"][STACK_HASH] = digest
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
        self._check_ports_free(self.units)
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

    def _check_ports_free(self, names: list[str]) -> None:
        """SetupError naming the first unit whose loopback port something else holds."""
        for name in names:
            url = self.system.spec.toxiproxy.url if name == TOXIPROXY else self.system.services[name].base_url
            parts = urlsplit(url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(0.2)
                if s.connect_ex((host, port)) == 0:
                    raise SetupError(f"cannot start {name}: {host}:{port} is already in use by something this runtime "
                                     "did not start (another runtime? `make down`)")

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

    def _swarm_on(self) -> bool:
        return self.client.info().get("Swarm", {}).get("LocalNodeState") == "active"

    def _service(self, name: str):  # type: ignore[no-untyped-def]
        if not self._swarm_on():
            return None
        full = f"{self.stack}_{name}"
        found = [s for s in self.client.services.list(filters={"name": full}) if s.name == full]
        for s in found:
            self._check_ours(s.name, s.attrs["Spec"].get("Labels") or {}, name)
        return found[0] if found else None

    def _toxiproxy(self):  # type: ignore[no-untyped-def]
        found = self._list([f"{NAMESPACE}={self.stack}", f"{OUR_SERVICE}={TOXIPROXY}"])
        for c in found:
            self._check_ours(c.name, c.labels, TOXIPROXY)
        return found[0] if found else None

    def _containers(self, name: str) -> list:  # type: ignore[type-arg]
        found = self._list([f"{NAMESPACE}={self.stack}", f"{SERVICE_NAME}={self.stack}_{name}"])
        for c in found:
            self._check_ours(c.name, c.labels, name)
        return found

    def _list(self, labels: list[str]) -> list:  # type: ignore[type-arg]
        """Containers with all these labels. Race-free: swarm removes old
        tasks' containers at any moment, so one gone between the list and
        its inspection is skipped, not an error."""
        import docker

        out = []
        for row in self.client.api.containers(all=True, filters={"label": labels}):
            try:
                out.append(self.client.containers.get(row["Id"]))
            except docker.errors.NotFound:
                continue
        return out

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
        if not self._swarm_on():
            return
        for s in self.client.services.list(filters={"label": f"{NAMESPACE}={self.stack}"}):
            labels = s.attrs["Spec"].get("Labels") or {}
            self._check_ours(f"service {s.name}", labels, labels.get(OUR_SERVICE) or s.name.removeprefix(f"{self.stack}_"))

    # -- waiting --------------------------------------------------------------

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
        # The scheduler's view too (a task is "running" once it saw it healthy),
        # so that ready here agrees with the replica events the history records.
        svc = self._service(name)
        if svc is None or (svc.attrs.get("UpdateStatus") or {}).get("State") in ("updating", "rollback_started"):
            return False  # mid-update, one task too many or too few: not settled
        tasks = self.client.api.tasks(filters={"service": svc.id, "desired-state": "running"})
        if sum(t["Status"]["State"] == "running" for t in tasks) != self.desired(name):
            return False
        # Through its access proxy, as the toolkit will reach it: the health
        # path, or for `health: tcp` (Redis) a connection accepted.
        return service_ready(self.system.services[name], self._http)

    def _wait_gone(self) -> None:
        """Until no service, container or network of the stack is left; then its volumes go."""
        label = {"label": f"{NAMESPACE}={self.stack}"}
        deadline = time.monotonic() + 60
        while True:
            services = self.client.services.list(filters=label) if self._swarm_on() else []
            left = services or self.client.api.containers(all=True, filters=label)
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

