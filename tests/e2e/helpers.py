"""Helpers of the end-to-end tests of neo4j-backup and neo4j-restore.

- `Tools`: runs the two executables with a clean, explicit environment (no
  NEO4J_*/BACKUP_*/NBK_* variable leaks in from the caller's shell).
- `graph_snapshot` / `schema_snapshot`: a database's content read with the
  official Python driver, canonicalised so that two databases compare equal
  exactly when they hold the same graph (NaN- and -0.0-aware).
- Storage helpers: the state of a storage path, byte flips, manifest forging.
- Graph loaders: tools/sample_data.py and a fast server-side bulk loader.
"""

import hashlib
import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from neo4j_servers import REPO_ROOT, Neo4jServer, run_cli

SAMPLE_DATA = REPO_ROOT / "tools" / "sample_data.py"

# Variables the tools read; removed from the inherited environment so that a
# developer's shell cannot change what a test sees.
_TOOL_PREFIXES = ("NEO4J_", "TEST_NEO4J_", "BACKUP_", "NBK_", "PROMOTE_", "AWS_")

# Exit statuses of docs/exit-codes.md.
EXIT_USAGE = 2
BACKUP_NO_SPACE = 10
BACKUP_CORRUPTED = 11
BACKUP_NOT_FOUND = 12
RESTORE_HEALTH_FAILED = 13
NEO4J_UNREACHABLE = 14
NEO4J_AUTH_FAILED = 16
NEO4J_ADMIN_FAILED = 15
CONFIG_INVALID = 21
RESTORE_REFUSED = 23
TARGET_UNKNOWN = 24
OPERATION_INTERRUPTED = 25

HEALTH_CHECKS = ("connectivity", "schema_consistency", "orphan_detection", "counts", "fingerprint")
ARCHIVE_MAGIC = b"NBKARCH1"
ARCHIVE_FILES = {"zstd": "graph.nbk.zst", "gzip": "graph.nbk.gz", "none": "graph.nbk"}


# ---- running the tools ---------------------------------------------------------------


@dataclass
class Result:
    """A finished run: exit status, stdout, stderr, and both together."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def lines(self):
        return self.output.splitlines()


@dataclass
class Tools:
    """neo4j-backup / neo4j-restore with one storage path and one production
    server (NEO4J_*), optionally a test target (TEST_NEO4J_*)."""

    backup_bin: Path
    restore_bin: Path
    storage: Path
    production: Optional[Neo4jServer] = None
    target: Optional[Neo4jServer] = None
    extra: Dict[str, Optional[str]] = field(default_factory=dict)

    def env(self, overrides: Optional[Mapping[str, Optional[str]]] = None) -> Dict[str, Optional[str]]:
        environment: Dict[str, Optional[str]] = {
            key: None for key in os.environ if key.startswith(_TOOL_PREFIXES)}
        environment["BACKUP_STORAGE_PATH"] = str(self.storage)
        # The test machine's disk may be fuller than the default 20 % floor;
        # the no-space tests set their own value.
        environment["BACKUP_MIN_FREE_PERCENT"] = "1"
        # Full backups unless a test asks otherwise (conftest.py says why).
        environment["BACKUP_TYPE"] = "full"
        if self.production is not None:
            environment.update(NEO4J_URI=self.production.uri, NEO4J_USER=self.production.user,
                               NEO4J_PASSWORD=self.production.password)
        if self.target is not None:
            environment.update(TEST_NEO4J_URI=self.target.uri, TEST_NEO4J_USER=self.target.user,
                               TEST_NEO4J_PASSWORD=self.target.password)
        environment.update(self.extra)
        environment.update(overrides or {})
        return environment

    def _run(self, program: Path, args, env, stdin_text=None, timeout=600) -> Result:
        completed = run_cli([program, *args], env=self.env(env), stdin_text=stdin_text,
                            timeout=timeout)
        return Result(completed.returncode, completed.stdout, completed.stderr)

    def backup(self, *args, env=None, **kwargs) -> Result:
        return self._run(self.backup_bin, args, env, **kwargs)

    def restore(self, *args, env=None, **kwargs) -> Result:
        return self._run(self.restore_bin, args, env, **kwargs)

    def create(self, env=None) -> str:
        """--create that must succeed; returns the new backup id."""
        result = self.backup("--create", env=env)
        assert result.returncode == 0, result.output
        return backup_id_of(result)

    def _popen(self, program: Path, args, env) -> subprocess.Popen:
        environment = dict(os.environ)
        for key, value in self.env(env).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        return subprocess.Popen([str(program), *args], env=environment, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)

    def popen_backup(self, *args, env=None) -> subprocess.Popen:
        """neo4j-backup in the background, stdout and stderr piped together."""
        return self._popen(self.backup_bin, args, env)

    def popen_restore(self, *args, env=None) -> subprocess.Popen:
        return self._popen(self.restore_bin, args, env)


def kill_when(process: subprocess.Popen, prefix: str) -> str:
    """SIGKILLs process as soon as it prints a line starting with prefix
    (the tools flush every line); returns what it printed. Fails the test if
    the process ends without printing it."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(prefix):
            process.send_signal(signal.SIGKILL)
            break
    process.stdout.close()
    status = process.wait()
    assert status == -signal.SIGKILL, f"exited {status} before '{prefix}':\n{''.join(seen)}"
    return "".join(seen)


def backup_id_of(result: Result) -> str:
    found = re.search(r"^INFO: Backup ID: (\S+)$", result.stdout, re.MULTILINE)
    assert found, f"no 'Backup ID:' line in:\n{result.output}"
    return found.group(1)


def assert_error(result: Result, status: int, code_name: str) -> None:
    """The run failed with this exit status and printed this error code."""
    assert result.returncode == status, result.output
    assert f"ERROR: Code: {code_name}" in result.stderr, result.output


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- storage -----------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_state(root: Path) -> Dict[str, tuple]:
    """Every path under root with its kind, size, mtime and content hash.

    Lock files (*.lock) count by their existence only: taking and releasing
    an flock() lock rewrites the holder's pid in them, which is no change."""
    state: Dict[str, tuple] = {}
    if not root.exists():
        return state
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        relative = str(path.relative_to(root))
        if path.name.endswith(".lock") and path.is_file():
            state[relative] = ("lock",)
        elif path.is_dir():
            state[relative] = ("dir", stat.st_mtime_ns)
        else:
            state[relative] = ("file", stat.st_size, stat.st_mtime_ns, sha256_file(path))
    return state


def backup_dirs(storage: Path):
    """Names of the directories directly under the storage path."""
    return sorted(entry.name for entry in storage.iterdir() if entry.is_dir()) if storage.exists() else []


class RawFloat(float):
    """A JSON number kept with its source text ("4.800" stays "4.800"): the
    manifest checksum covers numbers as written (json-c keeps their text)."""

    def __new__(cls, text: str):
        value = super().__new__(cls, text)
        value.text = text
        return value


def read_manifest(backup_dir: Path, name: str = "manifest.json") -> Dict[str, Any]:
    return json.loads((backup_dir / name).read_text(), parse_float=RawFloat)


def _compact_json(value: Any) -> str:
    if isinstance(value, RawFloat):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{_compact_json(key)}:{_compact_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_compact_json(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def manifest_checksum(manifest: Dict[str, Any]) -> str:
    """manifest_sha256 as src/catalog/manifest.h defines it: SHA-256 of the
    compact JSON of the manifest without that key, keys in file order,
    numbers as written."""
    body = {key: value for key, value in manifest.items() if key != "manifest_sha256"}
    return hashlib.sha256(_compact_json(body).encode()).hexdigest()


def write_manifest(backup_dir: Path, manifest: Dict[str, Any], *, reseal: bool,
                   names=("manifest.json", "manifest.json.copy")) -> None:
    """Writes a (changed) manifest; reseal=True recomputes manifest_sha256 so
    that the manifest itself looks intact."""
    manifest = dict(manifest)
    if reseal:
        manifest["manifest_sha256"] = manifest_checksum(manifest)
    for name in names:
        (backup_dir / name).write_text(_compact_json(manifest) + "\n")


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


# ---- reading a graph ---------------------------------------------------------------------


def _canonical_float(value: float) -> tuple:
    # Bit patterns: NaN equals NaN, -0.0 differs from 0.0.
    if math.isnan(value):
        return ("float", "nan")
    return ("float", struct.pack(">d", value))


def canonical_value(value: Any) -> Any:
    """A hashable, exact form of a property value as the driver returns it."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return _canonical_float(value)
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, (bytes, bytearray)):
        return ("bytes", bytes(value))
    if type(value) is list:  # exactly list: Duration and points are tuple subclasses
        return ("list", tuple(canonical_value(item) for item in value))
    if isinstance(value, dict):
        return ("map", tuple(sorted((key, canonical_value(item)) for key, item in value.items())))
    if hasattr(value, "srid"):  # neo4j.spatial points
        return ("point", value.srid, tuple(_canonical_float(float(coordinate)) for coordinate in value))
    # neo4j.time values: the repr holds every field, the offset and the zone id.
    return (type(value).__name__, repr(value))


def canonical_props(props: Mapping[str, Any]) -> tuple:
    return tuple(sorted((key, canonical_value(value)) for key, value in props.items()))


@dataclass
class GraphSnapshot:
    nodes: Counter
    relationships: Counter

    @property
    def node_count(self) -> int:
        return sum(self.nodes.values())

    @property
    def relationship_count(self) -> int:
        return sum(self.relationships.values())


def graph_snapshot(server: Neo4jServer, database: str = "neo4j",
                   skip_labels=("BackupMetadata",)) -> GraphSnapshot:
    """The whole graph as multisets: nodes (sorted labels, properties) and
    relationships (type, properties, start node, end node), nodes by content,
    so that element ids do not matter. Nodes with a label in skip_labels are
    left out (the tools record BackupMetadata nodes in the database itself)."""
    nodes: Dict[str, tuple] = {}
    node_counter: Counter = Counter()
    relationship_counter: Counter = Counter()
    skipped = set(skip_labels)
    with server.driver() as driver:
        with driver.session(database=database) as session:
            for record in session.run("MATCH (n) RETURN elementId(n) AS id, labels(n) AS labels, "
                                      "properties(n) AS props"):
                if skipped & set(record["labels"]):
                    continue
                key = (tuple(sorted(record["labels"])), canonical_props(record["props"]))
                nodes[record["id"]] = key
                node_counter[key] += 1
            for record in session.run("MATCH (a)-[r]->(b) RETURN elementId(a) AS a, type(r) AS type, "
                                      "properties(r) AS props, elementId(b) AS b"):
                relationship_counter[(record["type"], canonical_props(record["props"]),
                                      nodes.get(record["a"], ("skipped",)),
                                      nodes.get(record["b"], ("skipped",)))] += 1
    return GraphSnapshot(node_counter, relationship_counter)


def schema_snapshot(server: Neo4jServer, database: str = "neo4j"):
    """Constraints and indexes: (name, type, entity type, labels/types, properties)."""
    constraints = sorted(
        (row["name"], row["type"], row["entityType"], tuple(row["labelsOrTypes"] or ()),
         tuple(row["properties"] or ()))
        for row in server.run("SHOW CONSTRAINTS YIELD name, type, entityType, labelsOrTypes, properties",
                              _database=database))
    indexes = sorted(
        (row["name"], row["type"], row["entityType"], tuple(row["labelsOrTypes"] or ()),
         tuple(row["properties"] or ()), row["owningConstraint"])
        for row in server.run("SHOW INDEXES YIELD name, type, entityType, labelsOrTypes, properties, "
                              "owningConstraint", _database=database))
    return constraints, indexes


def count_graph(server: Neo4jServer, database: str = "neo4j"):
    """(nodes without BackupMetadata, relationships, BackupMetadata nodes)."""
    row = server.run("MATCH (n) RETURN count(n) AS all, count(CASE WHEN n:BackupMetadata THEN 1 END) AS meta",
                     _database=database)[0]
    relationships = server.run("MATCH ()-[r]->() RETURN count(r) AS count", _database=database)[0]["count"]
    return row["all"] - row["meta"], relationships, row["meta"]


# ---- loading a graph ---------------------------------------------------------------------


def load_sample(server: Neo4jServer, *args: str, timeout: float = 900) -> None:
    """Runs tools/sample_data.py against server (e.g. "--nodes", "1500", "--wipe")."""
    completed = subprocess.run([sys.executable, str(SAMPLE_DATA), "--uri", server.uri, "--user", server.user,
                                "--password", server.password, *args],
                               capture_output=True, text=True, timeout=timeout)
    assert completed.returncode == 0, completed.stderr


def load_bulk(server: Neo4jServer, nodes: int, relationships: int) -> None:
    """A wiped database with `nodes` (:Sample:Bulk {uid}) nodes and
    `relationships` :LINK relationships, generated on the server (much faster
    than sending rows for a large graph)."""
    server.wipe()
    server.run("CREATE INDEX bulk_uid IF NOT EXISTS FOR (n:Sample) ON (n.uid)")
    server.run("UNWIND range(0, $last) AS uid CALL (uid) { CREATE (:Sample:Bulk {uid: uid, name: 'n' + uid, "
               "score: uid * 0.5}) } IN TRANSACTIONS OF 20000 ROWS", last=nodes - 1)
    server.run("CALL db.awaitIndexes(300)")
    server.run("UNWIND range(0, $last) AS index CALL (index) { "
               "MATCH (a:Sample {uid: index % $nodes}) MATCH (b:Sample {uid: (index * 7919 + 13) % $nodes}) "
               "CREATE (a)-[:LINK {index: index}]->(b) } IN TRANSACTIONS OF 20000 ROWS",
               last=relationships - 1, nodes=nodes)


def ensure_sample(server: Neo4jServer, nodes: int, relationships: int) -> None:
    """The main database holds tools/sample_data.py's plain graph of this size
    (plus any BackupMetadata nodes); reloads it only when the counts differ,
    so that a module loads it once even when tests run in between."""
    if not server.is_running():
        server.restart()
    found_nodes, found_relationships, _ = count_graph(server)
    samples = server.run("MATCH (n:Sample) RETURN count(n) AS count")[0]["count"]
    if (found_nodes, found_relationships, samples) != (nodes, relationships, nodes):
        # Neo4jServer.wipe, not sample_data's --wipe: it quotes odd index names.
        server.wipe()
        load_sample(server, "--nodes", str(nodes), "--relationships", str(relationships))
