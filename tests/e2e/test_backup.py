"""neo4j-backup against a real Neo4j 5.26 server: --create (the contract's
"Backup Creation" test), each compression, --list [--json], --validate of
damaged backups, a backup killed with SIGKILL, unreachable servers and wrong
passwords, BACKUP_NO_SPACE, --delete / --keep / --unkeep / --cleanup, every
--dry-run, and a backup taken while other clients write.

Each test has its own storage path (tmp_path). The 1500-node sample graph is
loaded once and only reloaded when a test left it changed; tests that damage
a backup work on a copy of one reference backup made once per module.
"""

import gzip
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time

import pytest

from helpers import (ARCHIVE_FILES, ARCHIVE_MAGIC, BACKUP_CORRUPTED, BACKUP_NO_SPACE, BACKUP_NOT_FOUND,
                     EXIT_USAGE, HEALTH_CHECKS, NEO4J_AUTH_FAILED, NEO4J_UNREACHABLE, Tools, assert_error,
                     backup_dirs, count_graph, ensure_sample, flip_byte, free_port, kill_when, load_bulk,
                     manifest_checksum, read_manifest, sha256_file, tree_state, write_manifest)

NODES = 1500
RELATIONSHIPS = 3200
# Nodes (and relationships) of the concurrent-writers test's graph; about a
# minute on 2 cores. NBK_E2E_CONCURRENT_NODES=20000 for a quicker run.
CONCURRENT_NODES = int(os.environ.get("NBK_E2E_CONCURRENT_NODES", "100000"))


@pytest.fixture
def sample_graph(neo4j_server):
    ensure_sample(neo4j_server, NODES, RELATIONSHIPS)
    return neo4j_server


@pytest.fixture
def tools(backup_bin, restore_bin, tmp_path, neo4j_server):
    return Tools(backup_bin, restore_bin, tmp_path / "backups", production=neo4j_server)


@pytest.fixture(scope="module")
def reference(backup_bin, restore_bin, tmp_path_factory, neo4j_server):
    """One zstd backup of the sample graph: (storage path, backup id). Copy it
    (copy_reference) before changing anything."""
    ensure_sample(neo4j_server, NODES, RELATIONSHIPS)
    storage = tmp_path_factory.mktemp("reference") / "backups"
    backup_id = Tools(backup_bin, restore_bin, storage, production=neo4j_server).create()
    return storage, backup_id


def copy_reference(reference, tools):
    storage, backup_id = reference
    shutil.copytree(storage, tools.storage)
    return backup_id, tools.storage / backup_id


def metadata_nodes(server, backup_id=None):
    if backup_id is None:
        return server.run("MATCH (m:BackupMetadata) RETURN count(m) AS count")[0]["count"]
    return [row["m"] for row in
            server.run("MATCH (m:BackupMetadata {backup_id: $id}) RETURN m {.*} AS m", id=backup_id)]


# ---- the contract's "Backup Creation" --------------------------------------------------------


def test_create_backup_contract(tools, sample_graph):
    """GIVEN Neo4j with 1500 nodes WHEN --create THEN the backup file is in
    BACKUP_STORAGE_PATH, a BackupMetadata node records it, its status is
    COMPLETE and the checksum matches the file."""
    result = tools.backup("--create")
    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "INFO: Starting backup creation..."
    assert re.fullmatch(r"INFO: Neo4j version: 5\.26\.\d+", lines[1]), lines[1]
    assert re.search(r"^INFO: Backup created successfully in \d+ seconds$", result.stdout, re.M)
    assert "INFO: Compressing backup with zstd..." in lines
    assert re.search(r"^INFO: Compressed size: .+ \(\d+% of original .+\)$", result.stdout, re.M)
    assert "INFO: Computing checksum..." in lines
    backup_id = re.search(r"^INFO: Backup ID: (neo4j-\d{8}-\d{6})$", result.stdout, re.M).group(1)
    checksum = re.search(r"^INFO: Checksum SHA256: ([0-9a-f]{64})$", result.stdout, re.M).group(1)
    assert lines[-1] == "SUCCESS: Backup completed"
    assert result.stderr == ""

    # Exactly one committed backup, nothing temporary left.
    assert [entry.name for entry in tools.storage.iterdir() if entry.is_dir()] == [backup_id]
    backup_dir = tools.storage / backup_id
    archive = backup_dir / "graph.nbk.zst"
    assert archive.is_file()
    manifest = read_manifest(backup_dir)
    assert manifest["id"] == backup_id
    assert manifest["status"] == "COMPLETE"
    assert manifest["compression"] == "zstd"
    assert manifest["archive"]["file"] == "graph.nbk.zst"
    assert manifest["archive"]["sha256"] == sha256_file(archive) == checksum
    assert manifest["archive"]["size_compressed"] == archive.stat().st_size
    assert manifest["stats"]["nodes"] == NODES  # BackupMetadata nodes are not backed up
    assert manifest["stats"]["relationships"] == RELATIONSHIPS
    assert manifest["source"]["server_version"].startswith("5.26.")
    assert "@" not in manifest["source"]["uri"]
    # The manifest checks itself, and its copy is identical.
    assert manifest["manifest_sha256"] == manifest_checksum(manifest)
    assert (backup_dir / "manifest.json.copy").read_bytes() == (backup_dir / "manifest.json").read_bytes()

    recorded = metadata_nodes(sample_graph, backup_id)
    assert len(recorded) == 1
    assert recorded[0]["status"] == "COMPLETE"
    assert recorded[0]["checksum_sha256"] == checksum
    assert recorded[0]["node_count"] == NODES
    assert recorded[0]["relationship_count"] == RELATIONSHIPS
    assert recorded[0]["compression"] == "zstd"


def test_backup_id_and_expiry_follow_the_clock(tools, sample_graph):
    """With the clock at NBK_NOW the id is neo4j-YYYYMMDD-HHMMSS of the
    creation time, and --list shows it created then and expiring 7 days
    later (BACKUP_RETENTION_DAYS=7). The clock runs on from NBK_NOW, so the
    seconds depend on how fast the server answers."""
    first = tools.create(env={"NBK_NOW": "2025-12-26T03:00:00Z"})
    second = tools.create(env={"NBK_NOW": "2025-12-27T15:30:00Z"})
    third = tools.create(env={"NBK_NOW": "2025-12-27T15:30:00Z"})  # maybe the same second: "-2"
    assert re.fullmatch(r"neo4j-20251226-0300[0-5]\d", first), first
    assert re.fullmatch(r"neo4j-20251227-1530[0-5]\d", second), second
    assert re.fullmatch(r"neo4j-20251227-1530[0-5]\d(?:-2)?", third) and third != second, third
    listing = tools.backup("--list", env={"NBK_NOW": "2025-12-27T16:00:00Z"})
    assert listing.returncode == 0, listing.output
    block = listing.stdout.split(f"{second}\n", 1)[1]
    seconds = second[-2:]
    assert f"  Created:        2025-12-27 15:30:{seconds} UTC\n" in block
    assert f"  Expires:        2026-01-03 15:30:{seconds} UTC\n" in block
    assert read_manifest(tools.storage / second)["created"] == f"2025-12-27T15:30:{seconds}Z"
    assert "Total: 3 backups" in listing.stdout


# ---- compressions ---------------------------------------------------------------------------


def outer_layer_decoded(archive, compression):
    if compression == "zstd":
        return subprocess.run(["zstd", "-dc", str(archive)], capture_output=True, check=True).stdout
    if compression == "gzip":
        return subprocess.run(["gunzip", "-c", str(archive)], capture_output=True, check=True).stdout
    return archive.read_bytes()


@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
def test_each_compression_creates_lists_and_validates(tools, sample_graph, compression):
    backup_id = tools.create(env={"BACKUP_COMPRESSION": compression})
    backup_dir = tools.storage / backup_id
    archive = backup_dir / ARCHIVE_FILES[compression]
    assert sorted(path.name for path in backup_dir.iterdir() if path.name != ".lock") == sorted(
        [ARCHIVE_FILES[compression], "manifest.json", "manifest.json.copy"])
    manifest = read_manifest(backup_dir)
    assert manifest["compression"] == compression

    # Standard tools read the outer layer; inside is the archive format.
    inner = outer_layer_decoded(archive, compression)
    assert inner.startswith(ARCHIVE_MAGIC)
    assert len(inner) == manifest["archive"]["size_uncompressed"]
    if compression != "none":
        assert manifest["archive"]["size_compressed"] < manifest["archive"]["size_uncompressed"]
    if compression == "gzip":
        assert gzip.decompress(archive.read_bytes()) == inner  # concatenated members

    listing = tools.backup("--list")
    assert listing.returncode == 0, listing.output
    assert f"{backup_id}\n" in listing.stdout
    assert "  Status:         COMPLETE\n" in listing.stdout
    validated = tools.backup("--validate", backup_id)
    assert validated.returncode == 0, validated.output
    assert "INFO: Checksum verification: PASSED" in validated.stdout
    assert f"INFO: Blocks and records: PASSED ({NODES} nodes, {RELATIONSHIPS} relationships" in validated.stdout
    assert f"SUCCESS: Backup {backup_id} is valid" in validated.stdout
    assert read_manifest(backup_dir)["status"] == "COMPLETE, VALIDATED"
    assert "  Status:         COMPLETE, VALIDATED\n" in tools.backup("--list").stdout


def test_compression_option_overrides_environment(tools, sample_graph):
    result = tools.backup("--create", "--compression", "gzip", env={"BACKUP_COMPRESSION": "none"})
    assert result.returncode == 0, result.output
    backup_id = re.search(r"Backup ID: (\S+)", result.stdout).group(1)
    assert (tools.storage / backup_id / "graph.nbk.gz").is_file()
    bad = tools.backup("--create", "--compression", "lz4")
    assert bad.returncode == 21, bad.output  # CONFIG_INVALID, before anything is written
    assert backup_dirs(tools.storage) == [backup_id]


# ---- --list ---------------------------------------------------------------------------------


LIST_ENTRY = [
    r"(neo4j-\d{8}-\d{6}(?:-\d+)?)",
    r"  Created:        \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
    r"  Expires:        \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
    r"  Status:         (COMPLETE(?:, VALIDATED)?)",
    r"  Uncompressed:   [\d.]+ (?:B|KB|MB|GB)",
    r"  Compressed:     [\d.]+ (?:B|KB|MB|GB) \((\d+)%\)",
    r"  Checksum:       ([0-9a-f]{12})\.\.\.",
    r"  Graph Stats:    (\d+) nodes, (\d+) relationships",
    r"  Backup Duration: \d+ seconds",
    r"",
]


def test_list_layout_and_json(tools, sample_graph):
    empty = tools.backup("--list")
    assert empty.returncode == 0, empty.output
    assert "Total: 0 backups" in empty.stdout

    first = tools.create()
    second = tools.create(env={"BACKUP_COMPRESSION": "none"})
    assert tools.backup("--validate", first).returncode == 0
    listing = tools.backup("--list")
    assert listing.returncode == 0, listing.output
    lines = listing.stdout.splitlines()
    assert lines[:3] == ["Available Backups:", "==================", ""]
    blocks = [lines[3:3 + len(LIST_ENTRY)], lines[3 + len(LIST_ENTRY):3 + 2 * len(LIST_ENTRY)]]
    seen = {}
    for block in blocks:
        groups = []
        for pattern, line in zip(LIST_ENTRY, block):
            match = re.fullmatch(pattern, line)
            assert match, f"{line!r} does not match {pattern!r}\n{listing.stdout}"
            groups.extend(match.groups())
        backup_id, status, percent, checksum, nodes, relationships = groups
        manifest = read_manifest(tools.storage / backup_id)
        assert checksum == manifest["archive"]["sha256"][:12]
        assert (int(nodes), int(relationships)) == (NODES, RELATIONSHIPS)
        ratio = 100 * manifest["archive"]["size_compressed"] / manifest["archive"]["size_uncompressed"]
        assert abs(int(percent) - ratio) <= 1, (percent, ratio)
        seen[backup_id] = status
    assert seen == {first: "COMPLETE, VALIDATED", second: "COMPLETE"}
    assert [block[0] for block in blocks] == sorted(seen, reverse=True)  # newest first
    assert re.fullmatch(r"Total: 2 backups, consuming [\d.]+ (?:KB|MB) of storage", lines[3 + 2 * len(LIST_ENTRY)])

    as_json = tools.backup("--list", "--json")
    assert as_json.returncode == 0, as_json.output
    document = json.loads(as_json.stdout)  # stdout is JSON only
    assert document["total_backups"] == 2
    assert document["total_bytes"] == sum(item["disk_bytes"] for item in document["backups"])
    for item in document["backups"]:
        manifest = read_manifest(tools.storage / item["id"])
        for key in ("id", "created", "status", "compression", "archive", "stats", "source", "keep"):
            assert item[key] == manifest[key], key
        assert item["expiring_soon"] is False
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["expires"])
    assert [item["id"] for item in document["backups"]] == [blocks[0][0], blocks[1][0]]


def graph_counts_by_driver(server):
    """(nodes per label, relationships per type) as the official driver sees
    them, BackupMetadata nodes and their relationships left out."""
    labels = {row["label"]: row["count"] for row in server.run(
        "MATCH (n) WHERE NOT n:BackupMetadata UNWIND labels(n) AS label RETURN label, count(*) AS count")}
    types = {row["type"]: row["count"] for row in server.run(
        "MATCH (a)-[r]->(b) WHERE NOT a:BackupMetadata AND NOT b:BackupMetadata "
        "RETURN type(r) AS type, count(*) AS count")}
    return labels, types


def test_manifest_counts_per_label_and_type(tools, sample_graph):
    """stats.labels and stats.types hold what the graph holds (a node counts
    under each of its labels; the BackupMetadata node of the first backup is
    left out), sorted by name; --list --json shows them, and --list -v lists
    them under the entry while the plain --list keeps the contract's layout."""
    tools.create()
    backup_id = tools.create()
    assert metadata_nodes(sample_graph) >= 1
    labels, types = graph_counts_by_driver(sample_graph)
    assert labels["Sample"] == NODES and len(labels) > 2  # every sample node has two labels
    assert sum(types.values()) == RELATIONSHIPS and len(types) > 1
    manifest = read_manifest(tools.storage / backup_id)
    assert manifest["stats"]["labels"] == labels
    assert manifest["stats"]["types"] == types
    assert list(manifest["stats"]["labels"]) == sorted(labels)
    assert list(manifest["stats"]["types"]) == sorted(types)

    as_json = tools.backup("--list", "--json")
    assert as_json.returncode == 0, as_json.output
    item = next(item for item in json.loads(as_json.stdout)["backups"] if item["id"] == backup_id)
    assert item["stats"]["labels"] == labels
    assert item["stats"]["types"] == types

    verbose = tools.backup("--list", "-v")
    assert verbose.returncode == 0, verbose.output
    entry = verbose.stdout.split(f"\n{backup_id}\n", 1)[1].split("\n\n", 1)[0].splitlines()
    start = entry.index("  Nodes by label:")
    expected = (["  Nodes by label:"] + [f"    {name}: {count}" for name, count in sorted(labels.items())]
                + ["  Relationships by type:"] + [f"    {name}: {count}" for name, count in sorted(types.items())])
    assert entry[start:start + len(expected)] == expected, verbose.stdout
    assert "Nodes by label" not in tools.backup("--list").stdout


def test_list_of_missing_storage_is_empty(tools):
    result = tools.backup("--list", "--json")
    assert result.returncode == 0, result.output
    assert json.loads(result.stdout) == {"backups": [], "total_backups": 0, "total_bytes": 0}
    assert not tools.storage.exists()


# ---- --validate of damaged backups ------------------------------------------------------------


def damage_archive(archive, where):
    size = archive.stat().st_size
    if where == "truncated":
        with open(archive, "r+b") as handle:
            handle.truncate(size // 2)
    elif where == "deleted":
        archive.unlink()
    else:
        flip_byte(archive, {"start": 0, "middle": size // 2, "end": size - 1}[where])


@pytest.mark.parametrize("where", ["start", "middle", "end", "truncated"])
def test_validate_detects_damaged_archive(tools, reference, where):
    backup_id, backup_dir = copy_reference(reference, tools)
    expected = read_manifest(backup_dir)["archive"]["sha256"]
    archive = backup_dir / "graph.nbk.zst"
    damage_archive(archive, where)
    result = tools.backup("--validate", backup_id)
    assert_error(result, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    assert "ERROR: Checksum mismatch!" in result.stderr
    assert f"ERROR: Expected: {expected}" in result.stderr
    assert f"ERROR: Got: {sha256_file(archive)}" in result.stderr
    assert "ERROR: Action: Try a different backup with --backup-id <other_id>" in result.stderr
    # The verdict is recorded, so that --list and retention see it.
    assert read_manifest(backup_dir)["status"] == "CORRUPTED"
    assert "  Status:         CORRUPTED\n" in tools.backup("--list").stdout


def test_validate_detects_deleted_archive(tools, reference):
    backup_id, backup_dir = copy_reference(reference, tools)
    damage_archive(backup_dir / "graph.nbk.zst", "deleted")
    result = tools.backup("--validate", backup_id)
    assert_error(result, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    assert "graph.nbk.zst is missing" in result.stderr


@pytest.mark.parametrize("where", ["start", "middle", "end", "truncated"])
def test_validate_detects_damage_behind_a_forged_checksum(tools, reference, where):
    """The archive is damaged AND the manifest is rewritten to carry the
    damaged file's SHA-256 (with a valid manifest checksum): only the inner
    checks (frame checksums, section CRCs, structure) can catch it."""
    backup_id, backup_dir = copy_reference(reference, tools)
    archive = backup_dir / "graph.nbk.zst"
    damage_archive(archive, where)
    manifest = read_manifest(backup_dir)
    manifest["archive"]["sha256"] = sha256_file(archive)
    manifest["archive"]["size_compressed"] = archive.stat().st_size
    write_manifest(backup_dir, manifest, reseal=True)
    result = tools.backup("--validate", backup_id)
    assert_error(result, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    assert "INFO: Checksum verification: PASSED" in result.stdout
    assert "archive " in result.stderr and "ERROR: Reason:" in result.stderr


def test_validate_uncompressed_archive_checks_section_crcs(tools, sample_graph):
    backup_id = tools.create(env={"BACKUP_COMPRESSION": "none"})
    backup_dir = tools.storage / backup_id
    archive = backup_dir / "graph.nbk"
    flip_byte(archive, archive.stat().st_size // 2)  # inside a record block
    manifest = read_manifest(backup_dir)
    manifest["archive"]["sha256"] = sha256_file(archive)
    write_manifest(backup_dir, manifest, reseal=True)
    result = tools.backup("--validate", backup_id)
    assert_error(result, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    assert "INFO: Checksum verification: PASSED" in result.stdout
    assert re.search(r"block \d+ at inner offset \d+: CRC mismatch", result.stderr), result.stderr


def test_edited_manifest_with_intact_copy_is_repaired(tools, reference):
    """An edited manifest.json fails its own checksum; the intact copy is used
    (with a warning), the backup validates, and saving the verdict rewrites
    manifest.json from it. This is the designed behaviour of the two copies."""
    backup_id, backup_dir = copy_reference(reference, tools)
    manifest = read_manifest(backup_dir)
    edited = json.loads(json.dumps(manifest))
    edited["stats"]["nodes"] += 1
    write_manifest(backup_dir, edited, reseal=False, names=("manifest.json",))
    result = tools.backup("--validate", backup_id)
    assert result.returncode == 0, result.output
    assert "using manifest.json.copy" in result.output
    repaired = read_manifest(backup_dir)
    assert repaired["stats"]["nodes"] == NODES
    assert repaired["manifest_sha256"] == manifest_checksum(repaired)
    assert repaired["status"] == "COMPLETE, VALIDATED"


def test_both_manifests_edited_is_corrupted(tools, reference):
    backup_id, backup_dir = copy_reference(reference, tools)
    edited = read_manifest(backup_dir)
    edited["stats"]["nodes"] += 1
    write_manifest(backup_dir, edited, reseal=False)
    result = tools.backup("--validate", backup_id)
    assert_error(result, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    assert "manifest" in result.stderr
    listing = tools.backup("--list")
    assert "DAMAGED" in listing.stdout


def test_consistent_but_wrong_manifest_is_corrupted(tools, reference):
    """Both manifests say 1501 nodes and carry valid self-checksums: the
    archive's own count contradicts them."""
    backup_id, backup_dir = copy_reference(reference, tools)
    edited = read_manifest(backup_dir)
    edited["stats"]["nodes"] += 1
    write_manifest(backup_dir, edited, reseal=True)
    result = tools.backup("--validate", backup_id)
    assert_error(result, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    assert (f"the archive holds {NODES} nodes and {RELATIONSHIPS} relationships, "
            f"the manifest says {NODES + 1} and {RELATIONSHIPS}") in result.stderr


def test_validate_compares_counts_per_label(tools, reference):
    """A resealed manifest whose label count disagrees with the archive is
    corrupted, and the failure names the label; a manifest without the maps
    (an older backup) still validates, the comparison skipped and said so."""
    backup_id, backup_dir = copy_reference(reference, tools)
    original = read_manifest(backup_dir)
    edited = json.loads(json.dumps(original))
    edited["stats"]["labels"]["Sample"] += 2
    write_manifest(backup_dir, edited, reseal=True)
    result = tools.backup("--validate", backup_id)
    assert_error(result, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    assert (f"the archive's counts per label and type differ from the manifest's: "
            f"label Sample: expected {NODES + 2}, found {NODES} (-2)") in result.stderr

    old = json.loads(json.dumps(original))
    old["stats"]["labels"] = {}
    old["stats"]["types"] = {}
    write_manifest(backup_dir, old, reseal=True)
    result = tools.backup("--validate", backup_id)
    assert result.returncode == 0, result.output
    assert "INFO: Counts per label and type: skipped (the manifest has none: an older backup)" in result.stdout

    write_manifest(backup_dir, original, reseal=True)
    result = tools.backup("--validate", backup_id)
    assert result.returncode == 0, result.output
    assert re.search(r"^INFO: Counts per label and type against manifest: PASSED \(\d+ labels, \d+ relationship "
                     r"types\)$", result.stdout, re.M)


def test_validate_unknown_and_invalid_ids(tools, reference):
    copy_reference(reference, tools)
    missing = tools.backup("--validate", "neo4j-20000101-000000")
    assert_error(missing, BACKUP_NOT_FOUND, "BACKUP_NOT_FOUND")
    invalid = tools.backup("--validate", "../etc")
    assert invalid.returncode == EXIT_USAGE, invalid.output


# ---- an interrupted backup -------------------------------------------------------------------


def test_backup_killed_midway_leaves_no_ghost(tools, sample_graph):
    kill_when(tools.popen_backup("--create"), "INFO: Running: online logical backup")

    # Killed while writing: only its temporary directory exists.
    leftovers = [entry.name for entry in tools.storage.iterdir() if entry.name.startswith(".tmp-")]
    assert len(leftovers) == 1, list(tools.storage.iterdir())
    assert [name for name in backup_dirs(tools.storage) if not name.startswith(".")] == []

    listing = tools.backup("--list")
    assert listing.returncode == 0, listing.output
    assert "COMPLETE" not in listing.stdout
    assert "Total: 0 backups" in listing.stdout

    result = tools.backup("--create")
    assert result.returncode == 0, result.output
    assert f"WARNING: Removed leftover of an interrupted run: {leftovers[0]}" in result.output
    assert not (tools.storage / leftovers[0]).exists()
    assert [name for name in backup_dirs(tools.storage)] == [re.search(r"Backup ID: (\S+)", result.stdout).group(1)]


# ---- failures before anything is written -----------------------------------------------------


def test_create_unreachable_neo4j(tools, sample_graph):
    before = metadata_nodes(sample_graph)
    result = tools.backup("--create", env={"NEO4J_URI": f"bolt://127.0.0.1:{free_port()}"})
    assert_error(result, NEO4J_UNREACHABLE, "NEO4J_UNREACHABLE")
    assert "ERROR: Failed to create backup" in result.stderr
    assert not tools.storage.exists()
    assert metadata_nodes(sample_graph) == before


def test_create_wrong_password(tools, sample_graph):
    result = tools.backup("--create", env={"NEO4J_PASSWORD": "wrong-password-7"})
    assert_error(result, NEO4J_AUTH_FAILED, "NEO4J_AUTH_FAILED")
    assert not tools.storage.exists()
    assert "wrong-password-7" not in result.output


@pytest.mark.parametrize("space, min_free", [
    ("1000,100000000000", "1"),             # 1000 bytes available: the archive cannot fit
    ("50000000000,100000000000", "99"),     # plenty of bytes, but 50 % free < BACKUP_MIN_FREE_PERCENT
])
def test_create_no_space(tools, sample_graph, space, min_free):
    before = metadata_nodes(sample_graph)
    result = tools.backup("--create", env={"NBK_FAKE_SPACE": space, "BACKUP_MIN_FREE_PERCENT": min_free})
    assert_error(result, BACKUP_NO_SPACE, "BACKUP_NO_SPACE")
    assert "ERROR: Failed to create backup" in result.stderr
    assert re.search(r"^ERROR: Required: .+ \| Available: .+$", result.stderr, re.M), result.stderr
    assert "ERROR: Action: Free up space and retry, or configure BACKUP_STORAGE_PATH to different location" \
        in result.stderr
    assert result.stderr.rstrip().endswith("CRITICAL: Operator attention required")
    assert backup_dirs(tools.storage) == []  # no backup, no temporary directory
    assert metadata_nodes(sample_graph) == before


# ---- --delete, --keep, --cleanup ----------------------------------------------------------------


def test_delete(tools, reference):
    backup_id, backup_dir = copy_reference(reference, tools)
    before = tree_state(tools.storage)
    invalid = tools.backup("--delete", "../x")
    assert invalid.returncode == EXIT_USAGE, invalid.output
    assert "invalid backup id" in invalid.stderr
    missing = tools.backup("--delete", "neo4j-20000101-000000")
    assert_error(missing, BACKUP_NOT_FOUND, "BACKUP_NOT_FOUND")
    assert "List available backups" in missing.stderr
    # The only restorable backup: refused without --force, and said why.
    refused = tools.backup("--delete", backup_id)
    assert_error(refused, BACKUP_PROTECTED, "BACKUP_PROTECTED")
    assert "only restorable backup" in refused.stderr
    assert "--force" in refused.stderr
    misplaced = tools.backup("--list", "--force")
    assert misplaced.returncode == EXIT_USAGE, misplaced.output
    dry = tools.backup("--delete", backup_id, "--dry-run", "--force")
    assert dry.returncode == 0, dry.output
    assert f"Dry run: would delete backup {backup_id}" in dry.stdout
    assert tree_state(tools.storage) == before

    deleted = tools.backup("--delete", backup_id, "--force")
    assert deleted.returncode == 0, deleted.output
    assert f"SUCCESS: Backup {backup_id} deleted" in deleted.stdout
    assert not backup_dir.exists()
    assert backup_dirs(tools.storage) == []
    assert "Total: 0 backups" in tools.backup("--list").stdout
    again = tools.backup("--delete", backup_id)
    assert_error(again, BACKUP_NOT_FOUND, "BACKUP_NOT_FOUND")


def dead_pid():
    for candidate in range(4_000_000, 3_000_000, -7):
        try:
            os.kill(candidate, 0)
        except ProcessLookupError:
            return candidate
        except PermissionError:
            continue
    pytest.skip("no unused pid found")


def two_old_backups(tools):
    """Two backups made in January 2025 (ids from NBK_NOW): (older, newer)."""
    older = tools.create(env={"NBK_NOW": "2025-01-01T02:00:00Z"})
    newer = tools.create(env={"NBK_NOW": "2025-01-02T02:00:00Z"})
    return older, newer


LATER = {"NBK_NOW": "2031-01-01T00:00:00Z"}  # every backup has expired by then


def test_keep_unkeep_and_cleanup(tools, sample_graph):
    """Years later both backups have expired: the newest valid one is always
    kept; the older one survives while kept (--keep), and goes after --unkeep.
    --cleanup --dry-run only reports; the leftover of a dead writer goes too."""
    older, newer = two_old_backups(tools)
    older_dir = tools.storage / older
    leftover = tools.storage / f".tmp-neo4j-20000101-000000-{dead_pid()}"
    leftover.mkdir()
    (leftover / "graph.nbk.zst").write_bytes(b"partial")

    kept = tools.backup("--keep", older)
    assert kept.returncode == 0, kept.output
    assert f"SUCCESS: Backup {older} is kept" in kept.stdout
    assert read_manifest(older_dir)["keep"] is True
    listing = tools.backup("--list", env=LATER)
    older_block = listing.stdout.split(f"{older}\n", 1)[1]
    assert re.match(r"  Created:        2025-01-01 02:00:\d\d UTC\n"
                    r"  Expires:        never \(kept\)\n"
                    r"  Status:         COMPLETE \(kept\)\n", older_block), listing.stdout

    survived = tools.backup("--cleanup", env=LATER)
    assert survived.returncode == 0, survived.output
    assert "CLEANUP_SUCCESS: Deleted 0 backups" in survived.stdout
    assert f"Removed leftover of an interrupted run: {leftover.name}" in survived.stdout
    assert older_dir.exists() and not leftover.exists()

    unkept = tools.backup("--unkeep", older)
    assert unkept.returncode == 0, unkept.output
    assert read_manifest(older_dir)["keep"] is False

    before = tree_state(tools.storage)
    dry = tools.backup("--cleanup", "--dry-run", env=LATER)
    assert dry.returncode == 0, dry.output
    assert f"Dry run: would delete 1 backup ({older})" in dry.stdout
    assert tree_state(tools.storage) == before

    cleaned = tools.backup("--cleanup", env=LATER)
    assert cleaned.returncode == 0, cleaned.output
    assert f"CLEANUP_SUCCESS: Deleted 1 backup ({older})" in cleaned.stdout
    assert backup_dirs(tools.storage) == [newer]  # the newest valid backup is never deleted

    missing = tools.backup("--keep", "neo4j-20000101-000000")
    assert_error(missing, BACKUP_NOT_FOUND, "BACKUP_NOT_FOUND")


BACKUP_NONE_RESTORABLE = 32  # src/common/error.def
BACKUP_PROTECTED = 33


def archive_of(backup_dir):
    return backup_dir / read_manifest(backup_dir)["archive"]["file"]


def test_retention_keeps_the_newest_restorable_backup(tools, sample_graph):
    """Issue 11: an older validated backup and a newer one whose archive is
    gone. The newer one lists as INCOMPLETE (never valid) and --cleanup keeps
    the older one, the only restorable backup."""
    older, newer = two_old_backups(tools)
    validated = tools.backup("--validate", older)
    assert validated.returncode == 0, validated.output
    archive_of(tools.storage / newer).unlink()

    listing = tools.backup("--list", env=LATER)
    newer_block = listing.stdout.split(f"{newer}\n", 1)[1]
    assert "  Status:         INCOMPLETE\n" in newer_block.split("\n\n", 1)[0], listing.stdout
    assert "  Problem:        archive file " in newer_block, listing.stdout
    as_json = json.loads(tools.backup("--list", "--json", env=LATER).stdout)
    statuses = {item["id"]: item["status"] for item in as_json["backups"]}
    assert statuses == {older: "COMPLETE, VALIDATED", newer: "INCOMPLETE"}
    assert [item["recorded_status"] for item in as_json["backups"] if item["id"] == newer] == ["COMPLETE"]

    cleaned = tools.backup("--cleanup", env=LATER)
    assert cleaned.returncode == 0, cleaned.output
    assert f"CLEANUP_SUCCESS: Deleted 1 backup ({newer})" in cleaned.stdout
    assert backup_dirs(tools.storage) == [older]


def test_delete_refuses_a_kept_backup_unless_forced(tools, sample_graph):
    older, newer = two_old_backups(tools)
    assert tools.backup("--keep", older).returncode == 0
    refused = tools.backup("--delete", older)
    assert_error(refused, BACKUP_PROTECTED, "BACKUP_PROTECTED")
    assert "keep mark" in refused.stderr and f"--unkeep {older}" in refused.stderr
    assert sorted(backup_dirs(tools.storage)) == sorted([older, newer])
    forced = tools.backup("--delete", older, "--force")
    assert forced.returncode == 0, forced.output
    assert backup_dirs(tools.storage) == [newer]


def test_retention_with_no_restorable_backup_deletes_nothing(tools, sample_graph):
    """Both archives damaged (one missing, one of the right size but wrong
    bytes): --cleanup deletes nothing, exits BACKUP_NONE_RESTORABLE with a
    CRITICAL line, and records the checksum mismatch it found."""
    older, newer = two_old_backups(tools)
    archive_of(tools.storage / newer).unlink()
    flip_byte(archive_of(tools.storage / older), 100)
    before = sorted(backup_dirs(tools.storage))

    cleaned = tools.backup("--cleanup", env=LATER)
    assert_error(cleaned, BACKUP_NONE_RESTORABLE, "BACKUP_NONE_RESTORABLE")
    assert "CRITICAL: Operator attention required" in cleaned.output
    assert "retention deleted nothing" in cleaned.stderr
    assert sorted(backup_dirs(tools.storage)) == before
    assert read_manifest(tools.storage / older)["status"] == "CORRUPTED"
    listing = tools.backup("--list", "--json", env=LATER)
    assert {item["status"] for item in json.loads(listing.stdout)["backups"]} == {"CORRUPTED", "INCOMPLETE"}


BACKUP_IO_FAILED = 20


def test_special_files_in_the_storage_never_hang(tools, reference):
    """Issue 11: a FIFO named manifest.json hung --list (and retention, under
    the catalog lock). Now it is refused at once and the copy is used; an
    archive that is a FIFO is CORRUPTED; a symlinked backup directory is
    ignored by listings and refused by --delete, and its target is untouched."""
    backup_id, backup_dir = copy_reference(reference, tools)
    archive = archive_of(backup_dir)  # read before the manifest becomes a FIFO
    (backup_dir / "manifest.json").unlink()
    os.mkfifo(backup_dir / "manifest.json")
    listing = tools.backup("--list", timeout=60)
    assert listing.returncode == 0, listing.output
    assert "  Status:         COMPLETE\n" in listing.stdout
    assert "not a regular file" in listing.output

    lock_file = backup_dir / ".lock"
    if lock_file.exists():
        lock_file.unlink()
    os.mkfifo(lock_file)
    archive.rename(tools.storage.parent / "moved-archive")
    os.mkfifo(archive)
    elsewhere = tools.storage.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keepme").write_text("data")
    linked = tools.storage / "neo4j-20000101-000000"
    linked.symlink_to(elsewhere, target_is_directory=True)

    as_json = tools.backup("--list", "--json", timeout=60)
    assert as_json.returncode == 0, as_json.output
    assert [(item["id"], item["status"]) for item in json.loads(as_json.stdout)["backups"]] == \
        [(backup_id, "CORRUPTED")]
    assert "symbolic link" in as_json.output
    refused = tools.backup("--delete", linked.name, "--force", timeout=60)
    assert_error(refused, BACKUP_IO_FAILED, "BACKUP_IO_FAILED")
    cleaned = tools.backup("--cleanup", env=LATER, timeout=60)
    assert_error(cleaned, BACKUP_NONE_RESTORABLE, "BACKUP_NONE_RESTORABLE")
    assert (elsewhere / "keepme").read_text() == "data"
    assert linked.is_symlink()


def test_repository_text_cannot_reach_the_terminal_raw(tools, reference):
    """Issue 11: a manifest's status was printed raw, so escape sequences
    reached the operator's terminal. Now human output shows them escaped and
    --json stays valid JSON with the real value."""
    backup_id, backup_dir = copy_reference(reference, tools)
    hostile = "COMPLETE\x1b[2J\x1b]0;owned\x07\u202e\x9b"
    manifest = read_manifest(backup_dir)
    manifest["status"] = hostile
    manifest["method"] = "dump\x1b[31m"
    write_manifest(backup_dir, manifest, reseal=True)

    listing = tools.backup("--list")
    assert listing.returncode == 0, listing.output
    assert "\x1b" not in listing.output and "\x07" not in listing.output and "\x9b" not in listing.output
    assert "\u202e" not in listing.output
    assert "  Status:         COMPLETE\\x1B[2J\\x1B]0;owned\\x07\\u202E\\xC2\\x9B\n" in listing.stdout, listing.stdout
    assert "  Method:         dump\\x1B[31m\n" in listing.stdout
    as_json = tools.backup("--list", "--json")
    assert as_json.returncode == 0, as_json.output
    assert json.loads(as_json.stdout)["backups"][0]["status"] == hostile
    dry = tools.backup("--delete", backup_id, "--dry-run", "--force")
    assert dry.returncode == 0, dry.output
    assert "\x1b" not in dry.output
    assert "(COMPLETE\\x1B[2J" in dry.stdout

    manifest["status"] = "COMPLETE"
    manifest["method"] = "logical"
    (backup_dir / "graph-bad-name").write_bytes(b"")
    manifest["archive"]["file"] = "graph\x1b[2J.nbk"
    write_manifest(backup_dir, manifest, reseal=True)
    listing = tools.backup("--list")
    assert "\x1b" not in listing.output
    # A name that is not a plain file name makes the manifest damaged (names
    # from manifests are validated), and the message does not echo it.
    assert "  Status:         DAMAGED (manifest damaged:" in listing.stdout, listing.stdout
    assert "field archive.file is not a plain file name" in listing.stdout, listing.stdout
    cleanup = tools.backup("--cleanup")
    assert "\x1b" not in cleanup.output


# ---- dry runs change nothing ------------------------------------------------------------------


def test_dry_runs_change_nothing(tools, neo4j_server):
    # A missing storage path stays missing, and the database gets no BackupMetadata node.
    ensure_sample(neo4j_server, NODES, RELATIONSHIPS)
    metadata_before = metadata_nodes(neo4j_server)
    created = tools.backup("--create", "--dry-run")
    assert created.returncode == 0, created.output
    assert "Dry run: would back up database neo4j" in created.stdout
    assert "nothing was changed" in created.stdout
    assert not tools.storage.exists()
    assert metadata_nodes(neo4j_server) == metadata_before

    backup_id, _ = two_old_backups(tools)
    metadata_before = metadata_nodes(neo4j_server)
    leftover = tools.storage / f".tmp-neo4j-20000101-000000-{dead_pid()}"
    leftover.mkdir()
    before = tree_state(tools.storage)
    runs = [
        tools.backup("--create", "--dry-run"),
        tools.backup("--delete", backup_id, "--dry-run"),
        tools.backup("--cleanup", "--dry-run", env=LATER),
        tools.backup("--validate", backup_id, "--dry-run"),
        tools.backup("--keep", backup_id, "--dry-run"),
    ]
    for result in runs:
        assert result.returncode == 0, result.output
    assert f"Would remove leftover of an interrupted run: {leftover.name}" in runs[2].stdout
    assert f"Dry run: would delete 1 backup ({backup_id})" in runs[2].stdout
    assert "(dry run: status not updated)" in runs[3].stdout
    assert tree_state(tools.storage) == before
    assert metadata_nodes(neo4j_server) == metadata_before


# ---- a backup while others write ---------------------------------------------------------------


class Writer(threading.Thread):
    """Creates nodes linked to existing ones, links existing nodes, and
    deletes existing nodes (with their relationships), until stopped."""

    def __init__(self, server, nodes, limit=5000, seconds=600):
        super().__init__(daemon=True)
        self.server = server
        self.nodes = nodes
        self.limit = limit
        self.deadline = time.monotonic() + seconds
        self.stop = threading.Event()
        self.commits = []  # monotonic time of each commit
        self.first_commit = threading.Event()
        self.created = 0
        self.deleted = 0
        self.error = None

    def run(self):
        rng = random.Random(7)
        try:
            with self.server.driver() as driver:
                for step in range(self.limit):
                    if self.stop.is_set() or time.monotonic() > self.deadline:
                        break
                    existing = rng.randrange(self.nodes)
                    if step % 5 == 4:
                        summary = driver.execute_query(
                            "MATCH (x:Bulk {uid: $uid}) DETACH DELETE x", uid=existing).summary
                        self.deleted += summary.counters.nodes_deleted
                    elif step % 5 == 3:
                        driver.execute_query(
                            "MATCH (a:Sample {uid: $a}) MATCH (b:Sample {uid: $b}) CREATE (a)-[:LATE_LINK]->(b)",
                            a=existing, b=rng.randrange(self.nodes))
                    else:
                        driver.execute_query(
                            "OPTIONAL MATCH (e:Sample {uid: $uid}) CREATE (n:Sample:Late {uid: $new}) "
                            "FOREACH (_ IN CASE WHEN e IS NULL THEN [] ELSE [1] END | "
                            "CREATE (n)-[:LATE]->(e) CREATE (e)-[:LATE_BACK {step: $step}]->(n))",
                            uid=existing, new=self.nodes + step, step=step)
                        self.created += 1
                    self.commits.append(time.monotonic())
                    self.first_commit.set()
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.error = error
        finally:
            self.first_commit.set()  # never leave the test waiting


def test_backup_while_writing_is_consistent(tools, neo4j_server, neo4j_target):
    load_bulk(neo4j_server, CONCURRENT_NODES, CONCURRENT_NODES)
    tools.target = neo4j_target
    writer = Writer(neo4j_server, CONCURRENT_NODES)
    writer.start()
    writer.first_commit.wait(timeout=120)  # the writer is up before the backup starts
    started = time.monotonic()
    process = tools.popen_backup("--create", "-v")
    output = process.communicate(timeout=900)[0]
    finished = time.monotonic()
    writer.stop.set()
    writer.join(timeout=120)
    print(output)
    assert writer.error is None, writer.error
    assert process.returncode == 0, output
    during = [moment for moment in writer.commits if started <= moment <= finished]
    print(f"writer: {len(during)} commits during the {finished - started:.1f} s backup; "
          f"{writer.created} nodes created, {writer.deleted} deleted in all")
    assert len(during) >= 3, f"the writer committed only {len(during)} transactions during the backup"

    backup_id = re.search(r"Backup ID: (\S+)", output).group(1)
    manifest = read_manifest(tools.storage / backup_id)
    assert CONCURRENT_NODES - writer.deleted <= manifest["stats"]["nodes"] <= CONCURRENT_NODES + writer.created

    validated = tools.backup("--validate", backup_id)
    assert validated.returncode == 0, validated.output
    assert "INFO: Orphan detection: PASSED" in validated.stdout

    restored = tools.restore("--backup-id", backup_id, timeout=1800)
    assert restored.returncode == 0, restored.output
    for check in HEALTH_CHECKS:
        assert f"INFO: Health check: {check} ... PASS" in restored.stdout
    nodes, relationships, _ = count_graph(neo4j_target)
    assert (nodes, relationships) == (manifest["stats"]["nodes"], manifest["stats"]["relationships"])
