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

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chaos.clients.agent import agent_token
from chaos.clients.http import Session
from chaos.errors import SetupError
from chaos.runtime import TOXIPROXY, Status
from chaos.runtime.swarm_engine import READY_TIMEOUT, SwarmEngine
from chaos.runtime.swarm_tasks import ReplicaWatcher, parse_time
from chaos.spec.system import System


class SwarmRuntime(SwarmEngine):
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
        for name in self.system.services:
            for c in self._containers(name):
                if c.status == "paused":
                    self._api("unpause", name, c.unpause)  # left paused by an interrupted run
        self._deploy()
        self._toxiproxy_up()
        self._wait_ready(self.units)
        self._populate_proxies()
        return [name for name in self.units if self.identity(name) != before[name]]

    def down(self) -> list[str]:
        if self._client_or_none() is None:
            return []
        self._refuse_strangers()
        present = [name for name in self.units if self.status(name) is not Status.STOPPED]
        # Toxiproxy first: while it is attached, the stack's network cannot go.
        c = self._toxiproxy()
        if c is not None:
            self._api("remove", TOXIPROXY, c.remove, force=True)
        if any(self._service(s) is not None for s in self.system.services):
            try:
                self._docker("stack", "rm", self.stack)
            except SetupError as e:
                # Toxiproxy's attachment to the network outlives its container
                # for a moment; _wait_gone removes the network once it is free.
                if "Failed to remove network" not in str(e):
                    raise
        self._wait_gone()  # and removes the network if `stack rm` could not yet (tasks still detaching)
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
            if self._toxiproxy() is None:
                self._check_ports_free([name])
            if svc is None:
                self.up()  # the stack is gone: deploy it whole (its own unit comes back with the rest)
                return
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
        self._kill_all(name, running)
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

    def kill_replicas(self, name: str, count: int) -> list[str]:
        """SIGKILL `count` of the service's running tasks, chosen at random;
        the scheduler replaces them. Returns their containers' short ids."""
        chosen = self._choose(name, count, "kill")
        self._kill_all(name, chosen)
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

    def _kill_all(self, name: str, containers: list) -> None:  # type: ignore[type-arg]
        # At once, not one after another: "every replica down" must be one moment.
        with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
            for done in [pool.submit(self._api, "kill", name, c.kill, signal="SIGKILL") for c in containers]:
                done.result()

    def _choose(self, name: str, count: int, verb: str) -> list:  # type: ignore[type-arg]
        running = [c for c in self._running_containers(name) if c.status == "running"]
        if not running:
            raise SetupError(f"cannot {verb} replicas of {name}: it is not running under this runtime")
        return random.sample(running, min(count, len(running)))
