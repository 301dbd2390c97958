"""Real Neo4j servers and CLI runs for the end-to-end tests.

Servers are started by tools/neo4j-local (see its header): each has a name, a
NEO4J_HOME under .neo4j-local/servers/NAME and one Bolt port on 127.0.0.1.

    server = Neo4jServer.start("e2e-main")        # or the neo4j_server fixture
    server.run("CREATE (:Person {name: $name})", name="Ada")
    rows = server.run("MATCH (p:Person) RETURN p.name AS name")   # [{'name': 'Ada'}]
    with server.driver() as driver: ...            # a new official driver, yours to close
    server.stop(); server.admin("database", "dump", "neo4j", "--to-path", str(tmp))

Nothing here is pytest-specific, so benchmarks and scripts can import it too.
"""

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = REPO_ROOT / "tools" / "neo4j-local"
DEFAULT_PASSWORD = "backup-test-pw"
DEFAULT_USER = "neo4j"

# Exit code of `tools/neo4j-local status` for a stopped (or unknown) server.
STATUS_STOPPED = 3


class Neo4jLocalError(RuntimeError):
    """tools/neo4j-local failed; the message carries its stderr (log tails)."""


def launcher(*args: str, check: bool = True, timeout: Optional[float] = None,
             env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess:
    """Run tools/neo4j-local with the tests' own interpreter."""
    result = subprocess.run([sys.executable, str(LAUNCHER), *map(str, args)],
                            capture_output=True, text=True, timeout=timeout,
                            env=None if env is None else {**os.environ, **env})
    if check and result.returncode != 0:
        raise Neo4jLocalError(
            f"tools/neo4j-local {' '.join(map(str, args))} exited {result.returncode}:\n"
            f"{result.stderr.strip()}")
    return result


@dataclass
class Neo4jServer:
    """One named local server. Attributes match what the CLI under test needs."""

    name: str
    uri: str
    user: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD
    home: Path = field(default_factory=Path)
    _shared_driver: Any = field(default=None, repr=False, compare=False)

    @property
    def port(self) -> int:
        return int(self.uri.rsplit(":", 1)[1])

    @classmethod
    def start(cls, name: str, *, password: Optional[str] = None, version: Optional[str] = None,
              bolt_port: Optional[int] = None, tls_dir: Optional[Path] = None,
              timeout: Optional[float] = 600) -> "Neo4jServer":
        """Start (or find running) server NAME; returns once Bolt answers."""
        args = ["start", name]
        if password:
            args += ["--password", password]
        if version:
            args += ["--version", version]
        if bolt_port:
            args += ["--bolt-port", str(bolt_port)]
        if tls_dir:
            args += ["--tls-dir", str(tls_dir)]
        uri = launcher(*args, timeout=timeout).stdout.strip()
        home = Path(launcher("home", name).stdout.strip())
        return cls(name=name, uri=uri, password=password or _recorded_password(home),
                   home=home)

    # ---- lifecycle ------------------------------------------------------------

    def restart(self) -> None:
        """Start this server again after stop(); same port, same data."""
        self.close()
        self.uri = launcher("start", self.name, timeout=600).stdout.strip()

    def stop(self) -> None:
        """Graceful stop (needed before neo4j-admin database dump/load)."""
        self.close()
        launcher("stop", self.name, timeout=180)

    def is_running(self) -> bool:
        return launcher("status", self.name, check=False).returncode == 0

    def destroy(self) -> None:
        self.close()
        launcher("destroy", self.name, timeout=180)

    # ---- talking to it ----------------------------------------------------------

    def driver(self, uri: Optional[str] = None, **config: Any):
        """A new official Python driver for this server; the caller closes it."""
        import neo4j  # imported late so collecting tests needs no driver

        return neo4j.GraphDatabase.driver(uri or self.uri, auth=(self.user, self.password),
                                          **config)

    def run(self, cypher: str, _database: str = "neo4j", **params: Any) -> List[Dict[str, Any]]:
        """Run one auto-commit query; returns its records as dicts.

        Auto-commit, so schema commands and CALL {...} IN TRANSACTIONS work too.
        """
        if self._shared_driver is None:
            self._shared_driver = self.driver()
        with self._shared_driver.session(database=_database) as session:
            return [record.data() for record in session.run(cypher, params)]

    def close(self) -> None:
        """Close the driver behind run() (reopened on the next run())."""
        if self._shared_driver is not None:
            self._shared_driver.close()
            self._shared_driver = None

    def wipe(self) -> None:
        """Delete all data and every user constraint and index (token lookups kept)."""
        self.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
        for row in self.run("SHOW CONSTRAINTS YIELD name"):
            self.run(f"DROP CONSTRAINT {quote_name(row['name'])} IF EXISTS")
        for row in self.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP'"):
            self.run(f"DROP INDEX {quote_name(row['name'])} IF EXISTS")
        # A test that dropped the default token lookup indexes must not change
        # what the next test sees (label scans get slow, plans differ).
        self.run("CREATE LOOKUP INDEX IF NOT EXISTS FOR (n) ON EACH labels(n)")
        self.run("CREATE LOOKUP INDEX IF NOT EXISTS FOR ()-[r]-() ON EACH type(r)")

    # ---- its home -----------------------------------------------------------------

    def admin(self, *args: str, check: bool = False,
              timeout: float = 600) -> subprocess.CompletedProcess:
        """Run this home's bin/neo4j-admin (e.g. "database", "dump", "neo4j", ...)."""
        return run_cli([self.home / "bin" / "neo4j-admin", *args], check=check,
                       timeout=timeout)

    @property
    def version(self) -> str:
        return json.loads((self.home / "neo4j-local.json").read_text())["version"]


def launcher_command(action: str, server: "Neo4jServer") -> str:
    """Shell command that stops or starts server, for STOP_COMMAND/START_COMMAND."""
    # The tools run with the NEO4J_* variables cleared (helpers.Tools), so the
    # launcher's root and jar cache travel with the command.
    pinned = " ".join(f"{key}={shlex.quote(os.environ[key])}" for key in ("NEO4J_LOCAL_ROOT", "NEO4J_LOCAL_CACHE")
                      if os.environ.get(key))
    command = (f"env {pinned} " if pinned else "") + f"{sys.executable} {LAUNCHER} {action} {server.name}"
    return command + (f" --bolt-port {server.port}" if action == "start" else "")


def _recorded_password(home: Path) -> str:
    try:
        return json.loads((home / "neo4j-local.json").read_text())["password"]
    except (OSError, ValueError, KeyError):
        return DEFAULT_PASSWORD


def quote_name(name: str) -> str:
    """A Cypher identifier in backticks (backticks inside doubled)."""
    return "`" + name.replace("`", "``") + "`"


def run_cli(args: Sequence[Union[str, Path]], env: Optional[Mapping[str, Optional[str]]] = None,
            check: bool = False, timeout: Optional[float] = 300,
            stdin_text: Optional[str] = None, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run a program (args[0]) and capture its output as text.

    env: variables laid over this process's environment; a None value removes
    that variable. check=True raises AssertionError (with the output) on a
    non-zero exit. The command and its output are printed, so pytest shows
    them for a failing test.
    """
    environment = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = str(value)
    argv = [str(arg) for arg in args]
    result = subprocess.run(argv, env=environment, capture_output=True, text=True,
                            timeout=timeout, input=stdin_text,
                            stdin=None if stdin_text is not None else subprocess.DEVNULL,
                            cwd=None if cwd is None else str(cwd))
    print(f"$ {' '.join(argv)}\n[exit {result.returncode}]")
    if result.stdout:
        print(f"--- stdout\n{result.stdout.rstrip()}")
    if result.stderr:
        print(f"--- stderr\n{result.stderr.rstrip()}")
    if check and result.returncode != 0:
        raise AssertionError(f"{argv[0]} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def local_root() -> Path:
    """Where tools/neo4j-local keeps its servers (NEO4J_LOCAL_ROOT overrides)."""
    return Path(os.environ.get("NEO4J_LOCAL_ROOT") or REPO_ROOT / ".neo4j-local").resolve()


def make_tls_dir(directory: Path, days: int = 3650) -> Path:
    """A self-signed certificate for 127.0.0.1/localhost: private.key + public.crt.

    Kept when both files exist already, so a server kept running across test
    sessions (NBK_KEEP_SERVERS=1) still presents the certificate tests trust.
    """
    if (directory / "private.key").is_file() and (directory / "public.crt").is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(directory / "private.key"), "-out", str(directory / "public.crt"),
         "-days", str(days), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    return directory
