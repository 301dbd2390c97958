"""A repository on object storage, end to end: BACKUP_STORAGE_PATH=s3://...
on real S3 servers (S3Proxy and moto's server on loopback, the s3_server
fixture), real Neo4j servers, the real executables. boto3 (an implementation
we did not write) checks every object, the official Neo4j driver every
restored graph.

What an operator relies on: a backup is written straight to the bucket (no
local copy of the archive), becomes visible only once complete, lists,
validates, restores and deletes like a local one; a crash leaves nothing that
lists as COMPLETE and --cleanup removes what it left; bad credentials are
STORAGE_AUTH_FAILED, at once and without printing the secret."""

import hashlib
import json
import os
import time
import uuid

import pytest

from helpers import (ARCHIVE_FILES, BACKUP_NOT_FOUND, Tools, assert_error, backup_id_of, count_graph,
                     ensure_sample, graph_snapshot, kill_when)
from neo4j_servers import launcher_command
from test_api import ApiProcess

pytest.importorskip("boto3")

NODES = 1500
RELATIONSHIPS = 3200
STORAGE_AUTH_FAILED = 30
CONFIG_INVALID = 21


@pytest.fixture
def sample_graph(neo4j_server):
    ensure_sample(neo4j_server, NODES, RELATIONSHIPS)
    return neo4j_server


@pytest.fixture
def s3_tools(s3_server, backup_bin, restore_bin, tmp_path, neo4j_server, neo4j_target):
    """Tools on s3://bucket/<fresh prefix>; (tools, server, prefix). HOME is an
    empty directory, so no credentials of the machine running the tests are
    read; the working directory is an empty one, to show nothing lands there."""
    prefix = f"repo-{uuid.uuid4().hex[:12]}"
    work = tmp_path / "work"
    work.mkdir()
    extra = {**s3_server.environment(prefix), "HOME": str(work), "BACKUP_STATE_DIR": str(tmp_path / "state")}
    tools = Tools(backup_bin, restore_bin, f"s3://{s3_server.bucket}/{prefix}", production=neo4j_server,
                  target=neo4j_target, extra=extra)
    return tools, s3_server, prefix


def manifest_of(server, prefix, backup_id, name="manifest.json"):
    return json.loads(server.get(f"{prefix}/{backup_id}/{name}"))


def test_create_list_validate_restore_delete(s3_tools, sample_graph, neo4j_target):
    tools, server, prefix = s3_tools
    result = tools.backup("--create")
    assert result.returncode == 0, result.output
    backup_id = backup_id_of(result)
    archive_name = ARCHIVE_FILES["zstd"]

    # What boto3 finds: the archive, both manifests, nothing else (no lock left).
    keys = sorted(server.keys(prefix))
    assert keys == sorted(f"{prefix}/{backup_id}/{name}" for name in
                          (archive_name, "manifest.json", "manifest.json.copy")), keys
    manifest = manifest_of(server, prefix, backup_id)
    assert manifest["status"] == "COMPLETE"
    archive = server.get(f"{prefix}/{backup_id}/{archive_name}")
    assert manifest["archive"]["sha256"] == hashlib.sha256(archive).hexdigest()
    assert manifest["archive"]["size_compressed"] == len(archive)
    assert server.get(f"{prefix}/{backup_id}/manifest.json.copy") == server.get(
        f"{prefix}/{backup_id}/manifest.json")
    assert server.uploads(prefix) == []

    listed = tools.backup("--list", "--json")
    assert listed.returncode == 0, listed.output
    entries = json.loads(listed.stdout)["backups"]
    assert [(entry["id"], entry["status"]) for entry in entries] == [(backup_id, "COMPLETE")]

    validated = tools.backup("--validate", backup_id)
    assert validated.returncode == 0, validated.output

    restored = tools.restore("--backup-id", backup_id, "--validate", "--load", "bolt")
    assert restored.returncode == 0, restored.output
    assert count_graph(neo4j_target)[:2] == (NODES, RELATIONSHIPS)
    assert graph_snapshot(neo4j_target) == graph_snapshot(sample_graph)

    deleted = tools.backup("--delete", backup_id, "--force")
    assert deleted.returncode == 0, deleted.output
    assert server.keys(prefix) == []
    assert_error(tools.backup("--validate", backup_id), BACKUP_NOT_FOUND, "BACKUP_NOT_FOUND")


def expire_locks(server, prefix):
    """Rewrites every lock record below prefix as expired: what the clock does
    to the lock of a writer that died (its keeper no longer refreshes it)."""
    for key in server.keys(prefix):
        if key.endswith(".lock"):
            record = server.get(key).decode()
            lines = [line for line in record.splitlines() if not line.startswith("expires=")]
            server.client.put_object(Bucket=server.bucket, Key=key,
                                     Body=("\n".join(lines) + "\nexpires=1\n").encode())


def test_a_killed_backup_never_lists_and_cleanup_removes_it(s3_tools, sample_graph):
    tools, server, prefix = s3_tools
    kill_when(tools.popen_backup("--create"), "INFO: Running: online logical backup")
    # Killed while writing: whatever it left is not a backup.
    left = server.keys(prefix)
    assert left, "the killed backup left no lock behind"
    listing = tools.backup("--list")
    assert listing.returncode == 0, listing.output
    assert "COMPLETE" not in listing.stdout
    assert "Total: 0 backups" in listing.stdout
    # While its lock is alive, --cleanup leaves it alone (it may be a live writer).
    cleaned = tools.backup("--cleanup")
    assert cleaned.returncode == 0, cleaned.output
    assert sorted(server.keys(prefix)) == sorted(left)
    # Once the lock has expired it is a leftover: removed, uploads aborted.
    # (Only the repository's own lock objects stay: an expired one is taken
    # over by the next taker.)
    expire_locks(server, prefix)
    cleaned = tools.backup("--cleanup")
    assert cleaned.returncode == 0, cleaned.output
    assert "Removed leftover of an interrupted run" in cleaned.output
    root_locks = {f"{prefix}/.lock", f"{prefix}/.create.lock"}
    assert [key for key in server.keys(prefix) if key not in root_locks] == [], server.keys(prefix)
    assert server.uploads(prefix) == []
    # And the next backup works (it takes over the dead writer's expired create lock).
    created = tools.backup("--create")
    assert created.returncode == 0, created.output
    listed = json.loads(tools.backup("--list", "--json").stdout)["backups"]
    assert [(entry["id"], entry["status"]) for entry in listed] == [(backup_id_of(created), "COMPLETE")]


def test_wrong_secret_is_storage_auth_failed(s3_tools):
    tools, server, prefix = s3_tools
    if server.kind == "moto":
        pytest.skip("moto accepts any credentials")
    result = tools.backup("--list", env={"AWS_SECRET_ACCESS_KEY": "wrong-secret-value-0123456789"})
    assert_error(result, STORAGE_AUTH_FAILED, "STORAGE_AUTH_FAILED")
    assert "wrong-secret-value" not in result.output
    assert server.secret_key not in result.output


def test_instance_and_container_role_credentials(s3_tools, sample_graph):
    """No keys and no credentials file: the tool asks the instance metadata
    service (IMDSv2: token, role name, credentials) or a container endpoint,
    here moto's metadata endpoint, and signs with what it hands out, without
    printing it."""
    tools, server, prefix = s3_tools
    if server.kind != "moto":
        pytest.skip("S3Proxy has no metadata service; moto serves one")
    instance = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.endpoint}
    checked = tools.backup("--check", env=instance)
    assert checked.returncode == 0, checked.output
    assert f"credentials of the instance role, from the metadata service at {server.endpoint} (IMDSv2)" \
        in checked.stdout
    created = tools.backup("--create", env=instance)
    assert created.returncode == 0, created.output
    backup_id = backup_id_of(created)
    assert manifest_of(server, prefix, backup_id)["status"] == "COMPLETE"
    container = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI":
                     f"{server.endpoint}/latest/meta-data/iam/security-credentials/default-role",
                 "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-token-0123456789"}
    listed = tools.backup("--list", "--json", "--verbose", env=container)
    assert listed.returncode == 0, listed.output
    assert [entry["id"] for entry in json.loads(listed.stdout)["backups"]] == [backup_id]
    for output in (checked.output, created.output, listed.output):
        # moto's role credentials and the container token
        assert "test-secret-key" not in output and "test-session-token" not in output
        assert "container-token-0123456789" not in output


def test_no_credentials_anywhere_is_a_clear_config_error(s3_tools):
    """Not on a cloud instance and no keys: the metadata service does not
    answer, and the error says what to set instead of hanging or blaming the
    bucket."""
    tools, server, prefix = s3_tools
    started = time.monotonic()
    result = tools.backup("--list", env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                                         "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1"})
    assert_error(result, CONFIG_INVALID, "CONFIG_INVALID")
    assert "instance metadata service at http://127.0.0.1:1 did not answer" in result.output
    assert "AWS_EC2_METADATA_DISABLED=true" in result.output
    assert time.monotonic() - started < 30  # three quick attempts, not the S3 retry schedule
    disabled = tools.backup("--list", env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                                           "AWS_EC2_METADATA_DISABLED": "true"})
    assert_error(disabled, CONFIG_INVALID, "CONFIG_INVALID")
    assert "AWS_EC2_METADATA_DISABLED is true" in disabled.output


def test_check_probes_the_bucket_and_leaves_nothing(s3_tools):
    tools, server, prefix = s3_tools
    result = tools.backup("--check")
    assert result.returncode == 0, result.output
    assert f"INFO: Storage: s3://{server.bucket}/{prefix} (endpoint {server.endpoint}, region us-east-1, " \
           "path-style addressing)" in result.stdout
    assert "wrote, read back and removed a probe object" in result.stdout
    assert "object storage has no free-space check" in result.stdout
    # Both servers honour If-None-Match: *, so locks exclude other hosts.
    assert "conditional writes are honoured" in result.stdout
    assert server.keys(prefix) == []


def test_import_load_and_promotion_from_object_storage(s3_tools, sample_graph, neo4j_target, tmp_path):
    """The offline import load reads the archive from the bucket; promotion
    takes its safety backup into the bucket too; the recovery state stays
    on this host, in BACKUP_STATE_DIR."""
    tools, server, prefix = s3_tools
    backup_id = tools.create()
    expected = graph_snapshot(sample_graph)
    offline = {"TEST_NEO4J_HOME": str(neo4j_target.home),
               "TEST_NEO4J_STOP_COMMAND": launcher_command("stop", neo4j_target),
               "TEST_NEO4J_START_COMMAND": launcher_command("start", neo4j_target)}
    restored = tools.restore("--backup-id", backup_id, "--load", "import", env=offline)
    assert restored.returncode == 0, restored.output
    assert "INFO: neo4j-admin imported" in restored.stdout
    assert graph_snapshot(neo4j_target) == expected
    state = json.loads((tmp_path / "state" / ".recovery.json").read_text())
    assert state["current"]["state"] == "RECOVERY_SUCCESS"

    # Production drifts; promotion brings it back to the backup, after a safety backup.
    sample_graph.run("CREATE (:AddedAfterBackup {note: 'must disappear on promotion'})")
    promoted = tools.restore("--backup-id", backup_id, "--promote", "--yes", env={"RESTORE_LOAD": "bolt"})
    assert promoted.returncode == 0, promoted.output
    assert graph_snapshot(sample_graph) == expected
    listed = json.loads(tools.backup("--list", "--json").stdout)["backups"]
    assert len(listed) == 2 and all(entry["status"] == "COMPLETE" for entry in listed), listed
    safety = [entry["id"] for entry in listed if entry["id"] != backup_id][0]
    assert server.exists(f"{prefix}/{safety}/manifest.json")
    status = tools.restore("--status", "--json")
    assert json.loads(status.stdout)["current"]["target"] == "production"


def test_scheduler_and_api_on_object_storage(s3_tools, sample_graph, tmp_path, backup_bin):
    """--schedule --serve with an s3:// repository: the scheduler's own files
    stay in BACKUP_STATE_DIR, its backup lands in the bucket, the API lists
    it and /metrics counts it."""
    tools, server, prefix = s3_tools
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / ".scheduler.json").write_text(json.dumps({
        "format_version": 1, "paused": True, "pause_reason": "5 consecutive failures (test)",
        "paused_at": "2026-01-01T00:00:00Z", "consecutive_failures": 5, "pid": 0}))
    environment = {key: value for key, value in os.environ.items()}
    for key, value in tools.env({"BACKUP_SCHEDULE": "0 3 1 1 *", "BACKUP_API_LISTEN": None}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    both = ApiProcess(backup_bin, environment, tmp_path, args=("--schedule", "--serve"), token="s3-api-" + "x" * 24)
    try:
        state, _ = both.json("GET", "/api/v1/scheduler")
        assert state["running"] is True and state["paused"] is True, state
        both.json("POST", "/api/v1/scheduler/resume")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not state.get("last_success"):
            time.sleep(0.2)
            state, _ = both.json("GET", "/api/v1/scheduler")
        backup_id = state.get("last_backup_id")
        assert backup_id, f"{state}\n{both.log()}"
        assert server.exists(f"{prefix}/{backup_id}/manifest.json")
        listed, _ = both.json("GET", "/api/v1/backups")
        assert backup_id in {item["id"] for item in listed["backups"]}
        status, _, metrics = both.request("GET", "/metrics")
        assert status == 200
        text = metrics.decode()
        assert 'neo4j_backup_catalog_backups{status="valid"} 1' in text, text[:3000]
        assert "neo4j_backup_scheduler_running 1" in text, text[:3000]
    finally:
        both.stop()
    # The scheduler's files are local; the bucket holds only the repository.
    assert (state_dir / ".scheduler.json").exists() and (state_dir / ".scheduler.log").exists()
    assert not [key for key in server.keys(prefix) if "scheduler" in key]
