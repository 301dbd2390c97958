"""The dump method (neo4j-admin database dump / load) on an s3:// repository,
end to end: real Neo4j servers stopped and started by their commands, real
S3 servers (S3Proxy and moto, the s3_server fixture), the real executables.
boto3 checks what landed in the bucket, the official Neo4j driver what was
restored.

What an operator relies on: the dump streams from neo4j-admin straight into
the bucket (a multipart upload, nothing staged on local disk) with the
SHA-256 of exactly those bytes in its manifest; it lists, validates
(through the storage), restores into a test instance and promotes (with a
safety dump into the bucket first) like a local dump; a dump killed in the
middle of its upload leaves nothing listed as COMPLETE and --cleanup
removes the pending upload.

Uses the servers of test_dump.py (<prefix>-dump-src, <prefix>-dump-dst),
which these tests stop and start."""

import hashlib
import json
import os
import signal
import stat
import sys
import time
import uuid

import pytest

from helpers import Tools, backup_id_of
from neo4j_servers import launcher_command
from test_dump import answers, graph_content
from test_dump import servers  # noqa: F401  (the module fixture: source and target on their own ports)
from test_s3_repository import expire_locks

pytest.importorskip("boto3")

CHECKS = ("connectivity", "schema_consistency", "orphan_detection", "counts", "fingerprint")
CONFIG_INVALID = 21
BACKUP_CORRUPTED = 11


def offline_settings(source, target):
    """Stop/start commands and homes of production (the source) and the test target."""
    return {"NEO4J_HOME": str(source.home), "NEO4J_DATABASE": "neo4j",
            "NEO4J_STOP_COMMAND": launcher_command("stop", source),
            "NEO4J_START_COMMAND": launcher_command("start", source),
            "TEST_NEO4J_HOME": str(target.home),
            "TEST_NEO4J_STOP_COMMAND": launcher_command("stop", target),
            "TEST_NEO4J_START_COMMAND": launcher_command("start", target)}


def s3_tools_for(s3_server, backup_bin, restore_bin, tmp_path, source=None, target=None, **extra):
    """Tools on s3://bucket/<fresh prefix>; HOME and the working directory are
    empty, so nothing of the machine's is read and nothing lands locally."""
    prefix = f"dump-{uuid.uuid4().hex[:12]}"
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    settings = {**s3_server.environment(prefix), "HOME": str(work), "BACKUP_STATE_DIR": str(tmp_path / "state"),
                **extra}
    return Tools(backup_bin, restore_bin, f"s3://{s3_server.bucket}/{prefix}", production=source, target=target,
                 extra=settings), prefix


@pytest.fixture(scope="module")
def dump_on_s3(servers, s3_server, backup_bin, restore_bin, tmp_path_factory):
    """One dump backup (with the system database) of the source into a fresh
    prefix of the bucket: (tools, server, prefix, result, backup id)."""
    source, target = servers
    tmp_path = tmp_path_factory.mktemp("dump-s3")
    tools, prefix = s3_tools_for(s3_server, backup_bin, restore_bin, tmp_path, source, target,
                                 **offline_settings(source, target))
    result = tools.backup("--create", "--method", "dump", "--include-system", timeout=900)
    source.close()  # its driver's connections died with the stop
    backup_id = backup_id_of(result) if result.returncode == 0 else None
    return tools, s3_server, prefix, result, backup_id, tmp_path


def manifest_of(server, prefix, backup_id):
    return json.loads(server.get(f"{prefix}/{backup_id}/manifest.json"))


def test_dump_streams_into_the_bucket(servers, dump_on_s3):
    source, _ = servers
    tools, server, prefix, result, backup_id, tmp_path = dump_on_s3
    assert result.returncode == 0, result.output
    out = result.stdout
    assert "INFO: Running: neo4j-admin database dump --to-stdout -- neo4j" in out
    assert "INFO: Running: neo4j-admin database dump --to-stdout -- system" in out
    assert "Stopping Neo4j for the dump" in out and "Neo4j answers again: downtime" in out
    assert "SUCCESS: Backup completed" in out
    assert answers(source)

    # What boto3 finds: both dumps, both manifests, no lock, no pending upload.
    keys = sorted(server.keys(prefix))
    assert keys == sorted(f"{prefix}/{backup_id}/{name}" for name in
                          ("neo4j.dump", "system.dump", "manifest.json", "manifest.json.copy")), keys
    assert server.uploads(prefix) == []
    manifest = manifest_of(server, prefix, backup_id)
    assert manifest["method"] == "dump" and manifest["status"] == "COMPLETE"
    dump = server.get(f"{prefix}/{backup_id}/neo4j.dump")
    assert dump[:4] == b"DZV1"
    assert manifest["archive"]["sha256"] == hashlib.sha256(dump).hexdigest()
    assert manifest["archive"]["size_compressed"] == len(dump)
    system = server.get(f"{prefix}/{backup_id}/system.dump")
    recorded = {item["file"]: item for item in manifest["dump"]["archives"]}
    assert recorded["system.dump"]["sha256"] == hashlib.sha256(system).hexdigest()
    assert recorded["system.dump"]["size"] == len(system)
    assert manifest["content_fingerprint"] and manifest["dump"]["stats_recorded"] is True
    # No local staging copy: nothing was written under HOME, the working
    # directory or the state directory.
    local = [path for path in tmp_path.rglob("*") if path.is_file() and path.name.endswith(".dump")]
    assert local == []


def test_list_and_validate_through_the_storage(dump_on_s3):
    tools, server, prefix, result, backup_id, _ = dump_on_s3
    assert result.returncode == 0, result.output
    listed = json.loads(tools.backup("--list", "--json").stdout)["backups"]
    assert [(entry["id"], entry["status"], entry["method"]) for entry in listed] == \
        [(backup_id, "COMPLETE", "dump")]
    validated = tools.backup("--validate", backup_id)
    assert validated.returncode == 0, validated.output
    assert "Checksum verification: PASSED" in validated.stdout
    assert "Checksum verification (system.dump): PASSED" in validated.stdout
    assert "Dump structure (neo4j.dump): PASSED (DZV1" in validated.stdout
    assert manifest_of(server, prefix, backup_id)["status"] == "COMPLETE, VALIDATED"
    # neo4j-admin database check reads dumps by path: refused with the way out.
    deep = tools.backup("--validate", backup_id, "--deep")
    assert deep.returncode == CONFIG_INVALID, deep.output
    assert "reads a dump from a local path" in deep.stderr
    assert server.uploads(prefix) == []


def test_restore_into_the_target_equals_the_source(servers, dump_on_s3):
    source, target = servers
    tools, server, prefix, result, backup_id, tmp_path = dump_on_s3
    assert result.returncode == 0, result.output
    target.run("MATCH (n) DETACH DELETE n")
    target.run("CREATE (:Leftover {from: 'before the restore'})")
    restored = tools.restore("--backup-id", backup_id, timeout=900)
    assert restored.returncode == 0, restored.output
    out = restored.stdout
    assert out.index("Checksum verification: PASSED") < out.index("for the load")
    assert "INFO: Running: neo4j-admin database load --from-stdin --overwrite-destination=true -- neo4j" in out
    for check in CHECKS:
        assert f"Health check: {check} ... PASS" in out
    assert "SUCCESS: Restore completed and validated" in out
    target.close()
    assert graph_content(target) == graph_content(source)
    assert target.run("MATCH (n:Leftover) RETURN count(n) AS n") == [{"n": 0}]
    state = json.loads((tmp_path / "state" / ".recovery.json").read_text())
    assert state["current"]["state"] == "RECOVERY_SUCCESS"


def test_promotion_of_a_dump_with_a_safety_dump(servers, dump_on_s3):
    """--promote: the dump restores into the target, production is dumped
    into the bucket as the safety backup, then the dump loads into production."""
    source, _ = servers
    tools, server, prefix, result, backup_id, _ = dump_on_s3
    assert result.returncode == 0, result.output
    expected = graph_content(source)
    source.run("CREATE (:AddedAfterBackup {note: 'must disappear on promotion'})")
    promoted = tools.restore("--backup-id", backup_id, "--promote", "--yes", env={"BACKUP_METHOD": "dump"},
                             timeout=1800)
    assert promoted.returncode == 0, promoted.output
    assert "Promotion step 1/3: safety backup of production" in promoted.stdout
    assert "SUCCESS: Backup %s promoted to production" % backup_id in promoted.stdout
    source.close()
    assert graph_content(source) == expected
    listed = json.loads(tools.backup("--list", "--json").stdout)["backups"]
    safety = [entry for entry in listed if entry["id"] != backup_id]
    assert len(safety) == 1 and safety[0]["status"] == "COMPLETE" and safety[0]["method"] == "dump", listed
    safety_manifest = manifest_of(server, prefix, safety[0]["id"])
    safety_dump = server.get(f"{prefix}/{safety[0]['id']}/neo4j.dump")
    assert safety_manifest["archive"]["sha256"] == hashlib.sha256(safety_dump).hexdigest()
    assert server.uploads(prefix) == []
    assert answers(source)


def test_a_damaged_object_is_caught_before_the_target_stops(servers, dump_on_s3):
    """Last of the tests on the shared dump: it damages the object in the
    bucket. The checksum is verified through ranged GETs before anything
    stops; --validate reads the damage through the storage too."""
    _, target = servers
    tools, server, prefix, result, backup_id, _ = dump_on_s3
    assert result.returncode == 0, result.output
    key = f"{prefix}/{backup_id}/neo4j.dump"
    body = bytearray(server.get(key))
    body[len(body) // 2] ^= 0xFF
    server.client.put_object(Bucket=server.bucket, Key=key, Body=bytes(body))
    pid_file = target.home / "run" / "neo4j.pid"
    pid_before = pid_file.read_text()
    restored = tools.restore("--backup-id", backup_id)
    assert restored.returncode == BACKUP_CORRUPTED, restored.output
    assert "Checksum mismatch!" in restored.stderr
    assert "Stopping" not in restored.stdout
    assert pid_file.read_text() == pid_before
    validated = tools.backup("--validate", backup_id)
    assert validated.returncode == BACKUP_CORRUPTED, validated.output
    assert manifest_of(server, prefix, backup_id)["status"].startswith("CORRUPTED")


FAKE_ADMIN = """#!/bin/sh
# A neo4j-admin whose dump streams 12 MiB (more than two 5 MiB parts) and
# then hangs: the upload is in flight when the test kills the backup.
if [ "$1" = --version ]; then echo 5.26.0; exit 0; fi
echo $$ > "{pid_file}"
printf 'NBKX'
head -c 12582912 /dev/urandom
exec sleep 600
"""


def test_a_killed_dump_upload_never_lists_and_cleanup_aborts_it(s3_server, backup_bin, restore_bin, tmp_path):
    """SIGKILL while the dump's multipart upload is in flight. A fake
    neo4j-admin and a Neo4j that does not answer (taken as stopped) keep
    the real servers out of it."""
    fake = tmp_path / "neo4j-admin"
    pid_file = tmp_path / "admin.pid"
    fake.write_text(FAKE_ADMIN.format(pid_file=pid_file))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tools, prefix = s3_tools_for(s3_server, backup_bin, restore_bin, tmp_path, NEO4J_URI="bolt://127.0.0.1:9",
                                 NEO4J_USER="neo4j", NEO4J_PASSWORD="unused-password", NEO4J_ADMIN=str(fake),
                                 NEO4J_DATA_PATH=str(data_dir), BACKUP_S3_PART_SIZE_MB="5")
    process = tools.popen_backup("--create", "--method", "dump")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not s3_server.uploads(prefix):
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.1)
        assert s3_server.uploads(prefix), "no multipart upload was started"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
    left = s3_server.keys(prefix)
    listing = tools.backup("--list")
    assert listing.returncode == 0, listing.output
    assert "COMPLETE" not in listing.stdout and "Total: 0 backups" in listing.stdout
    assert not [key for key in left if key.endswith("manifest.json")], left
    # The dead writer's lock is alive until its ttl: --cleanup waits for it.
    cleaned = tools.backup("--cleanup")
    assert cleaned.returncode == 0, cleaned.output
    assert s3_server.uploads(prefix), "a live writer's upload was aborted"
    expire_locks(s3_server, prefix)
    cleaned = tools.backup("--cleanup")
    assert cleaned.returncode == 0, cleaned.output
    assert "Removed leftover of an interrupted run" in cleaned.output
    root_locks = {f"{prefix}/.lock", f"{prefix}/.create.lock"}
    assert [key for key in s3_server.keys(prefix) if key not in root_locks] == []
    assert s3_server.uploads(prefix) == []


FAKE_DUMPING_ADMIN = """#!/bin/sh
# neo4j-admin of the source: 'dumps' 1 MiB (four load chunks) and exits.
if [ "$1" = --version ]; then echo {version}; exit 0; fi
printf 'NBKX'
head -c 1048576 /dev/urandom
"""

FAKE_LOADING_ADMIN = """#!/bin/sh
# neo4j-admin of the target: keeps what the load feeds it.
if [ "$1" = --version ]; then echo {version}; exit 0; fi
if [ "$1 $2" = "database load" ]; then cat > "{loaded}"; echo 'Load completed' >&2; exit 0; fi
exit 5
"""

REPLACE_OBJECT = """import boto3
from botocore.config import Config
client = boto3.client("s3", endpoint_url={endpoint!r}, aws_access_key_id={access!r},
                      aws_secret_access_key={secret!r}, region_name="us-east-1",
                      config=Config(s3={{"addressing_style": "path"}}))
body = bytearray(client.get_object(Bucket={bucket!r}, Key={key!r})["Body"].read())
body[len(body) // 2] ^= 0xFF
client.put_object(Bucket={bucket!r}, Key={key!r}, Body=bytes(body))
"""


def test_a_dump_changed_after_its_check_never_loads_completely(servers, s3_server, backup_bin, restore_bin,
                                                                 tmp_path):
    """The object is replaced (one byte flipped, same size) after the
    restore verified its SHA-256 and before the load streams it: the
    target's stop command does it. The load hashes what it streams from the
    ranged GETs and holds the last chunk back, so neo4j-admin never gets
    the whole dump and the restore fails as corrupted, without health checks.
    Stand-in neo4j-admins; the target's Bolt is a real server (it must
    answer after the start command), whose data is never touched."""
    _, target = servers
    version = target.version
    source_admin = tmp_path / "source-admin"
    source_admin.write_text(FAKE_DUMPING_ADMIN.format(version=version))
    source_admin.chmod(0o755)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tools, prefix = s3_tools_for(s3_server, backup_bin, restore_bin, tmp_path, NEO4J_URI="bolt://127.0.0.1:9",
                                 NEO4J_USER="neo4j", NEO4J_PASSWORD="unused-password",
                                 NEO4J_ADMIN=str(source_admin), NEO4J_DATA_PATH=str(data_dir))
    created = tools.backup("--create", "--method", "dump")
    assert created.returncode == 0, created.output
    backup_id = backup_id_of(created)
    key = f"{prefix}/{backup_id}/neo4j.dump"
    original = s3_server.get(key)
    assert len(original) == 4 + 1048576

    home = tmp_path / "target-home"
    (home / "bin").mkdir(parents=True)
    loaded = tmp_path / "loaded"
    (home / "bin" / "neo4j-admin").write_text(FAKE_LOADING_ADMIN.format(version=version, loaded=loaded))
    (home / "bin" / "neo4j-admin").chmod(0o755)
    replace = tmp_path / "replace.py"
    replace.write_text(REPLACE_OBJECT.format(endpoint=s3_server.endpoint, access=s3_server.access_key,
                                             secret=s3_server.secret_key, bucket=s3_server.bucket, key=key))
    target_env = {"TEST_NEO4J_URI": target.uri, "TEST_NEO4J_USER": target.user,
                  "TEST_NEO4J_PASSWORD": target.password, "TEST_NEO4J_HOME": str(home),
                  "TEST_NEO4J_STOP_COMMAND": f"{sys.executable} {replace}", "TEST_NEO4J_START_COMMAND": "true"}
    restored = tools.restore("--backup-id", backup_id, env=target_env)
    assert restored.returncode == BACKUP_CORRUPTED, restored.output
    out = restored.stdout
    assert out.index("Checksum verification: PASSED") < out.index("Running: neo4j-admin database load")
    assert "changed after it was verified" in restored.stderr
    assert "Health check" not in out
    assert "may have left database neo4j incomplete or unavailable" in restored.output
    assert s3_server.get(key) != original  # the replacement happened
    fed = loaded.read_bytes()
    assert 0 < len(fed) < len(original)  # the last chunk never reached neo4j-admin
    middle = len(original) // 2
    assert fed[:middle] == original[:middle] and fed[middle] != original[middle]  # fed from the replaced object
    state = json.loads((tmp_path / "state" / ".recovery.json").read_text())
    assert state["current"]["state"] == "RECOVERY_FAILED"
    assert answers(target)
