"""`ChaosAgent`: the Flask extension that puts the agent into an app."""

from __future__ import annotations

import logging
import os
import random
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask

from chaos.agent import access, adapters, assaults, fallback, views, workers
from chaos.agent.adapters import BreakerAdapter, Pollable
from chaos.agent.recorder import BreakerRecorder, boot_id
from chaos.agent.settings import Settings

B = TypeVar("B")
EXTENSION = "chaos.agent"
DEFAULT_EXEMPT = ("/health",)
log = logging.getLogger(__name__)


def _version() -> str:
    from chaos import __version__

    return __version__


class Poller:
    """One daemon thread that calls `poll()` on every Pollable adapter each
    `interval` seconds; started with the first one, stopped by `stop()`.
    Restarted if found dead in another process (a forked worker).

    Safe to fork (gunicorn's preload_app builds the app in the master, whose
    poller then runs, and forks the workers): a fork waits for the polling
    round in flight, so no lock a poll takes (a breaker's, a Redis pool's)
    is copied into the child held by a thread the child does not have."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._round = threading.Lock()  # held for each polling round
        self._items: list[Pollable] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        ref = weakref.ref(self)

        def before() -> None:
            me = ref()
            if me is not None:
                me._round.acquire()

        def after_in_parent() -> None:
            me = ref()
            if me is not None:
                me._round.release()

        def after_in_child() -> None:
            me = ref()
            if me is not None:
                me._round, me._lock = threading.Lock(), threading.Lock()

        os.register_at_fork(before=before, after_in_parent=after_in_parent, after_in_child=after_in_child)

    def add(self, item: Pollable) -> None:
        with self._lock:
            self._items.append(item)
        self.ensure_running()

    def ensure_running(self) -> None:
        """Start the thread if there is something to poll and it does not run in this process."""
        with self._lock:
            if not self._items or self._stop.is_set():
                return
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="chaos-agent-poll", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (briefly)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                items = list(self._items)
            with self._round:
                for item in items:
                    try:
                        item.poll()
                    except Exception:  # a broken adapter must not stop the others
                        log.exception("chaos agent: polling a breaker failed")


@dataclass
class Runtime:
    """What the agent holds while it is on, for one app."""

    settings: Settings
    poller: Poller
    assaults: assaults.AssaultState = field(default_factory=assaults.AssaultState)
    version: str = field(default_factory=_version)
    watched: list[tuple[BreakerAdapter, BreakerRecorder]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _registry: Any = None
    # The transition log and the fellow workers' views: this process's own
    # memory, or the directory a multi-process server's workers share.
    log: workers.Workers = field(init=False)

    def __post_init__(self) -> None:
        self.log = workers.Workers(self.settings.service, self.settings.shared_dir, self.describe, boot_id)

    @property
    def registry(self) -> Any:
        """The Prometheus registry of the watched breakers, made on the first
        scrape: prometheus-client's import is a tenth of a service's boot and
        most runs never scrape."""
        with self.lock:
            if self._registry is None:
                from chaos.agent import metrics

                self._registry = metrics.registry_for(self.pairs)
            return self._registry

    def boot_id(self) -> str:
        return boot_id()

    def add(self, adapter: BreakerAdapter) -> None:
        recorder = BreakerRecorder(adapter.name, self.log)
        adapter.set_enabled(self.settings.breakers)
        adapter.install(recorder)
        with self.lock:
            self.watched.append((adapter, recorder))
        if isinstance(adapter, Pollable):
            self.poller.add(adapter)
        self.log.changed()  # fellow workers see the new breaker at once, not at the next round

    def pairs(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(snapshot, recorder metrics) of each watched breaker, for the metrics."""
        self.poller.ensure_running()
        with self.lock:
            watched = list(self.watched)
        return [(adapter.snapshot(), recorder.metrics()) for adapter, recorder in watched]

    def describe(self) -> list[dict[str, Any]]:
        """Each watched breaker as GET <prefix>/breakers shows it."""
        self.poller.ensure_running()
        with self.lock:
            watched = list(self.watched)
        return [{**adapter.snapshot(), **recorder.counters()} for adapter, recorder in watched]


class ChaosAgent:
    """The chaos agent of one Flask app: `ChaosAgent(app)` or `ChaosAgent().init_app(app)`.

    Off unless CHAOS_AGENT says on (app.config first, else the environment);
    off, `init_app` registers nothing and `watch` leaves breakers untouched.
    `exempt` lists paths never assaulted besides the agent's own prefix
    (each with everything under it); `rng` may be a seeded random.Random for
    reproducible assault draws; `poll_interval` is how often breakers that
    need it (circuitbreaker) are looked at, in seconds.
    """

    def __init__(self, app: Flask | None = None, *, exempt: tuple[str, ...] = DEFAULT_EXEMPT,
                 rng: random.Random | None = None, poll_interval: float = 0.05) -> None:
        self.exempt = exempt
        self.rng = rng
        self.poll_interval = poll_interval
        self.settings: Settings | None = None
        self._runtime: Runtime | None = None
        self._adapters: list[BreakerAdapter] = []
        self._breakers: list[Any] = []
        if app is not None:
            self.init_app(app)

    @property
    def enabled(self) -> bool:
        """Whether the agent is installed on an app (CHAOS_AGENT on)."""
        return self._runtime is not None

    def init_app(self, app: Flask) -> bool:
        """Install the agent on `app` if CHAOS_AGENT is on; returns whether it did.

        Reads every setting first: ValueError names a misspelt one. Off, the
        app is left exactly as it was. On, adds the endpoints under the
        prefix, the assault hook and the fallback-marking hook, and starts
        watching the breakers given to `watch` so far.
        """
        settings = Settings.from_app(app)
        self.settings = settings
        if not settings.enabled:
            return False
        if EXTENSION in app.extensions:
            raise RuntimeError("the chaos agent is already installed on this app")
        if self._runtime is not None:
            raise RuntimeError("this ChaosAgent already serves another app; make one per app")
        runtime = Runtime(settings, Poller(self.poll_interval), assaults=assaults.AssaultState(self.rng))
        # Every worker of a multi-process server inflicts the one assault set
        # through any of them (chaos.agent.shared_assault).
        runtime.assaults.shared_dir = lambda: (group.dir if (group := runtime.log.group()) else None)
        app.extensions[EXTENSION] = self
        app.register_blueprint(views.blueprint(runtime))
        assaults.install(app, runtime.assaults, url=f"{settings.prefix}/assaults",
                         exempt=(settings.prefix, *self.exempt),
                         allowed=lambda req: access.control_refusal(req, settings.token),
                         blueprint_name="chaos_agent_assaults")
        app.after_request(fallback.mark_noted)
        self._runtime = runtime
        for adapter in self._adapters:
            runtime.add(adapter)
        # A worker publishes its view from its start, so its fellows list it
        # before it serves a request; with --preload the fork starts it.
        if workers.in_gunicorn_worker() or settings.shared_dir:
            runtime.log.ensure_publishing()
        runtime.log.publish_after_fork()
        return True

    def watch(self, breaker: B, name: str | None = None) -> B:
        """Watch `breaker` (pybreaker or circuitbreaker, or a registered
        library's) and return it, so `cb = agent.watch(CircuitBreaker(...))` reads well.

        TypeError for an object no adapter knows; ValueError for a breaker
        without a name (give `name`) or a name already watched. Off, the
        breaker is remembered but not touched.
        """
        if any(breaker is b for b in self._breakers):
            raise ValueError(f"{breaker!r} is watched already")
        adapter = adapters.adapt(breaker, name)
        if any(a.name == adapter.name for a in self._adapters):
            raise ValueError(f"a breaker named {adapter.name!r} is watched already; give this one another name")
        self._breakers.append(breaker)
        self._adapters.append(adapter)
        if self._runtime is not None:
            self._runtime.add(adapter)
        return breaker

    @property
    def breakers(self) -> list[Any]:
        """The breakers given to `watch`, in order."""
        return list(self._breakers)

    def close(self) -> None:
        """Stop the polling thread (tests, or an app shutting down); the
        endpoints keep answering. Safe to call more than once, or when off."""
        if self._runtime is not None:
            self._runtime.poller.stop()
            self._runtime.log.stop()
