"""Running Docker Compose, whichever one this machine has.

`docker compose` (v2, a Docker CLI plugin) is preferred; Debian's
`docker-compose` 1.29 (Python) serves when v2 is missing. CHAOS_COMPOSE
overrides the choice (e.g. CHAOS_COMPOSE=docker-compose). The project name
is always given explicitly: compose would otherwise name it after the folder,
and the toolkit finds its containers by that name.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from chaos.errors import SetupError

# Long enough for `up` to create a network, volumes and five containers on a
# slow machine; a hung compose still ends with a clear error.
COMPOSE_TIMEOUT = 300.0


@functools.cache
def compose_command() -> tuple[str, ...]:
    """The compose command to run: ("docker", "compose") or ("docker-compose",).
    SetupError when there is none."""
    override = os.environ.get("CHAOS_COMPOSE")
    if override:
        return tuple(shlex.split(override))
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if probe.returncode == 0:
            return ("docker", "compose")
    if shutil.which("docker-compose"):
        return ("docker-compose",)
    raise SetupError("neither `docker compose` (v2) nor `docker-compose` is installed: the Docker runtime needs one")


def run_compose(compose_file: Path, project: str, args: list[str], env: dict[str, str] | None = None) -> str:
    """Run one compose command on the project and return its output.
    SetupError, with the end of its output, when it fails."""
    command = [*compose_command(), "-p", project, "-f", str(compose_file), *args]
    try:
        done = subprocess.run(
            command,
            cwd=compose_file.parent,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=COMPOSE_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise SetupError(f"`{shlex.join(command)}` did not finish in {COMPOSE_TIMEOUT:.0f} s") from None
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        tail = "\n".join(output.splitlines()[-15:])
        raise SetupError(f"`{shlex.join(command)}` failed (exit {done.returncode}):\n{tail}")
    return output
