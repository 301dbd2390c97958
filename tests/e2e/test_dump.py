"""Physical backups with `neo4j-admin database dump` (BACKUP_METHOD=dump):
create through the stop/start commands, list, validate (also --deep),
restore into a second server with every health check, and the failure paths:
a running server without stop/start commands, a broken NEO4J_HOME, a dump
that fails (the server must run again afterwards), and a corrupted dump
(caught before the target is stopped).

Uses its own two servers, e2e-dump-src (backed up) and e2e-dump-dst (restore
target; the prefix follows NBK_E2E_SERVER_PREFIX), since these tests stop and start them. Tests run in file order and
share one dump backup (module fixture); the corruption test comes last.
"""

import hashlib
import json
import os
import stat
import sys
from collections import Counter
from pathlib import Path

import pytest

from neo4j_servers import REPO_ROOT, Neo4jLocalError, Neo4jServer, launcher, launcher_command

# Own servers, named like conftest's (NBK_E2E_SERVER_PREFIX separates sessions).
SERVER_PREFIX = os.environ.get("NBK_E2E_SERVER_PREFIX") or "e2e"
SOURCE = f"{SERVER_PREFIX}-dump-src"
TARGET = f"{SERVER_PREFIX}-dump-dst"
SAMPLE_DATA = REPO_ROOT / "tools" / "sample_data.py"
EXIT_BACKUP_CORRUPTED = 11
EXIT_NEO4J_ADMIN_FAILED = 15
EXIT_CONFIG_INVALID = 21
CHECKS = ("connectivity", "schema_consistency", "orphan_detection", "counts", "fingerprint")


def own_port(name):
    """A Bolt port of this server's own, away from the 7687-upward range that
    every worktree's servers pick from: these tests stop and start their
    servers, and a port left free meanwhile must not go to another session's."""
    return 20000 + int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 20000


def start_on_own_port(name):
    try:
        return Neo4jServer.start(name, bolt_port=own_port(name))
    except Neo4jLocalError:
        launcher("stop", name, timeout=180)  # running on another port: move it
        return Neo4jServer.start(name, bolt_port=own_port(name))


@pytest.fixture(scope="module")
def servers(run_cli):
    source = start_on_own_port(SOURCE)
    target = start_on_own_port(TARGET)
    run_cli([sys.executable, SAMPLE_DATA, "--uri", source.uri, "--password", source.password,
             "--nodes", "300", "--relationships", "700", "--all-types", "--schema", "--wipe"],
            check=True, timeout=600)
    yield source, target
    for server in (source, target):
        server.close()
        if os.environ.get("NBK_KEEP_SERVERS", "0") != "1":
            server.stop()


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    return tmp_path_factory.mktemp("dump-storage")


def backup_env(source, storage, commands=True, **overrides):
    env = {
        "BACKUP_STORAGE_PATH": storage,
        "BACKUP_METHOD": None,
        "BACKUP_COMPRESSION": None,
        # A shared test machine's disk may be fuller than the 20% default wants.
        "BACKUP_MIN_FREE_PERCENT": "0",
        "NEO4J_URI": source.uri,
        "NEO4J_USER": source.user,
        "NEO4J_PASSWORD": source.password,
        "NEO4J_PASSWORD_FILE": None,
        "NEO4J_DATABASE": "neo4j",
        "NEO4J_HOME": source.home,
        "NEO4J_ADMIN": None,
        "NEO4J_DATA_PATH": None,
        "NEO4J_STOP_COMMAND": launcher_command("stop", source) if commands else None,
        "NEO4J_START_COMMAND": launcher_command("start", source) if commands else None,
    }
    env.update(overrides)
    return env


def answers(server):
    with server.driver() as driver:
        records, _, _ = driver.execute_query("RETURN 1 AS one")
    return records[0]["one"] == 1


def backup_ids(storage):
    return sorted(entry.name for entry in Path(storage).iterdir()
                  if entry.is_dir() and entry.name.startswith("neo4j-"))


def manifest_of(storage, backup_id):
    return json.loads((Path(storage) / backup_id / "manifest.json").read_text())


def graph_content(server):
    """Multisets of nodes and relationships by content, the tool's own BackupMetadata nodes left out."""
    nodes = server.run("MATCH (n) WHERE NOT n:BackupMetadata "
                       "RETURN labels(n) AS labels, properties(n) AS props")
    relationships = server.run(
        "MATCH (a)-[r]->(b) WHERE NOT a:BackupMetadata AND NOT b:BackupMetadata "
        "RETURN type(r) AS type, properties(r) AS props, properties(a) AS start, properties(b) AS end")

    def canonical(value):
        if isinstance(value, dict):
            return tuple(sorted((key, canonical(item)) for key, item in value.items()))
        if isinstance(value, (list, tuple)):
            return tuple(canonical(item) for item in value)
        return repr(value)

    return (Counter(canonical((sorted(row["labels"]), row["props"])) for row in nodes),
            Counter(canonical(row) for row in relationships))


def test_dump_refused_on_a_running_server_without_stop_start_commands(servers, storage, backup_bin, run_cli):
    source, _ = servers
    result = run_cli([backup_bin, "--create", "--method", "dump"], env=backup_env(source, storage, commands=False))
    assert result.returncode == EXIT_NEO4J_ADMIN_FAILED
    assert "Neo4j is running" in result.stderr
    assert "store lock" in result.stderr and "is held by pid" in result.stderr
    assert "NEO4J_STOP_COMMAND and NEO4J_START_COMMAND" in result.stderr
    assert "--method logical" in result.stderr
    assert answers(source)
    assert backup_ids(storage) == []


def test_broken_neo4j_home_is_neo4j_admin_failed(servers, storage, backup_bin, run_cli, tmp_path):
    source, _ = servers
    broken = tmp_path / "not-a-neo4j-home"
    broken.mkdir()
    result = run_cli([backup_bin, "--create", "--method", "dump"],
                     env=backup_env(source, storage, NEO4J_HOME=broken))
    assert result.returncode == EXIT_NEO4J_ADMIN_FAILED
    assert "NEO4J_ADMIN_FAILED" in result.stderr
    assert f"NEO4J_HOME={broken} has no executable bin/neo4j-admin" in result.stderr
    assert "Stopping Neo4j" not in result.stdout
    assert answers(source)


def test_failed_dump_reports_the_command_and_the_server_runs_again(servers, storage, backup_bin, run_cli,
                                                                      tmp_path):
    source, _ = servers
    fake = tmp_path / "neo4j-admin"
    admin_env = tmp_path / "admin-env"
    stop_env = tmp_path / "stop-env"
    fake.write_text("#!/bin/sh\n"
                    f"if [ \"$1\" = --version ]; then echo {source.version}; exit 0; fi\n"
                    f"env > {admin_env}\n"
                    "echo 'Starting dump of database' >&2\n"
                    "echo 'simulated failure: the disk is on fire' >&2\n"
                    "exit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    # The stop command records its environment and carries a password of its own.
    stop = f"env > {stop_env}; STOP_DB_PASSWORD=hunter2-e2e {launcher_command('stop', source)}"
    api_token = "e2e-api-token-must-not-leak-0123456789"
    result = run_cli([backup_bin, "--create", "--method", "dump"],
                     env=backup_env(source, storage, NEO4J_ADMIN=fake, NEO4J_STOP_COMMAND=stop,
                                    BACKUP_API_TOKEN=api_token, E2E_PLAIN_SETTING="kept"), timeout=600)
    assert result.returncode == EXIT_NEO4J_ADMIN_FAILED
    assert "Stopping Neo4j for the dump: env > " in result.stdout
    assert "STOP_DB_PASSWORD=**** " in result.stdout
    assert "hunter2-e2e" not in result.stdout + result.stderr
    # Children get a cleaned environment: no secret, but what they need.
    for recorded in (admin_env.read_text(), stop_env.read_text()):
        names = {line.split("=", 1)[0] for line in recorded.splitlines() if "=" in line}
        assert "NEO4J_PASSWORD" not in names and "BACKUP_API_TOKEN" not in names
        assert source.password not in recorded and api_token not in recorded
        assert "PATH" in names and "E2E_PLAIN_SETTING=kept\n" in recorded
    assert f"NEO4J_HOME={source.home}\n" in admin_env.read_text()
    assert "Starting Neo4j again" in result.stdout
    assert "Neo4j answers again: downtime" in result.stdout
    assert f"Command: {fake} database dump --to-stdout -- neo4j" in result.stderr
    assert "Exit status: 3" in result.stderr
    assert "simulated failure: the disk is on fire" in result.stderr
    assert answers(source)
    assert backup_ids(storage) == []


@pytest.fixture(scope="module")
def dump_backup(servers, storage, backup_bin, run_cli):
    """One dump backup (with the system database) of the source, taken through the stop/start commands."""
    source, _ = servers
    counts = source.run("MATCH (n) WHERE NOT n:BackupMetadata WITH count(n) AS nodes "
                        "MATCH ()-[r]->() RETURN nodes, count(r) AS relationships")[0]
    # Per label and type too, as the driver sees them (the sample's odd names included).
    counts["labels"] = {row["label"]: row["count"] for row in source.run(
        "MATCH (n) WHERE NOT n:BackupMetadata UNWIND labels(n) AS label RETURN label, count(*) AS count")}
    counts["types"] = {row["type"]: row["count"] for row in source.run(
        "MATCH (a)-[r]->(b) WHERE NOT a:BackupMetadata AND NOT b:BackupMetadata "
        "RETURN type(r) AS type, count(*) AS count")}
    before = set(backup_ids(storage))
    result = run_cli([backup_bin, "--create", "--method", "dump", "--include-system"],
                     env=backup_env(source, storage), timeout=900)
    source.close()  # its driver's connections died with the stop
    created = sorted(set(backup_ids(storage)) - before)
    return result, (created[0] if created else None), counts


def test_dump_backup_through_stop_and_start(servers, storage, dump_backup):
    source, _ = servers
    result, backup_id, counts = dump_backup
    assert result.returncode == 0, result.stderr
    assert backup_id is not None
    assert "INFO: Running: neo4j-admin database dump --to-stdout -- neo4j" in result.stdout
    assert "INFO: Running: neo4j-admin database dump --to-stdout -- system" in result.stdout
    assert "Stopping Neo4j for the dump" in result.stdout and "Starting Neo4j again" in result.stdout
    assert "INFO: Downtime:" in result.stdout
    assert "SUCCESS: Backup completed" in result.stdout
    assert answers(source)
    manifest = manifest_of(storage, backup_id)
    assert manifest["method"] == "dump"
    assert manifest["status"] == "COMPLETE"
    assert manifest["archive"]["file"] == "neo4j.dump"
    assert manifest["downtime_seconds"] > 0
    assert manifest["stats"]["nodes"] == counts["nodes"]
    assert manifest["stats"]["relationships"] == counts["relationships"]
    assert manifest["stats"]["labels"] == counts["labels"]
    assert counts["labels"]["back`tick"] == 1  # a name the count queries must quote
    assert manifest["stats"]["types"] == counts["types"]
    assert manifest["content_fingerprint"]
    assert manifest["dump"]["stats_recorded"] is True
    assert [item["database"] for item in manifest["dump"]["archives"]] == ["neo4j", "system"]
    assert (Path(storage) / backup_id / "system.dump").stat().st_size > 0
    assert (Path(storage) / backup_id / "neo4j.dump").read_bytes()[:4] == b"DZV1"
    names = {item["name"] for item in manifest["schema"]}
    assert {"person_uid", "person_bio"} <= names
    # The backup is recorded in the source, as for logical backups.
    recorded = source.run("MATCH (m:BackupMetadata {backup_id: $id}) RETURN m.method AS method", id=backup_id)
    assert recorded == [{"method": "dump"}]


def test_list_shows_method_and_downtime(servers, storage, dump_backup, backup_bin, run_cli):
    source, _ = servers
    _, backup_id, _ = dump_backup
    listing = run_cli([backup_bin, "--list"], env=backup_env(source, storage), check=True)
    entry = listing.stdout.split(backup_id, 1)[1].split("\n\n", 1)[0]
    assert "Method:         dump" in entry
    assert "Downtime:" in entry
    as_json = run_cli([backup_bin, "--list", "--json"], env=backup_env(source, storage), check=True)
    listed = {item["id"]: item for item in json.loads(as_json.stdout)["backups"]}
    assert listed[backup_id]["method"] == "dump"
    assert listed[backup_id]["downtime_seconds"] > 0


def test_validate_and_deep_validate_pass(servers, storage, dump_backup, backup_bin, run_cli):
    source, _ = servers
    _, backup_id, _ = dump_backup
    env = backup_env(source, storage)
    shallow = run_cli([backup_bin, "--validate", backup_id], env=env)
    assert shallow.returncode == 0, shallow.stderr
    assert "Checksum verification: PASSED" in shallow.stdout
    assert "Checksum verification (system.dump): PASSED" in shallow.stdout
    assert "Dump structure (neo4j.dump): PASSED (DZV1" in shallow.stdout
    deep = run_cli([backup_bin, "--validate", backup_id, "--deep"], env=env, timeout=900)
    assert deep.returncode == 0, deep.stderr
    assert "Consistency check (neo4j, neo4j-admin database check): PASSED" in deep.stdout
    assert "Consistency check (system, neo4j-admin database check): PASSED" in deep.stdout
    assert manifest_of(storage, backup_id)["status"] == "COMPLETE, VALIDATED"
    assert not [entry for entry in Path(storage).iterdir() if entry.name.startswith(".tmp-")]
    assert answers(source)


@pytest.fixture(scope="module")
def restore_config(servers, storage, tmp_path_factory):
    _, target = servers
    path = tmp_path_factory.mktemp("dump-config") / "backup.conf"
    path.write_text(f"BACKUP_STORAGE_PATH={storage}\nBACKUP_MIN_FREE_PERCENT=0\n"
                    "[instance dump-dst]\n"
                    f"URI={target.uri}\nUSER={target.user}\nPASSWORD={target.password}\nDATABASE=neo4j\n"
                    f"NEO4J_HOME={target.home}\n"
                    f"STOP_COMMAND={launcher_command('stop', target)}\n"
                    f"START_COMMAND={launcher_command('start', target)}\n"
                    "[instance no-home]\n"
                    f"URI={target.uri}\nUSER={target.user}\nPASSWORD={target.password}\n")
    path.chmod(0o600)
    return path


def restore_env(source):
    return {"BACKUP_STORAGE_PATH": None, "NEO4J_URI": source.uri, "NEO4J_PASSWORD": source.password,
            "NEO4J_HOME": None, "NEO4J_STOP_COMMAND": None, "NEO4J_START_COMMAND": None,
            "NEO4J_ADMIN": None, "PROMOTE_AFTER_VALIDATION": None, "TEST_NEO4J_URI": None}


def test_restore_into_second_server_passes_every_health_check(servers, dump_backup, restore_config,
                                                                 restore_bin, run_cli):
    source, target = servers
    _, backup_id, _ = dump_backup
    target.run("MATCH (n) DETACH DELETE n")
    target.run("CREATE (:Leftover {from: 'before the restore'})")
    result = run_cli([restore_bin, "--config", restore_config, "--backup-id", backup_id, "--target", "dump-dst"],
                     env=restore_env(source), timeout=900)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("Checksum verification: PASSED") < out.index("Stopping dump-dst for the load")
    assert "INFO: Running: neo4j-admin database load --from-stdin --overwrite-destination=true -- neo4j" in out
    for check in CHECKS:
        assert f"Health check: {check} ... PASS" in out
    assert "SUCCESS: Restore completed and validated" in out
    target.close()
    assert graph_content(target) == graph_content(source)
    assert target.run("MATCH (n:Leftover) RETURN count(n) AS n") == [{"n": 0}]
    schema = {row["name"] for row in target.run("SHOW INDEXES YIELD name")}
    assert {"person_uid", "person_bio", "company_name"} <= schema


def test_dump_restores_only_into_an_instance_with_a_home(servers, dump_backup, restore_config, restore_bin,
                                                          run_cli):
    source, target = servers
    _, backup_id, _ = dump_backup
    result = run_cli([restore_bin, "--config", restore_config, "--backup-id", backup_id, "--target", "no-home"],
                     env=restore_env(source))
    assert result.returncode == EXIT_CONFIG_INVALID
    assert "can be restored only into an instance with a NEO4J_HOME" in result.stderr
    assert "target no-home has no NEO4J_HOME" in result.stderr
    assert "restore a logical backup" in result.stderr
    assert answers(target)


def test_corrupted_dump_is_caught_before_the_target_stops(servers, storage, dump_backup, restore_config,
                                                           backup_bin, restore_bin, run_cli):
    source, target = servers
    _, backup_id, _ = dump_backup
    pid_file = target.home / "run" / "neo4j.pid"
    pid_before = pid_file.read_text()
    archive = Path(storage) / backup_id / "neo4j.dump"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    result = run_cli([restore_bin, "--config", restore_config, "--backup-id", backup_id, "--target", "dump-dst"],
                     env=restore_env(source))
    assert result.returncode == EXIT_BACKUP_CORRUPTED
    assert "Checksum mismatch!" in result.stderr
    assert "Stopping" not in result.stdout
    assert pid_file.read_text() == pid_before
    assert answers(target)
    validate = run_cli([backup_bin, "--validate", backup_id], env=backup_env(source, storage))
    assert validate.returncode == EXIT_BACKUP_CORRUPTED
