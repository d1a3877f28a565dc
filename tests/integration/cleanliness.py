"""What "clean" means after a run, a rollback or `chaos reset`, checked from
outside the toolkit: a list of problems, empty when the system is clean.

Clean: every proxy of the system exists, is enabled and has no toxic; every
unit of .chaos/local.json is the live process group it records; every
service answers /health with 200 and no process of it is stopped (T); every
breaker is closed (or disabled); and no gunicorn or Toxiproxy process of
this checkout runs outside a recorded group (an orphan of a killed runner).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import requests

from chaos.clients.agent import Agents
from chaos.errors import SetupError
from chaos.runtime import TOXIPROXY
from chaos.runtime.readiness import accepts
from chaos.runtime.process import Record, group_members, is_ours, state_letter
from chaos.spec.system import System
from chaos.clients.toxiproxy import Toxiproxy, ToxiproxyError

UNIT_PROGRAMS = ("gunicorn", "toxiproxy-server")


def problems(system: System, state_dir: Path) -> list[str]:
    """Everything that keeps the system from being clean, in words; [] if clean."""
    records = _records(state_dir)
    return _proxies(system) + _units(system, records) + _breakers(system) + _orphans(system, records)


def _records(state_dir: Path) -> dict[str, Record]:
    try:
        units = json.loads((state_dir / "local.json").read_text()).get("units", {})
    except (OSError, ValueError):
        return {}
    return {name: Record(**raw) for name, raw in units.items()}


def _proxies(system: System) -> list[str]:
    toxiproxy = Toxiproxy(system.spec.toxiproxy.url, timeout=(1.0, 3.0))
    out = []
    try:
        for name in system.proxies:
            proxy = toxiproxy.proxy(name)
            if proxy is None:
                out.append(f"proxy {name} is missing")
                continue
            if not proxy.get("enabled", False):
                out.append(f"proxy {name} is disabled")
            out += [f"toxic {t['name']} ({t['type']}) on proxy {name}" for t in toxiproxy.toxics(name)]
    except ToxiproxyError as e:
        out.append(f"Toxiproxy: {e}")
    finally:
        toxiproxy.close()
    return out


def _units(system: System, records: dict[str, Record]) -> list[str]:
    out = []
    for name in [TOXIPROXY, *system.services]:
        record = records.get(name)
        if record is None or not is_ours(record):
            out.append(f"{name} is not running (no live process group of ours in local.json)")
            continue
        stopped = [pid for pid in group_members(record.pid) if state_letter(pid) in ("T", "t")]
        if stopped:
            out.append(f"{name} is paused: pids {stopped} are stopped (T)")
        if name == TOXIPROXY:
            continue
        spec = system.services[name]
        if spec.health_url is None:
            if not accepts(spec.host, spec.port, timeout=2):
                out.append(f"{name} does not accept a connection on {spec.host}:{spec.port}")
            continue
        try:
            status = requests.get(spec.health_url, timeout=2).status_code
        except requests.RequestException as e:
            status = type(e).__name__
        if status != 200:
            out.append(f"{name} /health answers {status}")
    return out


def _breakers(system: System) -> list[str]:
    out = []
    agents = Agents(system)
    for name in agents.services():
        try:
            body = agents.client(name).breakers(timeout=2)
        except (requests.RequestException, SetupError) as e:
            out.append(f"cannot read the breakers of {name}: {type(e).__name__}")
            continue
        out += [f"breaker {b['name']} of {name} is {b['state']}" for b in body["breakers"] if b["state"] not in ("closed", "disabled")]
    return out


def _orphans(system: System, records: dict[str, Record]) -> list[str]:
    """gunicorn and Toxiproxy processes of this checkout (their working folder
    is in it: other checkouts on this machine run their own systems) that
    are in no recorded, live process group. Processes this test process
    started itself (its own Toxiproxy fixture) are not the toolkit's."""
    groups = {r.pid for r in records.values() if is_ours(r)}
    root = system.root.resolve()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
            pgid = os.getpgid(pid)
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        command = " ".join(a.decode(errors="replace") for a in argv if a)
        if not any(program in command for program in UNIT_PROGRAMS) or state_letter(pid) in (None, "Z"):
            continue
        if not cwd.is_relative_to(root) or parent == os.getpid() or _unit_lane(pid):
            continue
        if pgid not in groups:
            out.append(f"orphan pid {pid} (group {pgid}, in no group of local.json): {command[:120]}")
    return out


def _unit_lane(pid: int) -> bool:
    """Started by the unit tests that `make test` runs beside these (tests/lanes.sh)."""
    try:
        return b"CHAOS_TEST_LANE=unit" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
