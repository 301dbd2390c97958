"""Differential backups end to end (issue 15, docs/differential.md): real
Neo4j servers (e2e-main the source, e2e-target the restore target), the real
executables, a repository on a local path and, encrypted, on object storage
(S3Proxy and moto). The official Python driver reads every graph; boto3
every object.

The chain under test (module fixture `chain`): a full backup of a graph
holding every value type and a schema, then

- D1: property updates (every value type, on nodes and relationships), label
  changes, deleted nodes (with their relationships) and relationships, new
  nodes and relationships;
- D2 (--type diff across a schema change): nodes deleted and new nodes
  created until Neo4j reuses a deleted node's id, new relationships on the
  reused nodes, an index added and a constraint dropped, more updates;
- D3: no change at all.

After each backup the source is read twice: as multisets of content
(helpers.graph_snapshot, what a restore must equal) and keyed by internal id
(what the differential's `changes` counts must match: a record is written
when its key is new or its content changed, a deletion when a key of the
parent is gone). Every link restores equal to the source at its time; the
last one with both loads.

Then: the auto rules (BACKUP_DIFF_MAX_CHAIN, BACKUP_DIFF_MAX_PERCENT, a schema
change), --type diff without a parent, a broken link (missing parent, forged
parent manifest, damaged parent archive) refused by --validate and by a
restore before the target changes, --delete and retention never orphaning a
differential, --aggregate (and its --dry-run), kill -9 during a differential,
and an encrypted chain on object storage driven by the scheduler.

conftest.py pins BACKUP_TYPE=full for other modules and helpers.Tools pins it
too: every run here sets BACKUP_TYPE (or --type) explicitly.
"""

import hashlib
import json
import os
import re
import shutil
import time
import uuid

import pytest

from helpers import (BACKUP_CORRUPTED, CONFIG_INVALID, HEALTH_CHECKS, RawFloat, Tools, _compact_json,
                     assert_error, backup_dirs, backup_id_of, canonical_props, flip_byte, graph_snapshot,
                     kill_when, load_bulk, load_sample, manifest_checksum, read_manifest, schema_snapshot,
                     tree_state, write_manifest)
from neo4j_servers import launcher_command

BACKUP_PROTECTED = 33
AUTO = {"BACKUP_TYPE": "auto"}
DIFF = {"BACKUP_TYPE": "diff"}
FULL = {"BACKUP_TYPE": "full"}
CHANGE_KEYS = ("nodes", "relationships", "deleted_nodes", "deleted_relationships")


# ---- reading the source ---------------------------------------------------------------------


def key_of(element_id: str) -> int:
    """The internal id (the archive's key) of an element id "4:<db>:<id>"."""
    return int(element_id.rsplit(":", 1)[1])


def keyed_state(server):
    """The graph keyed by internal id, BackupMetadata left out:
    ({node key: (labels, props)}, {relationship key: (type, props, start key, end key)})."""
    nodes, relationships = {}, {}
    with server.driver() as driver, driver.session(database="neo4j") as session:
        for row in session.run("MATCH (n) RETURN elementId(n) AS id, labels(n) AS labels, properties(n) AS props"):
            if "BackupMetadata" not in row["labels"]:
                nodes[key_of(row["id"])] = (tuple(sorted(row["labels"])), canonical_props(row["props"]))
        for row in session.run("MATCH (a)-[r]->(b) RETURN elementId(r) AS id, type(r) AS type, "
                               "properties(r) AS props, elementId(a) AS a, elementId(b) AS b"):
            relationships[key_of(row["id"])] = (row["type"], canonical_props(row["props"]), key_of(row["a"]),
                                                key_of(row["b"]))
    return nodes, relationships


def expected_changes(before, after):
    """What a differential of `after` over `before` holds (docs/differential.md,
    "How changes are found")."""
    (old_nodes, old_relationships), (new_nodes, new_relationships) = before, after
    return {
        "nodes": sum(1 for key, value in new_nodes.items() if old_nodes.get(key) != value),
        "relationships": sum(1 for key, value in new_relationships.items() if old_relationships.get(key) != value),
        "deleted_nodes": len(old_nodes.keys() - new_nodes.keys()),
        "deleted_relationships": len(old_relationships.keys() - new_relationships.keys()),
    }


class Point:
    """The source at one backup: its id, the manifest (local repositories),
    the content and the keyed state, read right after the backup."""

    def __init__(self, backup_id, server, storage=None, result=None):
        self.id = backup_id
        self.result = result
        self.manifest = read_manifest(storage / backup_id) if storage is not None else None
        self.graph = graph_snapshot(server)
        self.schema = schema_snapshot(server)
        self.keyed = keyed_state(server)

    @classmethod
    def of(cls, tools, result, server):
        """The point of a --create run that must have succeeded (local repository)."""
        assert result.returncode == 0, result.output
        return cls(backup_id_of(result), server, tools.storage, result)


def link_digest(manifest):
    """docs/differential.md's link digest, computed here independently: the
    SHA-256 of the manifest's compact JSON without manifest_sha256, status,
    validated_at, keep and the encryption's key_id and wrapped_key."""
    body = {key: value for key, value in manifest.items()
            if key not in ("manifest_sha256", "status", "validated_at", "keep")}
    if isinstance(body.get("encryption"), dict):
        body["encryption"] = {key: value for key, value in body["encryption"].items()
                              if key not in ("key_id", "wrapped_key")}
    return hashlib.sha256(_compact_json(body).encode()).hexdigest()


def type_line(result):
    """The last `Backup type:` line: a differential that meets a schema change
    in its scan prints a second line, `full (the schema changed since ...)`."""
    found = re.findall(r"^INFO: Backup type: (.*)$", result.stdout, re.M)
    assert found, result.output
    return found[-1]


# ---- restoring --------------------------------------------------------------------------------


def load_settings(load, target):
    """Environment of a restore with the given load into target (as test_fidelity.py)."""
    if load == "bolt":
        return {"RESTORE_LOAD": "bolt"}
    return {"RESTORE_LOAD": "import", "TEST_NEO4J_HOME": str(target.home),
            "TEST_NEO4J_STOP_COMMAND": launcher_command("stop", target),
            "TEST_NEO4J_START_COMMAND": launcher_command("start", target)}


def mark_target(target):
    """Stale content in the target: a restore must replace it, a refused one keep it."""
    if not target.is_running():
        target.restart()
    target.wipe()
    target.run("CREATE (:StaleTarget {n: 1})-[:STALE]->(:StaleTarget {n: 2})")
    target.run("CREATE INDEX stale_target_index IF NOT EXISTS FOR (n:StaleTarget) ON (n.n)")
    return graph_snapshot(target), schema_snapshot(target)


def assert_same_graph(found, expected, what):
    missing_nodes, extra_nodes = expected.nodes - found.nodes, found.nodes - expected.nodes
    assert not missing_nodes and not extra_nodes, (
        f"{what}: nodes differ: {sum(missing_nodes.values())} missing, {sum(extra_nodes.values())} unexpected; "
        f"first missing: {str(next(iter(missing_nodes), None))[:1500]}\n"
        f"first unexpected: {str(next(iter(extra_nodes), None))[:1500]}")
    missing, extra = expected.relationships - found.relationships, found.relationships - expected.relationships
    assert not missing and not extra, (
        f"{what}: relationships differ: {sum(missing.values())} missing, {sum(extra.values())} unexpected; "
        f"first missing: {str(next(iter(missing), None))[:1500]}\n"
        f"first unexpected: {str(next(iter(extra), None))[:1500]}")


def restore_equal(tools, backup_id, load, target, point, env=None):
    """Restores backup_id into target with `load` and checks the target holds
    exactly point's graph and schema, every health check passing."""
    mark_target(target)
    result = tools.restore("--backup-id", backup_id, env={**load_settings(load, target), **(env or {})})
    assert result.returncode == 0, result.output
    for check in HEALTH_CHECKS:
        assert f"INFO: Health check: {check} ... PASS" in result.stdout, result.output
    if not target.is_running():
        target.restart()
    assert_same_graph(graph_snapshot(target), point.graph, f"{backup_id} restored with the {load} load")
    constraints, indexes = schema_snapshot(target)
    assert constraints == point.schema[0], f"{backup_id} ({load}): constraints differ"
    assert indexes == point.schema[1], f"{backup_id} ({load}): indexes differ"
    return result


def assert_refused_untouched(tools, backup_id, target, code=BACKUP_CORRUPTED, name="BACKUP_CORRUPTED"):
    """A restore of backup_id fails with code before the target changes."""
    before = mark_target(target)
    result = tools.restore("--backup-id", backup_id, env={"RESTORE_LOAD": "bolt"})
    assert_error(result, code, name)
    assert "Restoring data" not in result.stdout, result.output
    assert (graph_snapshot(target), schema_snapshot(target)) == before
    return result


# ---- the chain ----------------------------------------------------------------------------------


CHANGES_1 = [
    # Property updates, every value type among them (the AllTypes node's
    # values copied onto Sample nodes and onto relationships).
    "MATCH (n:Sample) WHERE n.uid % 17 = 0 SET n.score = n.score + 1, n.touched = 'd1'",
    "MATCH (a:AllTypes) WHERE a.int_max IS NOT NULL MATCH (n:Sample) WHERE n.uid IN [3, 5, 8] SET n += properties(a)",
    "MATCH (a:AllTypes) WHERE a.int_max IS NOT NULL MATCH (:Sample {uid: 11})-[r]->() SET r += properties(a)",
    "MATCH (n:Sample) WHERE n.uid IN [20, 21] SET n.when = datetime('2025-10-26T02:30:00+01:00[Europe/Berlin]'), "
    "n.span = duration({months: 1, nanoseconds: -1}), n.where = point({x: -0.0, y: 1e300}), "
    "n.nan = 0.0 / 0.0, n.blob = $blob",
    "MATCH ()-[r]->() WHERE r.since = 1999 SET r.weight = -0.0, r.since = 2000",
    # Labels: added and removed.
    "MATCH (n:Sample) WHERE n.uid % 23 = 1 SET n:Extra",
    "MATCH (n:Sample) WHERE n.uid % 29 = 2 REMOVE n:Sample SET n.was_sample = true",
    # Deletes: nodes with their relationships, relationships alone.
    "MATCH (n:Sample) WHERE n.uid % 31 = 4 DETACH DELETE n",
    "MATCH ()-[r]->() WHERE r.since = 1995 DELETE r",
    # New nodes and relationships (between new and old nodes, and a self-loop).
    "UNWIND range(1, 40) AS i CREATE (:NewInD1 {i: i, at: localdatetime('2026-01-01T00:00:00')})",
    "MATCH (n:NewInD1), (m:Sample) WHERE m.uid = n.i * 3 CREATE (n)-[:NEW_D1 {i: n.i, list: [n.i, -n.i]}]->(m)",
    "MATCH (a:Sample), (b:Sample) WHERE a.uid = 1 AND b.uid IN [2, 6, 9] CREATE (a)-[:NEW_D1_OLD {w: b.uid}]->(b)",
    "MATCH (n:NewInD1 {i: 1}) CREATE (n)-[:NEW_D1_LOOP]->(n)",
]


def reuse_node_ids(server, deleted, timeout=90.0):
    """Creates :Filler nodes (in batches, as an application would) until
    Neo4j hands out one of the `deleted` node ids again; keeps those nodes as
    :Reused and deletes the other fillers. Returns the reused ids."""
    deadline = time.monotonic() + timeout
    batch = 0
    while time.monotonic() < deadline:
        batch += 1
        rows = server.run("UNWIND range(1, 100) AS i CREATE (n:Filler {batch: $batch, i: i}) "
                          "RETURN elementId(n) AS id", batch=batch)
        if deleted & {key_of(row["id"]) for row in rows}:
            break
        time.sleep(0.05)  # freed ids become reusable once Neo4j's id maintenance has run
    reused_ids = server.run("MATCH (n:Filler) WHERE n.i IS NOT NULL RETURN elementId(n) AS id")
    reused = deleted & {key_of(row["id"]) for row in reused_ids}
    assert reused, f"no deleted node id was reused after {batch} batches of 100 new nodes"
    server.run("MATCH (n:Filler) WHERE n.batch IS NOT NULL WITH n, elementId(n) AS id "
               "WITH n, toInteger(split(id, ':')[2]) AS key WHERE key IN $reused "
               "REMOVE n:Filler SET n:Reused, n.reused_key = key", reused=sorted(reused))
    server.run("MATCH (n:Filler) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS")
    return reused


def changes_2(server):
    """D2's changes: id reuse with new relationships on the reused nodes, a
    schema change, more updates. Returns the reused node ids."""
    victims = server.run("MATCH (n:Sample) WHERE n.uid % 13 = 6 RETURN elementId(n) AS id")
    deleted = {key_of(row["id"]) for row in victims}
    assert len(deleted) >= 10
    server.run("MATCH (n:Sample) WHERE n.uid % 13 = 6 DETACH DELETE n")
    reused = reuse_node_ids(server, deleted)
    server.run("MATCH (r:Reused), (m:Sample) WHERE m.uid IN [0, 7, 12] "
               "CREATE (r)-[:ON_REUSED {k: r.reused_key, m: m.uid}]->(m), (m)-[:TO_REUSED {at: date('2026-02-03')}]->(r)")
    server.run("MATCH (r:Reused) CREATE (r)-[:REUSED_LOOP {t: time('12:00:00.000000001+14:00')}]->(r)")
    # Schema: an index added, a constraint dropped.
    server.run("CREATE INDEX d2_touched IF NOT EXISTS FOR (n:Sample) ON (n.touched)")
    server.run("DROP CONSTRAINT person_uid IF EXISTS")
    server.run("CALL db.awaitIndexes(300)")
    server.run("MATCH (n:NewInD1) WHERE n.i % 4 = 0 SET n.i = -n.i, n.touched = 'd2'")
    server.run("MATCH (n:NewInD1) WHERE n.i % 5 = 0 DETACH DELETE n")
    server.run("MATCH (n:Extra) REMOVE n:Extra")
    return reused


@pytest.fixture(scope="module")
def chain(backup_bin, restore_bin, tmp_path_factory, neo4j_server, neo4j_target):
    """F (full), D1, D2, D3 (differentials) of e2e-main with the changes above:
    (tools, {"F": Point, "D1": ..., ...}, reused node ids)."""
    if not neo4j_server.is_running():
        neo4j_server.restart()
    neo4j_server.wipe()
    load_sample(neo4j_server, "--nodes", "400", "--relationships", "900", "--all-types", "--schema")
    neo4j_server.run("CALL db.awaitIndexes(300)")
    tools = Tools(backup_bin, restore_bin, tmp_path_factory.mktemp("chain") / "backups",
                  production=neo4j_server, target=neo4j_target)
    points = {"F": Point.of(tools, tools.backup("--create", env=AUTO), neo4j_server)}
    for cypher in CHANGES_1:
        neo4j_server.run(cypher, blob=bytes(range(256)) * 8)
    points["D1"] = Point.of(tools, tools.backup("--create", env=AUTO), neo4j_server)
    reused = changes_2(neo4j_server)
    # A schema change makes auto take a full; --type diff wins over the setting.
    points["D2"] = Point.of(tools, tools.backup("--create", "--type", "diff", env=FULL), neo4j_server)
    points["D3"] = Point.of(tools, tools.backup("--create", env=DIFF), neo4j_server)
    yield tools, points, reused


def test_chain_types_lines_and_manifests(chain):
    tools, points, _ = chain
    f, d1, d2, d3 = (points[name] for name in ("F", "D1", "D2", "D3"))
    assert type_line(f.result) == "full (no valid backup to take a differential of)"
    assert type_line(d1.result) == f"differential of {f.id} (link 2 of its chain)"
    assert type_line(d2.result) == f"differential of {d1.id} (link 3 of its chain)"
    assert type_line(d3.result) == f"differential of {d2.id} (link 4 of its chain)"

    assert f.manifest.get("backup_type", "full") == "full"
    assert "parent" not in f.manifest and not f.manifest.get("chain_depth")
    assert f.manifest["archive"]["file"] == "graph.nbk.zst"
    for depth, (point, parent) in enumerate(((d1, f), (d2, d1), (d3, d2)), start=1):
        manifest = point.manifest
        assert manifest["backup_type"] == "diff"
        assert manifest["status"] == "COMPLETE"
        assert manifest["parent"]["id"] == parent.id
        assert manifest["parent"]["manifest_sha256"] == link_digest(parent.manifest), point.id
        assert manifest["chain_depth"] == depth
        # stats describe the whole graph at the differential's time.
        nodes, relationships = point.keyed
        assert (manifest["stats"]["nodes"], manifest["stats"]["relationships"]) == (len(nodes), len(relationships))
        # changes: exactly what changed by internal id since the parent.
        expected = expected_changes(parent.keyed, point.keyed)
        assert {key: manifest["changes"][key] for key in CHANGE_KEYS} == expected, point.id
        line = (f"INFO: Differential of {parent.id}: {expected['nodes']} nodes and {expected['relationships']} "
                f"relationships new or changed, {expected['deleted_nodes']} nodes and "
                f"{expected['deleted_relationships']} relationships deleted")
        assert line in point.result.stdout, point.result.output
        # The differential's own archive is small next to the full's.
        assert manifest["archive"]["size_compressed"] < f.manifest["archive"]["size_compressed"]
    # --list says each backup's type and parent.
    listed = tools.backup("--list", "--json", env=AUTO)
    assert listed.returncode == 0, listed.output
    items = {item["id"]: item for item in json.loads(listed.stdout)["backups"]}
    assert items[f.id]["type"] == "full" and "parent_id" not in items[f.id]
    assert [(items[p.id]["type"], items[p.id]["parent_id"]) for p in (d1, d2, d3)] == \
        [("diff", f.id), ("diff", d1.id), ("diff", d2.id)]


def test_chain_changes_cover_what_the_issue_lists(chain):
    """The changes really happened: updates, deletions, new entities, id
    reuse (a D1 key with other content in D2), a schema change, and D3 empty."""
    tools, points, reused = chain
    d1, d2, d3 = points["D1"].manifest, points["D2"].manifest, points["D3"].manifest
    assert all(d1["changes"][key] > 0 for key in CHANGE_KEYS), d1["changes"]
    assert all(d2["changes"][key] > 0 for key in CHANGE_KEYS), d2["changes"]
    assert {key: d3["changes"][key] for key in CHANGE_KEYS} == dict.fromkeys(CHANGE_KEYS, 0)
    before, after = points["D1"].keyed[0], points["D2"].keyed[0]
    assert reused and reused <= before.keys() and reused <= after.keys()
    assert all("Reused" in after[key][0] and "Reused" not in before[key][0] for key in reused)
    assert points["D1"].schema != points["D2"].schema
    assert points["D2"].schema == points["D3"].schema


@pytest.mark.parametrize("name, load", [("F", "bolt"), ("D1", "bolt"), ("D2", "bolt"), ("D3", "bolt"),
                                        ("D2", "import")])
def test_each_link_restores_equal_to_its_time(chain, neo4j_target, name, load):
    """Each backup restores the graph (content and schema) as it was when it
    was taken. The import load of D2 reads the merged chain of three links."""
    tools, points, _ = chain
    result = restore_equal(tools, points[name].id, load, neo4j_target, points[name])
    stats = points[name].manifest["stats"]
    assert f"INFO: Graph stats: {stats['nodes']} nodes, {stats['relationships']} relationships" in result.stdout


# ---- a broken chain -------------------------------------------------------------------------------


def copy_chain(chain, tmp_path, target=None):
    """A copy of the chain's repository (tests damage or delete in it)."""
    tools, points, _ = chain
    storage = tmp_path / "backups"
    shutil.copytree(tools.storage, storage)
    copy = Tools(tools.backup_bin, tools.restore_bin, storage, production=tools.production,
                 target=target or tools.target)
    return copy, points


def test_validate_of_an_intact_chain_passes(chain, tmp_path):
    tools, points = copy_chain(chain, tmp_path)
    result = tools.backup("--validate", points["D3"].id)
    assert result.returncode == 0, result.output
    assert read_manifest(tools.storage / points["D3"].id)["status"] == "COMPLETE, VALIDATED"
    # Validating a parent keeps its children's links (status is outside the link digest).
    parent = tools.backup("--validate", points["D2"].id)
    assert parent.returncode == 0, parent.output
    again = tools.backup("--validate", points["D3"].id)
    assert again.returncode == 0, again.output


def test_missing_parent_breaks_the_chain(chain, tmp_path, neo4j_target):
    tools, points = copy_chain(chain, tmp_path)
    shutil.rmtree(tools.storage / points["D1"].id)
    # The restore is refused first: --validate below marks D2 CORRUPTED,
    # after which the chain is (also) broken at D2.
    refused = assert_refused_untouched(tools, points["D3"].id, neo4j_target)
    assert f"is broken at {points['D1'].id}: it is missing" in refused.stderr, refused.output
    validated = tools.backup("--validate", points["D2"].id)
    assert_error(validated, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    assert f"is broken at {points['D1'].id}: it is missing" in validated.stderr, validated.output
    assert read_manifest(tools.storage / points["D2"].id)["status"] == "CORRUPTED"
    # D2 and D3 list CORRUPTED (their chain is broken) and are no parent:
    # the next differential, forced or auto, builds on F, the newest usable
    # backup, and restores equal to the source.
    listed = tools.backup("--list", "--json", env=AUTO)
    assert listed.returncode == 0, listed.output
    statuses = {item["id"]: item["status"] for item in json.loads(listed.stdout)["backups"]}
    assert statuses[points["D2"].id] == statuses[points["D3"].id] == "CORRUPTED", statuses
    assert statuses[points["F"].id].startswith("COMPLETE"), statuses
    forced = tools.backup("--create", "--type", "diff", env=FULL)
    assert forced.returncode == 0, forced.output
    assert type_line(forced) == f"differential of {points['F'].id} (link 2 of its chain)", forced.output
    created = tools.backup("--create", env=AUTO)
    assert created.returncode == 0, created.output
    assert type_line(created) == f"differential of {backup_id_of(forced)} (link 3 of its chain)", created.output


def test_forged_parent_manifest_breaks_the_link(chain, tmp_path, neo4j_target):
    """D1's manifest changed and resealed (its own checksum is right again):
    D1 on its own still validates, but D2's link digest no longer matches."""
    tools, points = copy_chain(chain, tmp_path)
    d1_dir = tools.storage / points["D1"].id
    manifest = read_manifest(d1_dir)
    manifest["duration_seconds"] = RawFloat("99.5")
    write_manifest(d1_dir, manifest, reseal=True)
    assert read_manifest(d1_dir)["manifest_sha256"] == manifest_checksum(read_manifest(d1_dir))

    alone = tools.backup("--validate", points["D1"].id)
    assert alone.returncode == 0, alone.output
    broken = tools.backup("--validate", points["D2"].id)
    assert_error(broken, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    assert points["D1"].id in broken.stderr, broken.output
    assert_refused_untouched(tools, points["D2"].id, neo4j_target)


def test_damaged_link_archive_is_refused_before_the_target_changes(chain, tmp_path, neo4j_target):
    tools, points = copy_chain(chain, tmp_path)
    archive = tools.storage / points["F"].id / "graph.nbk.zst"
    flip_byte(archive, archive.stat().st_size // 2)
    validated = tools.backup("--validate", points["D2"].id)
    assert_error(validated, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    assert points["F"].id in validated.output, validated.output
    assert_refused_untouched(tools, points["D2"].id, neo4j_target)


# ---- deletion and retention -------------------------------------------------------------------------


def test_delete_refuses_a_backup_with_dependants_unless_forced(chain, tmp_path):
    tools, points = copy_chain(chain, tmp_path)
    ids = [points[name].id for name in ("F", "D1", "D2", "D3")]
    for name, dependant in (("F", "D1"), ("D1", "D2"), ("D2", "D3")):
        refused = tools.backup("--delete", points[name].id)
        assert_error(refused, BACKUP_PROTECTED, "BACKUP_PROTECTED")
        assert points[dependant].id in refused.output, refused.output
        assert backup_dirs(tools.storage) == sorted(ids)

    last = tools.backup("--delete", points["D3"].id)  # nothing depends on the last link
    assert last.returncode == 0, last.output
    assert backup_dirs(tools.storage) == sorted(ids[:3])

    forced = tools.backup("--delete", points["F"].id, "--force")
    assert forced.returncode == 0, forced.output
    assert backup_dirs(tools.storage) == []


def parents_present(storage):
    """Every differential left in storage has its parent there too."""
    present = set(backup_dirs(storage))
    for backup_id in present:
        manifest = read_manifest(storage / backup_id)
        if manifest.get("backup_type") == "diff":
            assert manifest["parent"]["id"] in present, f"{backup_id} kept without its parent"
    return present


def test_retention_never_leaves_a_differential_without_its_parent(clean_db, backup_bin, restore_bin, tmp_path):
    """Chain A (Mar 1 full, Mar 2 diff) and chain B (Mar 5 full, Mar 6 and 7
    diffs). On Mar 8 at 03:00 with 2 days of retention only B's newest is
    young enough, and it keeps its whole chain; chain A goes whole. Years
    later the newest backup is kept with its chain."""
    clean_db.run("UNWIND range(1, 30) AS i CREATE (:R {i: i})")
    tools = Tools(backup_bin, restore_bin, tmp_path / "backups", production=clean_db,
                  extra={"BACKUP_RETENTION_DAYS": "2", "BACKUP_KEEP_WEEKLY": "0", "BACKUP_KEEP_MONTHLY": "0"})
    made = {}
    for day, kind in (("01", FULL), ("02", DIFF), ("05", FULL), ("06", DIFF), ("07", DIFF)):
        clean_db.run("MATCH (n:R) WHERE n.i = toInteger($day) SET n.changed = $day", day=day)
        made[day] = tools.create(env={**kind, "NBK_NOW": f"2025-03-{day}T02:00:00Z"})
    assert read_manifest(tools.storage / made["07"])["parent"]["id"] == made["06"]
    assert read_manifest(tools.storage / made["06"])["parent"]["id"] == made["05"]

    when = {"NBK_NOW": "2025-03-08T03:00:00Z", **AUTO}
    before = tree_state(tools.storage)
    dry = tools.backup("--cleanup", "--dry-run", env=when)
    assert dry.returncode == 0, dry.output
    assert tree_state(tools.storage) == before
    cleaned = tools.backup("--cleanup", env=when)
    assert cleaned.returncode == 0, cleaned.output
    assert parents_present(tools.storage) == {made["05"], made["06"], made["07"]}, cleaned.output
    line = re.search(r"CLEANUP_SUCCESS: Deleted 2 backups \((.*)\)$", cleaned.stdout, re.M)
    assert line and sorted(line.group(1).split(", ")) == sorted([made["01"], made["02"]]), cleaned.output

    later = tools.backup("--cleanup", env={"NBK_NOW": "2031-01-01T00:00:00Z", **AUTO})
    assert later.returncode == 0, later.output
    assert parents_present(tools.storage) == {made["05"], made["06"], made["07"]}, later.output


# ---- aggregate ----------------------------------------------------------------------------------------


def test_aggregate_dry_run_changes_nothing(chain, tmp_path):
    tools, points = copy_chain(chain, tmp_path)
    before = tree_state(tools.storage)
    dry = tools.backup("--aggregate", points["D2"].id, "--dry-run")
    assert dry.returncode == 0, dry.output
    assert tree_state(tools.storage) == before


def test_aggregate_restores_equal_to_its_chain(chain, tmp_path, neo4j_target):
    tools, points = copy_chain(chain, tmp_path)
    d2 = points["D2"]
    result = tools.backup("--aggregate", d2.id)
    assert result.returncode == 0, result.output
    aggregate = backup_id_of(result)
    # Its id is taken at D2's creation time: D2's id with a suffix.
    assert aggregate.startswith(d2.id[:len("neo4j-20260101-000000")] + "-") and aggregate != d2.id, aggregate
    manifest = read_manifest(tools.storage / aggregate)
    assert manifest.get("backup_type", "full") == "full" and "parent" not in manifest
    assert manifest["aggregate_of"] == d2.id
    assert manifest["stats"] == d2.manifest["stats"]
    assert manifest["content_fingerprint"] == d2.manifest["content_fingerprint"]
    assert manifest["created"] == d2.manifest["created"]
    assert read_manifest(tools.storage / d2.id) == d2.manifest  # the chain is left as it was
    # The aggregate restores what the chain restores: the source at D2's time.
    restore_equal(tools, aggregate, "bolt", neo4j_target, d2)
    # It is a full: deleting the chain leaves it restorable.
    forced = tools.backup("--delete", points["F"].id, "--force")
    assert forced.returncode == 0, forced.output
    assert aggregate in backup_dirs(tools.storage)
    assert tools.backup("--validate", aggregate).returncode == 0


# ---- the auto rules ---------------------------------------------------------------------------------


def test_auto_rules(clean_db, backup_bin, restore_bin, tmp_path):
    # Large enough that a differential of one changed node is far below
    # BACKUP_DIFF_MAX_PERCENT of the full (the schema is in every archive).
    clean_db.run("UNWIND range(1, 2000) AS i CREATE (:A {i: i, name: 'node number ' + i, score: i * 0.25})")
    tools = Tools(backup_bin, restore_bin, tmp_path / "backups", production=clean_db,
                  extra={"BACKUP_TYPE": "auto", "BACKUP_DIFF_MAX_CHAIN": "2", "BACKUP_DIFF_MAX_PERCENT": "50"})

    def create(step, env=None):
        clean_db.run("MATCH (n:A {i: $i}) SET n.step = $i", i=step)
        result = tools.backup("--create", env=env)
        assert result.returncode == 0, result.output
        return backup_id_of(result), type_line(result)

    first, line = create(1)
    assert line == "full (no valid backup to take a differential of)"
    second, line = create(2)
    assert line == f"differential of {first} (link 2 of its chain)"
    third, line = create(3)
    assert line == f"differential of {second} (link 3 of its chain)"
    fourth, line = create(4)
    assert line.startswith("full (") and "has reached BACKUP_DIFF_MAX_CHAIN (2)" in line, line
    fifth, line = create(5)
    assert line == f"differential of {fourth} (link 2 of its chain)"
    # --dry-run says what it would take, and takes nothing.
    before = tree_state(tools.storage)
    dry = tools.backup("--create", "--dry-run")
    assert dry.returncode == 0, dry.output
    assert type_line(dry) == f"differential of {fifth} (link 3 of its chain)", dry.output
    assert tree_state(tools.storage) == before
    # A schema change: auto takes a full.
    clean_db.run("CREATE INDEX auto_rule_index FOR (n:A) ON (n.step)")
    clean_db.run("CALL db.awaitIndexes(300)")
    sixth, line = create(6)
    assert line.startswith("full (the schema changed since "), line
    # The command line wins over BACKUP_TYPE, both ways.
    seventh, line = create(7, env={"BACKUP_TYPE": "full"})
    assert line.startswith("full"), line
    forced, line = create(8, env={"BACKUP_TYPE": "diff"})
    assert line == f"differential of {seventh} (link 2 of its chain)"
    cli_full = tools.backup("--create", "--type", "full", env=DIFF)
    assert cli_full.returncode == 0 and type_line(cli_full).startswith("full"), cli_full.output
    cli_diff = tools.backup("--create", "--type", "diff", env=FULL)
    assert cli_diff.returncode == 0, cli_diff.output
    assert type_line(cli_diff) == f"differential of {backup_id_of(cli_full)} (link 2 of its chain)"
    types = {backup_id: read_manifest(tools.storage / backup_id).get("backup_type", "full")
             for backup_id in backup_dirs(tools.storage)}
    assert [types[i] for i in (first, second, third, fourth, fifth, sixth, seventh, forced)] == \
        ["full", "diff", "diff", "full", "diff", "full", "full", "diff"]


def test_auto_takes_a_full_after_a_large_differential(clean_db, backup_bin, restore_bin, tmp_path):
    clean_db.run("UNWIND range(1, 300) AS i CREATE (:M {i: i, text: 'some text ' + i})")
    tools = Tools(backup_bin, restore_bin, tmp_path / "backups", production=clean_db,
                  extra={"BACKUP_TYPE": "auto", "BACKUP_DIFF_MAX_PERCENT": "30"})
    full = tools.create()
    clean_db.run("MATCH (n:M) SET n.text = n.text + ' changed everywhere'")
    big = tools.backup("--create")
    assert type_line(big) == f"differential of {full} (link 2 of its chain)"
    next_one = tools.backup("--create")
    assert next_one.returncode == 0, next_one.output
    line = type_line(next_one)
    assert line.startswith("full (the last differential") and "% of its full's size" in line, line


@pytest.mark.parametrize("how", [["--type", "diff"], []])
def test_diff_without_any_backup_is_config_invalid(clean_db, backup_bin, restore_bin, tmp_path, how):
    clean_db.run("CREATE (:Lonely)")
    tools = Tools(backup_bin, restore_bin, tmp_path / "backups", production=clean_db)
    result = tools.backup("--create", *how, env=DIFF)
    assert_error(result, CONFIG_INVALID, "CONFIG_INVALID")
    assert not [name for name in backup_dirs(tools.storage) if not name.startswith(".")]
    assert "full" in result.stderr  # the action: take a full first


# ---- kill -9 during a differential ------------------------------------------------------------------


def test_kill_during_a_differential(clean_db, backup_bin, restore_bin, tmp_path, neo4j_target):
    load_bulk(clean_db, 3000, 6000)
    tools = Tools(backup_bin, restore_bin, tmp_path / "backups", production=clean_db, target=neo4j_target)
    full = tools.create(env=AUTO)
    clean_db.run("MATCH (n:Sample) WHERE n.uid % 10 = 0 SET n.name = 'changed ' + n.uid")
    clean_db.run("MATCH (n:Sample) WHERE n.uid % 97 = 5 DETACH DELETE n")
    clean_db.run("UNWIND range(1, 50) AS i CREATE (:Sample:Late {uid: 100000 + i})")

    printed = kill_when(tools.popen_backup("--create", env=AUTO), "INFO: Running: online logical backup")
    assert f"INFO: Backup type: differential of {full}" in printed, printed
    visible = [name for name in backup_dirs(tools.storage) if not name.startswith(".")]
    assert visible == [full]
    listing = tools.backup("--list", "--json", env=AUTO)
    assert listing.returncode == 0, listing.output
    entries = json.loads(listing.stdout)["backups"]
    assert [entry["id"] for entry in entries] == [full], listing.stdout

    result = tools.backup("--create", env=AUTO)
    assert result.returncode == 0, result.output
    assert "Removed leftover of an interrupted run" in result.output
    line = type_line(result)
    assert line == f"differential of {full} (link 2 of its chain)" or line.startswith("full"), line
    after = Point.of(tools, result, clean_db)
    assert not [entry for entry in tools.storage.iterdir() if entry.name.startswith(".tmp-")]
    restore_equal(tools, after.id, "bolt", neo4j_target, after)


# ---- an encrypted chain on object storage, by the scheduler ---------------------------------------------


def test_encrypted_chain_on_object_storage_by_the_scheduler(s3_server, clean_db, backup_bin, restore_bin,
                                                           tmp_path, neo4j_target, run_cli):
    """The issue's "Done when": an encrypted, differential backup schedule to
    object storage restores any kept day equal to its source. Three daily
    runs (the clock pinned two seconds before each 02:00 run with NBK_NOW),
    changes in between; every day restores equal."""
    from test_scheduler import EVENT, Scheduler

    pytest.importorskip("boto3")
    key = tmp_path / "repo.key"
    made = run_cli([backup_bin, "--generate-key", str(key)], env={})
    assert made.returncode == 0, made.stderr
    prefix = f"diff-{uuid.uuid4().hex[:10]}"
    extra = {**s3_server.environment(prefix), "HOME": str(tmp_path), "BACKUP_STATE_DIR": str(tmp_path / "state"),
             "BACKUP_ENCRYPTION_KEY_FILE": str(key), "BACKUP_TYPE": "auto", "BACKUP_SCHEDULE": "0 2 * * *"}
    tools = Tools(backup_bin, restore_bin, extra["BACKUP_STORAGE_PATH"], production=clean_db,
                  target=neo4j_target, extra=extra)
    clean_db.run("UNWIND range(1, 200) AS i CREATE (:Day {i: i, text: 'day ' + i, at: date('2026-01-01')})")
    clean_db.run("MATCH (a:Day), (b:Day) WHERE b.i = a.i + 1 CREATE (a)-[:NEXT {w: a.i * 0.5}]->(b)")

    days = ["2026-01-05", "2026-01-06", "2026-01-07"]
    points = []
    for number, day in enumerate(days):
        if number == 1:
            clean_db.run("MATCH (n:Day) WHERE n.i % 7 = 0 SET n.text = 'changed', n.when = datetime('2026-01-06T10:00Z')")
            clean_db.run("MATCH (n:Day) WHERE n.i % 19 = 3 DETACH DELETE n")
            clean_db.run("UNWIND range(1, 10) AS i CREATE (:Day:New {i: 1000 + i})")
        elif number == 2:
            clean_db.run("MATCH (n:New) SET n.where = point({longitude: 13.4, latitude: 52.5})")
            clean_db.run("MATCH (a:New), (b:Day {i: 1}) CREATE (a)-[:BACK {p: [1, 2]}]->(b)")
            clean_db.run("MATCH ()-[r:NEXT]->() WHERE r.w > 90 DELETE r")
        environment = {name: value for name, value in os.environ.items()}
        for name, value in tools.env({"NBK_NOW": f"{day}T01:59:58Z"}).items():
            if value is None:
                environment.pop(name, None)
            else:
                environment[name] = value
        with Scheduler(backup_bin, environment, tmp_path) as scheduler:
            following = days[number + 1] if number + 1 < len(days) else "2026-01-08"
            scheduler.wait_for(EVENT + rf"NEXT_BACKUP: {following} 02:00:00 UTC$", timeout=120)
            assert scheduler.stop() == 0, scheduler.report()
        found = re.search(EVENT + r"BACKUP_SUCCESS: (neo4j-\S+) ", scheduler.stdout, re.M)
        assert found, scheduler.report()
        points.append(Point(found.group(1), clean_db))

    manifests = [json.loads(s3_server.get(f"{prefix}/{point.id}/manifest.json"), parse_float=RawFloat)
                 for point in points]
    assert [manifest.get("backup_type", "full") for manifest in manifests] == ["full", "diff", "diff"]
    assert manifests[1]["parent"]["id"] == points[0].id and manifests[2]["parent"]["id"] == points[1].id
    assert manifests[1]["parent"]["manifest_sha256"] == link_digest(manifests[0])
    assert manifests[2]["parent"]["manifest_sha256"] == link_digest(manifests[1])
    assert [manifest.get("chain_depth", 0) for manifest in manifests] == [0, 1, 2]
    for point, manifest in zip(points, manifests):
        assert "encryption" in manifest, point.id
        archive = s3_server.get(f"{prefix}/{point.id}/{manifest['archive']['file']}")
        assert archive[:8] == b"NBKARCH2"
        assert hashlib.sha256(archive).hexdigest() == manifest["archive"]["sha256"]
    assert manifests[1]["changes"]["deleted_nodes"] > 0 and manifests[2]["changes"]["deleted_relationships"] > 0
    assert manifests[2]["changes"]["nodes"] == 10  # the :New nodes got a point
    validated = tools.backup("--validate", points[2].id)  # the whole chain, with the key
    assert validated.returncode == 0, validated.output

    for point in points:
        restore_equal(tools, point.id, "bolt", neo4j_target, point)


def test_keep_validate_and_key_rotation_keep_the_links(clean_db, backup_bin, restore_bin, tmp_path, neo4j_target,
                                                       run_cli):
    """What changes in a parent's manifest legitimately (status, keep, the
    wrapped key) is outside the link digest: after --keep, --validate and
    --rotate-key of an encrypted chain, the chain validates, grows and
    restores. Turning encryption off makes auto take a full."""
    keys = []
    for name in ("old.key", "new.key"):
        made = run_cli([backup_bin, "--generate-key", str(tmp_path / name)], env={})
        assert made.returncode == 0, made.stderr
        keys.append(str(tmp_path / name))
    clean_db.run("UNWIND range(1, 300) AS i CREATE (:K {i: i, text: 'k' + i})")
    tools = Tools(backup_bin, restore_bin, tmp_path / "backups", production=clean_db, target=neo4j_target,
                  extra={"BACKUP_TYPE": "auto", "BACKUP_ENCRYPTION_KEY_FILE": keys[0],
                         "BACKUP_STATE_DIR": str(tmp_path / "state")})
    full = tools.create()
    clean_db.run("MATCH (n:K) WHERE n.i % 10 = 0 SET n.text = 'changed'")
    first = Point.of(tools, tools.backup("--create"), clean_db)
    assert type_line(first.result) == f"differential of {full} (link 2 of its chain)"

    assert tools.backup("--keep", full).returncode == 0
    assert tools.backup("--validate", full).returncode == 0
    rotated = tools.backup("--rotate-key", env={"BACKUP_ENCRYPTION_NEW_KEY_FILE": keys[1]})
    assert rotated.returncode == 0, rotated.output
    new_key = {"BACKUP_ENCRYPTION_KEY_FILE": keys[1]}
    assert read_manifest(tools.storage / full)["status"] == "COMPLETE, VALIDATED"
    validated = tools.backup("--validate", first.id, env=new_key)
    assert validated.returncode == 0, validated.output

    clean_db.run("MATCH (n:K) WHERE n.i % 7 = 0 DETACH DELETE n")
    second = Point.of(tools, tools.backup("--create", env=new_key), clean_db)
    assert type_line(second.result) == f"differential of {first.id} (link 3 of its chain)"
    restore_equal(tools, second.id, "bolt", neo4j_target, second, env=new_key)

    plain = tools.backup("--create", env={"BACKUP_ENCRYPTION_KEY_FILE": None})
    assert plain.returncode == 0, plain.output
    assert type_line(plain).startswith("full (encryption was turned off since "), plain.output
