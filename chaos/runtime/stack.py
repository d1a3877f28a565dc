"""The swarm runtime's stack file, derived from the Docker runtime's compose file.

One compose file describes the system for both Docker runtimes, so they
cannot drift. `stack_file` turns it into a file `docker stack deploy` takes:

- every service but Toxiproxy becomes a swarm service on one attachable
  overlay network, with `endpoint_mode: dnsrr`: the service's name resolves
  to its replicas' addresses. Service VIPs and the routing mesh need IPVS,
  which many kernels (CI's included) lack, so nothing here relies on them;
- no service publishes a port. Swarm ignores a published port's host
  address (the mesh, and host mode too, bind every interface), which would
  break the promise that everything listens on 127.0.0.1. Toxiproxy runs
  instead as a plain container on the same network (see `toxiproxy_proxies`),
  publishing its API and one access proxy per service on loopback only;
- holder containers (`network_mode: service:NAME`) are left out: swarm has
  no shared network namespaces, and a task that dies takes its address with it;
- the io.flask-chaos.* labels name the stack, on the services (deploy.labels)
  and on their tasks' containers (labels), so the runtime can tell its own;
- restart and update policies: a killed task is replaced after `RESTART_DELAY`;
  an update starts a new task (healthy first) before it stops an old one;
- a lenient healthcheck (`HEALTH`). Compose only reports health; swarm
  replaces a task that turns unhealthy. With compose's timing (a 2 s
  timeout, 3 retries) a two-core machine under load had swarm kill healthy
  gateway and inventory tasks mid-run, because the check's own Python took
  longer than 2 s to start: a false alarm of the platform's, which failed
  one-replica-down before its fault. Here a task must fail 5 checks of up to
  10 s each in a row.

Why by hand: no kept library converts compose files to stack files, and the
rules above are the point of the conversion.
"""

from __future__ import annotations

from typing import Any

OUR_PROJECT = "io.flask-chaos.project"
OUR_SERVICE = "io.flask-chaos.service"
RESTART_DELAY = "1s"
ACCESS_PREFIX = "access_"
HEALTH = {"interval": "3s", "timeout": "10s", "retries": 5, "start_period": "30s"}


def holders(compose: dict[str, Any]) -> set[str]:
    """Compose services whose network namespace another service shares."""
    out = set()
    for spec in (compose.get("services") or {}).values():
        mode = str((spec or {}).get("network_mode", ""))
        if mode.startswith("service:"):
            out.add(mode.removeprefix("service:"))
    return out


def _environment(raw: Any, env: dict[str, str]) -> dict[str, str]:
    """Compose's environment (list or mapping) as a mapping; an entry without
    a value takes it from `env` (what compose does from the shell), or is left out."""
    items = raw.items() if isinstance(raw, dict) else [tuple(str(e).split("=", 1)) if "=" in str(e) else (str(e), None) for e in raw or []]
    out = {}
    for key, value in items:
        if value is None:
            if key in env:
                out[key] = env[key]
        else:
            out[key] = str(value)
    return out


def stack_file(compose: dict[str, Any], *, stack: str, network: str, toxiproxy: str, replicas: dict[str, int],
               env: dict[str, str]) -> dict[str, Any]:
    """The stack file for `docker stack deploy`: every compose service but
    `toxiproxy` and the holders, `replicas[name]` tasks each (default 1),
    owned by `stack`, environment pass-throughs filled from `env`."""
    skip = holders(compose) | {toxiproxy}
    services: dict[str, Any] = {}
    for name, spec in (compose.get("services") or {}).items():
        if name in skip:
            continue
        labels = {OUR_PROJECT: stack, OUR_SERVICE: name}
        out: dict[str, Any] = {"image": spec["image"], "networks": [network], "labels": labels}
        for key in ("command", "entrypoint", "healthcheck", "volumes", "user", "working_dir", "stop_grace_period"):
            if key in spec:
                out[key] = spec[key]
        if isinstance(out.get("healthcheck"), dict) and not out["healthcheck"].get("disable"):
            out["healthcheck"] = {**out["healthcheck"], **HEALTH}
        environment = _environment(spec.get("environment"), env)
        if environment:
            out["environment"] = environment
        out["deploy"] = {
            "mode": "replicated",
            "replicas": int(replicas.get(name, 1)),
            "endpoint_mode": "dnsrr",
            "labels": dict(labels),  # a copy: the runtime adds to the service's labels only
            "restart_policy": {"condition": "any", "delay": RESTART_DELAY},
            # One task at a time, the new one healthy before the old one stops.
            "update_config": {"parallelism": 1, "order": "start-first", "failure_action": "rollback", "monitor": "2s"},
        }
        services[name] = out
    stack_data: dict[str, Any] = {
        "version": "3.8",
        "services": services,
        "networks": {network: {"driver": "overlay", "attachable": True}},
    }
    volumes = compose.get("volumes")
    if volumes:
        stack_data["volumes"] = volumes
    return stack_data


def toxiproxy_proxies(edge_proxies: list[dict[str, Any]], service_ports: dict[str, int]) -> list[dict[str, Any]]:
    """Toxiproxy's proxy list on the stack's network: the edges' proxies (as
    for the Docker runtime) and one access proxy a service, listening on the
    service's own port and forwarding to it by name. Only Toxiproxy's
    container publishes ports (on loopback), so the toolkit reaches every
    service through these; a new connection goes to one of its replicas."""
    access = [{"name": f"{ACCESS_PREFIX}{name}", "listen": f"0.0.0.0:{port}", "upstream": f"{name}:{port}", "enabled": True}
              for name, port in service_ports.items()]
    return [*edge_proxies, *access]
