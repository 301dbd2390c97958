"""Two places at once (issue 13): BACKUP_COPY_PATH names a second location
that keeps a copy of every backup, local or s3://. Real Neo4j servers, real
S3 servers (S3Proxy and moto through the s3_server fixture), the real
executables; boto3 checks what reached the bucket and the official Neo4j
driver what a restore produced.

What an operator relies on: --create copies the new backup and verifies it;
--copy copies what is missing and skips what is there (--dry-run copies
nothing); --list says where each backup is and whether each copy is valid;
a restore whose primary copy is gone or damaged falls back to the second
location, says so, and restores the same graph; retention runs in each
location by its own policy; --delete removes both; a second location that
fails gives BACKUP_COPY_FAILED while the primary backup stays valid."""

import hashlib
import json
import re
import shutil
import uuid
from pathlib import Path

import pytest

from test_scheduler import BACKUP_ID, EVENT, Scheduler, backup_dirs, create_backup_at, leftovers, tool_env
from test_scheduler import sched_server  # noqa: F401  (the fixture, shared with test_scheduler.py)
from helpers import (ARCHIVE_FILES, BACKUP_NOT_FOUND, Tools, assert_error, backup_id_of, ensure_sample,
                     flip_byte, graph_snapshot, read_manifest, sha256_file)

NODES = 1500
RELATIONSHIPS = 3200
BACKUP_COPY_FAILED = 36
ARCHIVE = ARCHIVE_FILES["zstd"]


@pytest.fixture
def sample_graph(neo4j_server):
    ensure_sample(neo4j_server, NODES, RELATIONSHIPS)
    return neo4j_server


def local_tools(backup_bin, restore_bin, tmp_path, neo4j_server, neo4j_target, **extra):
    """A local primary and a local copy, both below tmp_path."""
    return Tools(backup_bin, restore_bin, tmp_path / "primary", production=neo4j_server, target=neo4j_target,
                 extra={"BACKUP_COPY_PATH": str(tmp_path / "offsite"), **extra})


@pytest.fixture
def s3_copy(s3_server, backup_bin, restore_bin, tmp_path, neo4j_server, neo4j_target):
    """A local primary, the copy on s3://bucket/<fresh prefix>; (tools, server, prefix)."""
    prefix = f"copy-{uuid.uuid4().hex[:12]}"
    access = s3_server.environment(prefix)
    extra = {key: value for key, value in access.items() if key != "BACKUP_STORAGE_PATH"}
    extra.update(BACKUP_COPY_PATH=access["BACKUP_STORAGE_PATH"], HOME=str(tmp_path))
    tools = Tools(backup_bin, restore_bin, tmp_path / "primary", production=neo4j_server, target=neo4j_target,
                  extra=extra)
    return tools, s3_server, prefix


def listing(tools):
    result = tools.backup("--list", "--json")
    assert result.returncode == 0, result.output
    return {entry["id"]: entry for entry in json.loads(result.stdout)["backups"]}


def ids_in(path: Path):
    return sorted(entry.name for entry in path.iterdir() if not entry.name.startswith(".")) if path.exists() else []


def test_s3_copy_create_copy_list_restore(s3_copy, sample_graph, neo4j_target, tmp_path):
    tools, server, prefix = s3_copy
    created = tools.backup("--create")
    assert created.returncode == 0, created.output
    backup_id = backup_id_of(created)
    assert f"Copied backup {backup_id} to s3://" in created.stdout, created.output

    # boto3 sees the copy: the archive and both manifests (no lock left), and
    # the archive it downloads has the manifest's SHA-256, the same bytes as the primary's.
    keys = sorted(server.keys(prefix))
    assert keys == sorted(f"{prefix}/{backup_id}/{name}" for name in
                          (ARCHIVE, "manifest.json", "manifest.json.copy")), keys
    manifest = json.loads(server.get(f"{prefix}/{backup_id}/manifest.json"))
    archive = server.get(f"{prefix}/{backup_id}/{ARCHIVE}")
    assert hashlib.sha256(archive).hexdigest() == manifest["archive"]["sha256"]
    primary_archive = tmp_path / "primary" / backup_id / ARCHIVE
    assert sha256_file(primary_archive) == manifest["archive"]["sha256"]
    assert read_manifest(tmp_path / "primary" / backup_id)["archive"] == manifest["archive"]
    assert server.uploads(prefix) == []

    # --copy finds it there.
    again = tools.backup("--copy")
    assert again.returncode == 0, again.output
    assert f"Backup {backup_id} is already in" in again.stdout, again.output
    assert "Copied 0 backups" in again.stdout, again.output

    entry = listing(tools)[backup_id]
    assert entry["location"] == "both"
    assert entry["copies"]["primary"]["valid"] and entry["copies"]["copy"]["valid"], entry
    text = tools.backup("--list")
    assert "Locations:      primary (valid), copy (valid)" in text.stdout, text.output

    validated = tools.backup("--validate", backup_id)
    assert validated.returncode == 0, validated.output
    assert f"Backup {backup_id} is valid in the copy location" in validated.stdout, validated.output

    # The primary archive is lost: the restore takes the copy, says so, and restores the same graph.
    primary_archive.unlink()
    restored = tools.restore("--backup-id", backup_id, "--load", "bolt")
    assert restored.returncode == 0, restored.output
    fallback = [line for line in restored.lines() if "restoring from the copy in s3://" in line]
    assert len(fallback) == 1 and fallback[0].startswith("WARNING:"), restored.output
    assert graph_snapshot(neo4j_target) == graph_snapshot(sample_graph)

    entry = listing(tools)[backup_id]
    assert entry["copies"]["primary"]["valid"] is False
    assert entry["copies"]["primary"]["status"] == "INCOMPLETE"
    assert entry["copies"]["copy"]["valid"] is True

    # --delete removes it from both places.
    deleted = tools.backup("--delete", backup_id, "--force")
    assert deleted.returncode == 0, deleted.output
    assert "from BACKUP_STORAGE_PATH and from the copy location" in deleted.stdout, deleted.output
    assert server.keys(prefix) == []
    assert ids_in(tmp_path / "primary") == []


def test_local_copy_dry_run_skip_and_damaged_primary(backup_bin, restore_bin, tmp_path, sample_graph, neo4j_target):
    tools = local_tools(backup_bin, restore_bin, tmp_path, sample_graph, neo4j_target)
    offsite = tmp_path / "offsite"
    # Two backups made before the second location was configured.
    first = tools.create(env={"BACKUP_COPY_PATH": None})
    second = tools.create(env={"BACKUP_COPY_PATH": None})
    assert ids_in(offsite) == []

    planned = tools.backup("--copy", "--dry-run")
    assert planned.returncode == 0, planned.output
    assert f"Dry run: would copy backup {first}" in planned.stdout, planned.output
    assert f"Dry run: would copy backup {second}" in planned.stdout, planned.output
    assert not offsite.exists() or ids_in(offsite) == []

    one = tools.backup("--copy", first)
    assert one.returncode == 0, one.output
    assert ids_in(offsite) == [first]
    listed = listing(tools)
    assert listed[first]["location"] == "both" and listed[second]["location"] == "primary"

    rest = tools.backup("--copy")
    assert rest.returncode == 0, rest.output
    assert f"Backup {first} is already in" in rest.stdout, rest.output
    assert f"Copied backup {second}" in rest.stdout, rest.output
    assert ids_in(offsite) == sorted([first, second])
    for backup_id in (first, second):
        manifest = read_manifest(offsite / backup_id)
        assert sha256_file(offsite / backup_id / ARCHIVE) == manifest["archive"]["sha256"]

    # The primary archive is damaged in place (same size): the restore verifies it, takes the copy.
    flip_byte(tmp_path / "primary" / second / ARCHIVE, 200)
    restored = tools.restore("--backup-id", second, "--load", "bolt")
    assert restored.returncode == 0, restored.output
    assert sum("restoring from the copy in" in line for line in restored.lines()) == 1, restored.output
    assert graph_snapshot(neo4j_target) == graph_snapshot(sample_graph)

    # --validate checks both: the damaged primary fails, the copy passes.
    validated = tools.backup("--validate", second)
    assert validated.returncode == 11, validated.output
    assert f"Backup {second} is valid in the copy location" in validated.stdout, validated.output

    # A copy-only backup is listed too; one whose primary manifests are lost shows the copy's details.
    shutil.rmtree(tmp_path / "primary" / first)
    for name in ("manifest.json", "manifest.json.copy"):
        (tmp_path / "primary" / second / name).unlink()
    listed = listing(tools)
    assert listed[first]["location"] == "copy"
    assert listed[first]["status"] == "COMPLETE"
    assert listed[second]["copies"]["primary"]["status"] == "DAMAGED"
    assert listed[second]["status"].startswith("COMPLETE") and listed[second]["location"] == "both"


def test_per_location_retention(backup_bin, restore_bin, tmp_path, sample_graph, neo4j_target):
    tools = local_tools(backup_bin, restore_bin, tmp_path, sample_graph, neo4j_target,
                        BACKUP_RETENTION_DAYS="5", BACKUP_COPY_RETENTION_DAYS="15")
    made = {}
    for day in ("2025-12-01", "2025-12-11", "2025-12-20"):
        made[day] = tools.create(env={"NBK_NOW": f"{day}T03:00:00Z"})
    assert ids_in(tmp_path / "offsite") == sorted(made.values())

    cleaned = tools.backup("--cleanup", env={"NBK_NOW": "2025-12-21T03:00:00Z"})
    assert cleaned.returncode == 0, cleaned.output
    # Primary: 5 days keep only the newest; copy: 15 days keep the two newest.
    assert ids_in(tmp_path / "primary") == [made["2025-12-20"]]
    assert ids_in(tmp_path / "offsite") == sorted([made["2025-12-11"], made["2025-12-20"]])
    assert "from the copy location" in cleaned.stdout, cleaned.output

    # Defaults: the copy follows the primary's policy.
    default = tools.backup("--cleanup", env={"NBK_NOW": "2025-12-21T03:00:00Z", "BACKUP_COPY_RETENTION_DAYS": None})
    assert default.returncode == 0, default.output
    assert ids_in(tmp_path / "offsite") == [made["2025-12-20"]]


def test_failing_copy_location_keeps_the_primary_valid(backup_bin, restore_bin, tmp_path, sample_graph,
                                                        neo4j_target):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the copy location should be\n")
    tools = local_tools(backup_bin, restore_bin, tmp_path, sample_graph, neo4j_target,
                        BACKUP_COPY_PATH=str(blocked))
    result = tools.backup("--create")
    assert_error(result, BACKUP_COPY_FAILED, "BACKUP_COPY_FAILED")
    backup_id = backup_id_of(result)
    assert "neo4j-backup --copy " + backup_id in result.stderr, result.output
    primary = Tools(backup_bin, restore_bin, tmp_path / "primary", production=sample_graph)
    validated = primary.backup("--validate", backup_id)
    assert validated.returncode == 0, validated.output
    copy = primary.backup("--copy", backup_id)
    assert copy.returncode == 21, copy.output  # BACKUP_COPY_PATH unset: CONFIG_INVALID


def test_s3_copy_with_a_wrong_secret_fails_without_touching_the_primary(s3_copy, sample_graph, tmp_path):
    tools, server, prefix = s3_copy
    if server.kind == "moto":
        pytest.skip("moto's server does not check signatures")
    result = tools.backup("--create", env={"AWS_SECRET_ACCESS_KEY": "wrong-secret"})
    assert_error(result, BACKUP_COPY_FAILED, "BACKUP_COPY_FAILED")
    assert "wrong-secret" not in result.output
    backup_id = backup_id_of(result)
    assert server.keys(prefix) == []
    assert listing(tools)[backup_id]["location"] == "primary"
    # Fixed: --copy puts it there.
    fixed = tools.backup("--copy", backup_id)
    assert fixed.returncode == 0, fixed.output
    assert listing(tools)[backup_id]["location"] == "both"
    missing = tools.backup("--copy", "neo4j-19990101-000000")
    assert_error(missing, BACKUP_NOT_FOUND, "BACKUP_NOT_FOUND")


def test_scheduler_copies_each_backup_and_catches_up(backup_bin, sched_server, tmp_path):
    storage = tmp_path / "store"
    offsite = tmp_path / "offsite"
    # A backup from before the second location was configured: the scheduler's first copy catches up.
    before = create_backup_at(backup_bin, tool_env(sched_server, storage), "2025-12-20T03:00:00Z")
    # Retention 0 days here (each cleanup keeps only the newest), 10 years in the copy (keeps them all).
    env = tool_env(sched_server, storage, BACKUP_SCHEDULE="*/2 * * * * *", BACKUP_RETENTION_DAYS=0,
                   BACKUP_COPY_PATH=offsite, BACKUP_COPY_RETENTION_DAYS=3650)
    with Scheduler(backup_bin, env, tmp_path) as scheduler:
        scheduler.wait_for(EVENT + r"CLEANUP_SUCCESS: Deleted \d+ backups? \(", count=2)
        assert scheduler.stop() == 0, scheduler.report()
    succeeded = re.findall(EVENT + rf"BACKUP_SUCCESS: ({BACKUP_ID}) ", scheduler.stdout, re.M)
    assert len(succeeded) >= 2, scheduler.report()
    assert backup_dirs(storage) == [succeeded[-1]]
    copied = backup_dirs(offsite)
    assert before in copied and set(succeeded) <= set(copied), (copied, scheduler.report())
    for backup_id in copied:
        manifest = read_manifest(offsite / backup_id)
        assert sha256_file(offsite / backup_id / manifest["archive"]["file"]) == manifest["archive"]["sha256"]
    assert leftovers(offsite) == []


def test_api_create_copies_and_lists_locations(backup_bin, sched_server, neo4j_target, tmp_path):
    from test_api import ApiProcess, create_through_api
    from test_api import tool_env as api_env

    offsite = tmp_path / "offsite"
    env = api_env(sched_server, neo4j_target, tmp_path / "store", BACKUP_COPY_PATH=offsite)
    api = ApiProcess(backup_bin, env, tmp_path, token="copy-test-token-0123456789abcdef")
    try:
        backup_id = create_through_api(api)
        assert backup_dirs(offsite) == [backup_id], api.log()
        listed, _ = api.json("GET", "/api/v1/backups")
        entry = {item["id"]: item for item in listed["backups"]}[backup_id]
        assert entry["location"] == "both"
        assert entry["copies"]["copy"] == {"present": True, "valid": True, "status": "COMPLETE"}
    finally:
        api.stop()


def test_restore_when_the_primary_directory_is_gone(backup_bin, restore_bin, tmp_path, sample_graph, neo4j_target):
    tools = local_tools(backup_bin, restore_bin, tmp_path, sample_graph, neo4j_target,
                        BACKUP_STATE_DIR=str(tmp_path / "state"))
    backup_id = tools.create()
    shutil.rmtree(tmp_path / "primary")  # the disk holding the primary is lost
    restored = tools.restore("--backup-id", backup_id, "--load", "bolt")
    assert restored.returncode == 0, restored.output
    assert sum("BACKUP_STORAGE_PATH cannot be opened" in line and "restoring from the copy in" in line
               for line in restored.lines()) == 1, restored.output
    assert graph_snapshot(neo4j_target) == graph_snapshot(sample_graph)
    # Without a copy of that id, the restore fails as it always did.
    missing = tools.restore("--backup-id", "neo4j-19990101-000000", "--load", "bolt")
    assert missing.returncode != 0, missing.output


def test_both_locations_on_s3_share_the_settings(s3_server, backup_bin, restore_bin, tmp_path, sample_graph,
                                                  neo4j_target):
    primary, offsite = f"prim-{uuid.uuid4().hex[:10]}", f"off-{uuid.uuid4().hex[:10]}"
    env = {**s3_server.environment(primary), "HOME": str(tmp_path), "BACKUP_STATE_DIR": str(tmp_path / "state"),
           "BACKUP_COPY_PATH": f"s3://{s3_server.bucket}/{offsite}"}
    tools = Tools(backup_bin, restore_bin, f"s3://{s3_server.bucket}/{primary}", production=sample_graph,
                  target=neo4j_target, extra=env)
    backup_id = tools.create()
    for prefix in (primary, offsite):
        manifest = json.loads(s3_server.get(f"{prefix}/{backup_id}/manifest.json"))
        archive = s3_server.get(f"{prefix}/{backup_id}/{ARCHIVE}")
        assert hashlib.sha256(archive).hexdigest() == manifest["archive"]["sha256"]
    assert listing(tools)[backup_id]["location"] == "both"
    # The primary's archive object is overwritten with other bytes of the same size.
    archive_key = f"{primary}/{backup_id}/{ARCHIVE}"
    damaged = bytearray(s3_server.get(archive_key))
    damaged[100] ^= 0xFF
    s3_server.client.put_object(Bucket=s3_server.bucket, Key=archive_key, Body=bytes(damaged))
    restored = tools.restore("--backup-id", backup_id, "--load", "bolt")
    assert restored.returncode == 0, restored.output
    assert sum("restoring from the copy in s3://" in line for line in restored.lines()) == 1, restored.output
    assert graph_snapshot(neo4j_target) == graph_snapshot(sample_graph)
    deleted = tools.backup("--delete", backup_id, "--force")
    assert deleted.returncode == 0, deleted.output
    assert s3_server.keys(primary) == [] and s3_server.keys(offsite) == []


def test_encrypted_backups_copy_with_their_passphrase_record(backup_bin, restore_bin, tmp_path, sample_graph,
                                                               neo4j_target):
    """A passphrase's key record (nbk-key-record) is copied with the backups, so
    the second location alone gives the key back; a record there for another
    key fails the copy instead of mixing keys."""
    passphrase = {"BACKUP_ENCRYPTION_PASSPHRASE": f"copy horse {uuid.uuid4().hex}",
                  "BACKUP_ENCRYPTION_ARGON2_MEMORY_MIB": "8", "BACKUP_ENCRYPTION_ARGON2_PASSES": "1"}
    tools = local_tools(backup_bin, restore_bin, tmp_path, sample_graph, neo4j_target,
                        BACKUP_STATE_DIR=str(tmp_path / "state"), **passphrase)
    backup_id = tools.create()
    record = (tmp_path / "primary" / "nbk-key-record").read_bytes()
    assert (tmp_path / "offsite" / "nbk-key-record").read_bytes() == record
    shutil.rmtree(tmp_path / "primary")  # only the copy is left
    restored = tools.restore("--backup-id", backup_id, "--load", "bolt")
    assert restored.returncode == 0, restored.output
    assert sum("restoring from the copy in" in line for line in restored.lines()) == 1, restored.output
    assert graph_snapshot(neo4j_target) == graph_snapshot(sample_graph)

    # Another repository's record in the second location: the copy is refused.
    other = local_tools(backup_bin, restore_bin, tmp_path / "other", sample_graph, neo4j_target,
                        BACKUP_STATE_DIR=str(tmp_path / "other-state"), **passphrase)
    other.extra["BACKUP_COPY_PATH"] = str(tmp_path / "offsite")
    refused = other.backup("--create")
    assert refused.returncode == BACKUP_COPY_FAILED, refused.output
    assert "key record" in refused.output, refused.output
    assert (tmp_path / "offsite" / "nbk-key-record").read_bytes() == record


def test_check_probes_the_copy_location(s3_copy, sample_graph):
    tools, server, prefix = s3_copy
    checked = tools.backup("--check")
    assert checked.returncode == 0, checked.output
    assert f"Copy location: s3://{server.bucket}/{prefix}: listed (0 backups), wrote, read back and removed" \
        in checked.stdout, checked.output
    assert server.keys(prefix) == []
    if server.kind == "s3proxy":  # moto checks no signatures
        refused = tools.backup("--check", env={"AWS_SECRET_ACCESS_KEY": "wrong-secret"})
        assert_error(refused, 30, "STORAGE_AUTH_FAILED")
        assert "Preflight failed: copy location" in refused.stderr, refused.output


def test_scheduler_alerts_a_failed_copy_and_keeps_the_backup(backup_bin, sched_server, tmp_path):
    from smtp_sink import SmtpSink
    from test_scheduler import mail_body, wait_for_mail

    storage = tmp_path / "store"
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the copy location should be\n")
    with SmtpSink(tmp_path / "mail") as sink:
        env = tool_env(sched_server, storage, BACKUP_SCHEDULE="*/2 * * * * *", BACKUP_COPY_PATH=blocked,
                       BACKUP_ALERT_EMAIL="ops@example.com", BACKUP_SMTP_URL=f"smtp://127.0.0.1:{sink.port}")
        with Scheduler(backup_bin, env, tmp_path) as scheduler:
            scheduler.wait_for(EVENT + rf"BACKUP_SUCCESS: {BACKUP_ID} ")
            mail = wait_for_mail(sink, lambda m: m["X-Neo4j-Backup-Code"] == "BACKUP_COPY_FAILED")
            assert scheduler.stop() == 0, scheduler.report()
    succeeded = re.findall(EVENT + rf"BACKUP_SUCCESS: ({BACKUP_ID}) ", scheduler.stdout, re.M)
    assert succeeded and set(succeeded) <= set(backup_dirs(storage)), scheduler.report()
    assert "ERROR: Code: BACKUP_COPY_FAILED" in scheduler.stderr, scheduler.report()
    assert "neo4j-backup --copy" in mail_body(mail)
    assert "BACKUP_FAILED" not in scheduler.stdout  # the backups themselves succeeded
