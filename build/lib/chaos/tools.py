"""The programs the toolkit runs but does not ship: finding them, and building Toxiproxy.

Toxiproxy has no PyPI or Debian package, so `chaos setup` builds the server
with `go install` into the toolkit's own tools folder. A run then finds
`toxiproxy-server` (or whatever the system file's toxiproxy command names) in
this order: $TOXIPROXY_SERVER, PATH, the system file's `.tools/bin` (where
`make setup` puts it), the toolkit checkout's `.tools/bin`, the toolkit's
tools folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
TOXIPROXY_SERVER = "toxiproxy-server"
TOXIPROXY_HINT = "run `chaos setup` (or `make setup`) to build it with Go, or set TOXIPROXY_SERVER to its path"


def tools_dir() -> Path:
    """The toolkit's own tools folder: $CHAOS_TOOLS, else $XDG_DATA_HOME/flask-chaos/bin."""
    if os.environ.get("CHAOS_TOOLS"):
        return Path(os.environ["CHAOS_TOOLS"])
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "flask-chaos" / "bin"


def find_tool(name: str, root: Path) -> str | None:
    """The path of program `name`, searched as the module docstring says; None if nowhere."""
    if Path(name).name == TOXIPROXY_SERVER and os.environ.get("TOXIPROXY_SERVER"):
        given = os.environ["TOXIPROXY_SERVER"]
        return given if os.access(given, os.X_OK) else None
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    # The toolkit's own checkout counts too: `make setup` builds into its .tools/bin.
    checkout = Path(__file__).resolve().parents[1] / ".tools" / "bin"
    search = os.pathsep.join([os.environ.get("PATH", ""), str(root / ".tools" / "bin"), str(checkout), str(tools_dir())])
    return shutil.which(name, path=search)


def install_toxiproxy(dest: Path, say=print) -> Path:  # type: ignore[no-untyped-def]
    """Put toxiproxy-server at `dest`: a link to one already on PATH, else
    built with `go install`. RuntimeError saying what to do when neither works."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    found = shutil.which(TOXIPROXY_SERVER)
    if found and Path(found).resolve() != dest.resolve():
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        dest.symlink_to(found)
        say(f"using {found}")
        return dest
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(
            f"Toxiproxy is needed and neither {TOXIPROXY_SERVER} nor Go is on PATH: install Go "
            f"(https://go.dev/doc/install, or apt-get install golang) and run `chaos setup` again, or put the "
            f"{TOXIPROXY_SERVER} {TOXIPROXY_VERSION} binary from Toxiproxy's releases on your PATH"
        )
    with tempfile.TemporaryDirectory() as gobin:
        say(f"building {TOXIPROXY_SERVER} {TOXIPROXY_VERSION} with {go}")
        env = {**os.environ, "GOBIN": gobin, "GOFLAGS": "-mod=mod"}
        subprocess.run([go, "install", f"{TOXIPROXY_MODULE}@{TOXIPROXY_VERSION}"], env=env, check=True)
        shutil.move(os.path.join(gobin, "server"), dest)
    return dest
