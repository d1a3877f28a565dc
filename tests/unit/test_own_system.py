"""Bringing your own services: a system file of another team's, written the way
they would, and the errors they would hit, each clear and before anything starts."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.errors import ConfigError
from chaos.spec import load_system
from chaos.spec.system import same_address

SYSTEM = textwrap.dedent(
    """\
    name: two
    toxiproxy:
      url: http://127.0.0.1:18474
      command: [toxiproxy-server, -port, "18474"]
      proxies: proxies.json
    services:
      front:
        command: ["{root}/venv/bin/python", app.py]
        port: 18001
        agent: /_chaos
      back:
        command: ["{python}", back.py]
        host: localhost
        port: 18002
    edges:
      - {from: front, to: back, proxy: front_back, read_timeout: 0.5}
    entrypoint: front
    routes:
      page: {path: /page, calls: [back]}
    """
)


def write(tmp_path: Path, system: str = SYSTEM, upstream: str = "127.0.0.1:18002") -> Path:
    (tmp_path / "proxies.json").write_text(json.dumps([{"name": "front_back", "listen": "127.0.0.1:16001", "upstream": upstream}]))
    (tmp_path / "system.yaml").write_text(system)
    return tmp_path / "system.yaml"


@pytest.mark.parametrize(("upstream", "host", "port", "same"), [
    ("localhost:5001", "127.0.0.1", 5001, True),
    ("127.0.0.1:5001", "localhost", 5001, True),
    ("127.0.0.2:5001", "127.0.0.1", 5001, True),  # all of 127/8 is this machine
    ("127.0.0.1:5001", "0.0.0.0", 5001, True),  # listening everywhere: reached on loopback
    ("[::1]:5001", "localhost", 5001, True),
    ("127.0.0.1:5002", "127.0.0.1", 5001, False),
    ("10.0.0.1:5001", "127.0.0.1", 5001, False),
    ("orders:5102", "orders", 5102, True),
    ("orders:5102", "users", 5102, False),
])
def test_addresses_compare_by_meaning(upstream, host, port, same):
    assert same_address(upstream, host, port) is same


def test_localhost_and_127_0_0_1_are_one_address_in_a_system_file(tmp_path):
    system = load_system(write(tmp_path))  # back listens on localhost, the proxy forwards to 127.0.0.1
    assert system.services["back"].host == "localhost"
    with pytest.raises(ConfigError, match=r"proxy 'front_back' forwards to 127.0.0.1:18003, but back listens on localhost:18002"):
        load_system(write(tmp_path, upstream="127.0.0.1:18003"))


@pytest.mark.parametrize("field", ["breakers: /breakers", "assaults: /_chaos/assaults"])
def test_the_retired_private_contract_fields_say_what_replaced_them(tmp_path, field):
    text = SYSTEM.replace("    agent: /_chaos\n", f"    {field}\n")
    with pytest.raises(ConfigError) as e:
        load_system(write(tmp_path, text))
    assert "system.yaml:7: services.front" in str(e.value) and "replaced by `agent: /_chaos`" in str(e.value)


def test_breakers_off_on_a_service_without_an_agent_is_refused_naming_it(tmp_path, capsys):
    path = write(tmp_path, SYSTEM.replace("    agent: /_chaos\n", ""))
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "back-down.yaml").write_text(
        "name: back-down\ndescription: d\nduration: 10s\nfaults: [{kind: kill, service: back, at: 2s, duration: 3s}]\n"
        "checks: [{kind: breaker_opens, breaker: front->back}]\n")
    assert main(["--system", str(path), "run", "back-down", "--breakers", "off", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--breakers: off needs the agent" in err and "front declares no agent" in err
    # With breakers on it runs, and says which check will be unknown and why.
    assert main(["--system", str(path), "run", "back-down", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "warning:" in out and "checks[0] (breaker front->back opens within 3 s) will be UNKNOWN: front declares no agent" in out


def test_validate_and_list_without_a_scenarios_folder_say_so(tmp_path, capsys):
    path = write(tmp_path)
    assert main(["--system", str(path), "validate"]) == 2
    assert main(["--system", str(path), "list"]) == 2
    err = capsys.readouterr().err
    assert err.count(f"no scenarios folder at {tmp_path / 'scenarios'}") == 2


def test_toxiproxy_is_found_through_toxiproxy_server_path_and_the_tools_folder(tmp_path, monkeypatch):
    from chaos.tools import find_tool, tools_dir

    fake = tmp_path / "bin" / "toxiproxy-server"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CHAOS_TOOLS", str(tmp_path / "tools"))
    monkeypatch.delenv("TOXIPROXY_SERVER", raising=False)
    monkeypatch.setattr("chaos.tools.Path.resolve", lambda self: Path("/nowhere/chaos/tools.py"), raising=False)
    assert find_tool("toxiproxy-server", tmp_path / "elsewhere") is None
    monkeypatch.setenv("TOXIPROXY_SERVER", str(fake))
    assert find_tool("toxiproxy-server", tmp_path) == str(fake)
    monkeypatch.delenv("TOXIPROXY_SERVER")
    tools_dir().mkdir(parents=True)
    os.symlink(fake, tools_dir() / "toxiproxy-server")
    assert find_tool("toxiproxy-server", tmp_path / "elsewhere") == str(tools_dir() / "toxiproxy-server")
    monkeypatch.setenv("PATH", str(fake.parent))
    assert find_tool("toxiproxy-server", tmp_path / "elsewhere") == str(fake)  # PATH first
