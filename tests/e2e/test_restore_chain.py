"""Restore of differential backups (issue 15, docs/differential.md) against
real Neo4j 5.26 servers: production is the main server, the test instance
the target. A full backup, then changes (properties and labels changed,
nodes deleted with their relationships, relationships changed and deleted,
new nodes and relationships, ids freed and used again, an index added), then
differentials. Each backup restores equal to the source at its time, checked
with the official Python driver, with the Bolt load and the import load; a
damaged link refuses the restore before the target changes; an encrypted
chain on object storage (moto) restores too.
"""

import uuid

import pytest

from helpers import (BACKUP_CORRUPTED, Tools, assert_error, backup_id_of, flip_byte, graph_snapshot,
                     schema_snapshot)
from conftest import SERVER_PREFIX
from neo4j_servers import launcher_command
from s3_servers import start_s3_server, stop_s3_server


def import_settings(target):
    return {"RESTORE_LOAD": "import", "TEST_NEO4J_HOME": str(target.home),
            "TEST_NEO4J_STOP_COMMAND": launcher_command("stop", target),
            "TEST_NEO4J_START_COMMAND": launcher_command("start", target)}


def build_graph(server):
    server.wipe()
    server.run("CREATE CONSTRAINT chain_person_i IF NOT EXISTS FOR (p:Person) REQUIRE p.i IS UNIQUE")
    server.run("UNWIND range(0, 299) AS i CREATE (:Person {i: i, name: 'p' + i, score: i * 1.5})")
    server.run("MATCH (a:Person), (b:Person) WHERE b.i = (a.i * 7 + 3) % 300 "
               "CREATE (a)-[:KNOWS {w: a.i}]->(b)")
    server.run("MATCH (a:Person) WHERE a.i % 10 = 0 CREATE (a)-[:OWNS {since: a.i}]->(:Pet {name: 'pet' + a.i})")


def change_once(server):
    """Updates, deletions with relationships, relationship changes, new entities."""
    server.run("MATCH (p:Person) WHERE p.i % 17 = 0 SET p.score = -1.0, p.changed = true")
    server.run("MATCH (p:Person) WHERE p.i % 23 = 0 SET p:Vip")
    server.run("MATCH (p:Person) WHERE p.i % 29 = 5 DETACH DELETE p")
    server.run("MATCH ()-[r:KNOWS]->() WHERE r.w % 13 = 0 SET r.w = -r.w")
    server.run("MATCH ()-[r:KNOWS]->() WHERE r.w % 11 = 1 DELETE r")
    server.run("UNWIND range(1000, 1019) AS i CREATE (:Person {i: i, name: 'new' + i})")
    server.run("MATCH (a:Person), (b:Person) WHERE a.i >= 1000 AND b.i = a.i - 990 CREATE (a)-[:KNOWS {w: a.i}]->(b)")


def change_twice(server):
    """Ids freed and taken again by new nodes and relationships; a node of
    the first differential changed again; an index added."""
    server.run("MATCH (p:Pet) WHERE p.name ENDS WITH '0' AND NOT p.name ENDS WITH '00' DETACH DELETE p")
    server.run("MATCH (p:Person) WHERE p.i IN [1003, 1004] DETACH DELETE p")
    server.run("UNWIND range(2000, 2039) AS i CREATE (:Person:Reused {i: i, name: 'reuse' + i})")
    server.run("MATCH (a:Person), (b:Person) WHERE a.i >= 2000 AND b.i = a.i - 1990 "
               "CREATE (a)-[:LIKES {w: a.i}]->(b)")
    server.run("MATCH (p:Person {i: 1001}) SET p.name = 'changed twice'")
    server.run("CREATE INDEX chain_pet_name IF NOT EXISTS FOR (p:Pet) ON (p.name)")
    server.run("CALL db.awaitIndexes(120)")


def snapshot(server):
    return graph_snapshot(server), schema_snapshot(server)


def create(tools, kind, env=None):
    result = tools.backup("--create", "--type", kind, env=env)
    assert result.returncode == 0, result.output
    if kind == "diff":
        assert "Backup type: differential of" in result.output, result.output
    return backup_id_of(result)


def mark_target(target):
    if not target.is_running():
        target.restart()
    target.wipe()
    target.run("CREATE (:TargetBefore {n: 1})-[:WAS]->(:TargetBefore {n: 2})")
    return graph_snapshot(target)


def restored(tools, backup_id, target, expected, env=None):
    mark_target(target)
    result = tools.restore("--backup-id", backup_id, env=env)
    assert result.returncode == 0, result.output
    assert result.stdout.count("... PASS") == 5, result.output
    assert snapshot(target) == expected
    return result


@pytest.fixture
def tools(backup_bin, restore_bin, tmp_path, neo4j_server, neo4j_target):
    return Tools(backup_bin, restore_bin, tmp_path / "backups", production=neo4j_server, target=neo4j_target)


def test_each_link_restores_as_its_source_with_both_loads(tools, neo4j_server, neo4j_target):
    build_graph(neo4j_server)
    full = create(tools, "full")
    at_full = snapshot(neo4j_server)
    change_once(neo4j_server)
    first = create(tools, "diff")
    at_first = snapshot(neo4j_server)
    change_twice(neo4j_server)
    second = create(tools, "diff")
    at_second = snapshot(neo4j_server)
    assert len({repr(at_full), repr(at_first), repr(at_second)}) == 3

    # The Bolt load of every link, newest first.
    done = restored(tools, second, neo4j_target, at_second, env={"RESTORE_LOAD": "bolt"})
    assert f"Differential backup: chain of 3 backups from full backup {full}" in done.stdout, done.output
    restored(tools, first, neo4j_target, at_first, env={"RESTORE_LOAD": "bolt"})
    plain = restored(tools, full, neo4j_target, at_full, env={"RESTORE_LOAD": "bolt"})
    assert "Differential backup" not in plain.stdout
    # The import load of both differentials.
    imported = restored(tools, second, neo4j_target, at_second, env=import_settings(neo4j_target))
    assert "with neo4j-admin database import" in imported.stdout
    restored(tools, first, neo4j_target, at_first, env=import_settings(neo4j_target))


def test_a_damaged_link_refuses_before_the_target_changes(tools, neo4j_server, neo4j_target):
    build_graph(neo4j_server)
    full = create(tools, "full")
    at_full = snapshot(neo4j_server)
    change_once(neo4j_server)
    first = create(tools, "diff")
    change_twice(neo4j_server)
    second = create(tools, "diff")
    archive = next((tools.storage / first).glob("graph.nbk*"))
    flip_byte(archive, archive.stat().st_size // 2)
    for env in ({"RESTORE_LOAD": "bolt"}, import_settings(neo4j_target)):
        before = mark_target(neo4j_target)
        result = tools.restore("--backup-id", second, env=env)
        assert_error(result, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
        assert "Backup validation failed" in result.stderr, result.output
        assert f"Damaged link: backup {first} of the differential's chain" in result.stderr, result.output
        assert graph_snapshot(neo4j_target) == before
    # The full before the damaged link still restores.
    restored(tools, full, neo4j_target, at_full, env={"RESTORE_LOAD": "bolt"})


def test_encrypted_chain_on_object_storage(backup_bin, restore_bin, run_cli, tmp_path, neo4j_server, neo4j_target):
    pytest.importorskip("boto3")
    key = tmp_path / "chain.key"
    generated = run_cli([backup_bin, "--generate-key", str(key)], env={})
    assert generated.returncode == 0, generated.stderr
    server = start_s3_server("moto", SERVER_PREFIX)
    try:
        prefix = f"chain-{uuid.uuid4().hex[:10]}"
        extra = {"HOME": str(tmp_path), "BACKUP_STATE_DIR": str(tmp_path / "state"),
                 "BACKUP_ENCRYPTION_KEY_FILE": str(key), **server.environment(prefix)}
        tools = Tools(backup_bin, restore_bin, extra["BACKUP_STORAGE_PATH"], production=neo4j_server,
                      target=neo4j_target, extra=extra)
        build_graph(neo4j_server)
        create(tools, "full")
        change_once(neo4j_server)
        create(tools, "diff")
        change_twice(neo4j_server)
        second = create(tools, "diff")
        expected = snapshot(neo4j_server)
        restored(tools, second, neo4j_target, expected, env={"RESTORE_LOAD": "bolt"})
        restored(tools, second, neo4j_target, expected, env=import_settings(neo4j_target))
        missing = tools.restore("--backup-id", second, env={"BACKUP_ENCRYPTION_KEY_FILE": None,
                                                            "RESTORE_LOAD": "bolt"})
        assert missing.returncode != 0, missing.output
    finally:
        stop_s3_server(server)
