"""`make bench-runtimes`: the local, Docker and swarm runtimes side by side, in one run.

- stack start: `up()` from nothing to every unit ready (healthy and
  answering), and `down()` until nothing is left;
- memory of each unit: the resident set (RSS) of its processes, read from
  /proc the same way for both (a container's processes are host processes),
  and for containers also the cgroup's own figure (`docker stats`: usage
  less page cache);
- the size of each image;
- swarm only: the time from SIGKILL of one orders replica until swarm's new
  task runs, healthy and answering (the scheduler's replacement), and each
  unit's memory summed over its replicas.

`--only swarm` (BENCH_RUNTIMES=swarm) measures some runtimes only; the swarm
stack follows $CHAOS_PORT_OFFSET, so it can be measured beside other stacks.

Run with both runtimes down: it starts each stack in turn, in a temporary
state folder, and stops it again. Needs a Docker engine and `make images`.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

from chaos.runtime import TOXIPROXY, make_runtime
from chaos.runtime.process import group_members
from chaos.spec import load_system

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os

    from chaos.spec.ports import shifted

    parser = argparse.ArgumentParser(prog="bench.runtimes")
    parser.add_argument("--only", default="local,docker,swarm", help="comma-separated runtimes to measure")
    kinds = [k for k in parser.parse_args(argv).only.split(",") if k]
    system = load_system(ROOT / "system.yaml")
    units = [TOXIPROXY, *system.services]
    memory = {"local": _local_memory, "docker": _docker_memory, "swarm": _swarm_memory}
    figures = {}
    with tempfile.TemporaryDirectory() as state:
        for kind in kinds:
            placed = shifted(system, int(os.environ.get("CHAOS_PORT_OFFSET") or 0)) if kind == "swarm" else system
            figures[kind] = _measure(make_runtime(kind, placed, Path(state) / kind), units, memory[kind])
    rows = [
        ("stack start (up, until all ready)", *[f"{figures[k]['up']:.2f} s" for k in kinds]),
        ("stack stop (down, nothing left)", *[f"{figures[k]['down']:.2f} s" for k in kinds]),
        ("restart one service (kill + start, ready)", *[f"{figures[k]['restart']:.2f} s" for k in kinds]),
        ("one orders replica killed: replaced, ready", *[f"{figures[k]['replace']:.2f} s" if "replace" in figures[k] else "-" for k in kinds]),
    ]
    for unit in units:
        cells = []
        for k in kinds:
            rss, cgroup = figures[k]["memory"][unit]
            cells.append(f"{rss / MIB:.1f} MiB" + (f" ({cgroup / MIB:.1f} MiB)" if k != "local" else ""))
        rows.append((f"memory of {unit}: RSS (containers: cgroup)", *cells))
    holders = [figures[k].get("holders", (0, 0)) for k in kinds]
    rows.append(("memory of the network holders (docker: SERVICE-net): RSS",
                 *[f"{h[1] / MIB:.1f} MiB" if h[0] else "-" for h in holders]))
    rows.append(("memory of the whole stack: RSS",
                 *[f"{(sum(m[0] for m in figures[k]['memory'].values()) + h[1]) / MIB:.1f} MiB" for k, h in zip(kinds, holders)]))
    _table(["measure", *kinds], rows)
    if "docker" in kinds or "swarm" in kinds:
        print()
        _table(["image", "size", "on top of its base"], _image_sizes(system))
    return 0


def _measure(runtime, units: list[str], memory) -> dict:  # type: ignore[no-untyped-def]
    out: dict = {}
    started = time.monotonic()
    runtime.up()
    out["up"] = time.monotonic() - started
    try:
        time.sleep(2.0)  # let start-up allocations settle before reading memory
        out["memory"] = {unit: memory(runtime, unit) for unit in units}
        if hasattr(runtime, "container_id"):
            out["holders"] = _holders_rss(runtime)
        if hasattr(runtime, "kill_replicas"):
            started = time.monotonic()
            runtime.kill_replicas("orders", 1)
            runtime.wait_replicas("orders")
            out["replace"] = time.monotonic() - started
        started = time.monotonic()
        runtime.restart("orders")
        out["restart"] = time.monotonic() - started
    finally:
        started = time.monotonic()
        runtime.down()
        out["down"] = time.monotonic() - started
    return out


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            continue
    return total


def _local_memory(runtime, unit: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    pid = runtime.pid(unit)
    return _rss(group_members(pid) if pid else []), 0


def _docker_memory(runtime, unit: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    container = runtime.client.containers.get(runtime.container_id(unit))
    top = container.top(ps_args="-o pid")
    pids = [int(row[0]) for row in top["Processes"]]
    stats = container.stats(stream=False)["memory_stats"]
    detail = stats.get("stats", {})
    # cgroup v1 counts page cache in usage; v2 calls it inactive_file.
    cache = detail.get("total_inactive_file", detail.get("inactive_file", detail.get("cache", 0)))
    return _rss(pids), stats.get("usage", 0) - cache


def _swarm_memory(runtime, unit: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """RSS and cgroup memory of every replica of the unit, summed."""
    rss = cgroup = 0
    for c in runtime._unit_containers(unit):  # noqa: SLF001 - the runtime's own view of its containers
        if c.status != "running":
            continue
        pids = [int(row[0]) for row in c.top(ps_args="-o pid")["Processes"]]
        stats = c.stats(stream=False)["memory_stats"]
        detail = stats.get("stats", {})
        cache = detail.get("total_inactive_file", detail.get("inactive_file", detail.get("cache", 0)))
        rss += _rss(pids)
        cgroup += stats.get("usage", 0) - cache
    return rss, cgroup


def _holders_rss(runtime) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """How many network-namespace holders run, and their RSS together."""
    label = f"com.docker.compose.project={runtime.project}"
    holders = [c for c in runtime.client.containers.list(filters={"label": label}) if c.labels.get("io.flask-chaos.service", "").endswith("-net")]
    pids = [int(row[0]) for c in holders for row in c.top(ps_args="-o pid")["Processes"]]
    return len(holders), _rss(pids)


def _interpolate(text: str) -> str:
    """Compose's `${NAME}` and `${NAME:-default}` filled from the environment,
    as compose does (the shop's images are tagged `${CHAOS_IMAGE_TAG:-latest}`)."""

    def one(m: re.Match[str]) -> str:
        value = os.environ.get(m[1], "")
        return value or m[3] or "" if m[2] else value

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", one, text)


def _image_sizes(system) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    import docker
    import yaml

    client = docker.from_env()
    compose = yaml.safe_load((system.root / system.spec.docker.compose).read_text())
    rows = []
    for name in dict.fromkeys(_interpolate(spec["image"]) for spec in compose["services"].values()):
        image = client.images.get(name)
        parent = _base_size(client, image)
        rows.append((name, f"{image.attrs['Size'] / 1e6:.0f} MB", f"{(image.attrs['Size'] - parent) / 1e6:.0f} MB" if parent else "-"))
    for base in ("python:3.11-slim", "flask-chaos/python:3.11"):
        try:
            rows.append((base, f"{client.images.get(base).attrs['Size'] / 1e6:.0f} MB", "(base)"))
        except docker.errors.ImageNotFound:
            pass
    return rows


def _base_size(client, image) -> int:  # type: ignore[no-untyped-def]
    """Size of the deepest local image whose layers this one starts with."""
    layers = image.attrs["RootFS"].get("Layers", [])
    best = 0
    for other in client.images.list():
        theirs = other.attrs["RootFS"].get("Layers", [])
        if other.id != image.id and theirs and layers[: len(theirs)] == theirs and len(theirs) < len(layers):
            best = max(best, other.attrs["Size"])
    return best


def _table(header: list[str], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [tuple(header), *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
