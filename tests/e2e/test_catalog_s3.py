"""The catalog's in-place layout on real S3 implementations (S3Proxy and moto's
server, the servers of test_storage_s3.py): tests/tools/catalog_probe writes,
lists, deletes and cleans up backups on s3://bucket/<fresh prefix>, and boto3,
an independent client, checks the objects: a backup being written is not
listed until its manifest exists, a crashed writer's files and multipart
upload are removed once its lock has expired, a writer that lost its lock
writes no manifest, and a delete waits for nobody but refuses a backup in use."""

import os
import subprocess
import uuid

import pytest

from test_storage_s3 import PART_SIZE, boto3  # noqa: F401  (s3_server: conftest.py)

BACKUP_NOT_FOUND = 12
BACKUP_LOCKED = 19
BACKUP_IO_FAILED = 20
BACKUP_ID = "neo4j-20251227-020000"


@pytest.fixture(scope="session")
def catalog_probe_bin(build_dir):
    path = build_dir / "catalog_probe"
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built")
    return path


@pytest.fixture
def catalog(s3_server, catalog_probe_bin, tmp_path):
    """Runs catalog_probe on s3://bucket/<fresh prefix>; returns (run, start, prefix)."""
    prefix = f"e2e-cat-{uuid.uuid4().hex[:12]}"
    location = f"s3://{s3_server.bucket}/{prefix}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_ACCESS_KEY_ID=s3_server.access_key,
               AWS_SECRET_ACCESS_KEY=s3_server.secret_key, AWS_ENDPOINT_URL=s3_server.endpoint,
               AWS_REGION="us-east-1", NBK_S3_URI_STYLE="path", NBK_S3_PART_SIZE=str(PART_SIZE),
               NBK_S3_ATTEMPTS="3", NBK_S3_RETRY_BASE_MS="20")

    def run(*args, timeout=120):
        return subprocess.run([str(catalog_probe_bin), location, *args], capture_output=True, text=True,
                              timeout=timeout, env=env)

    def start(*args):
        return subprocess.Popen([str(catalog_probe_bin), location, *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    return run, start, prefix


def keys(s3_server, prefix):
    answer = s3_server.client.list_objects_v2(Bucket=s3_server.bucket, Prefix=prefix + "/")
    return sorted(item["Key"][len(prefix) + 1:] for item in answer.get("Contents", []))


def listed(run):
    result = run("list")
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines()]


def expire_lock(s3_server, prefix, backup_id):
    """What a lock looks like once its holder stopped refreshing it."""
    record = "owner=creating backup\nhost=elsewhere\npid=1\nexpires=1000\n"
    s3_server.client.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/{backup_id}/.lock", Body=record.encode())


def test_a_backup_appears_with_its_manifest(s3_server, catalog):
    run, start, prefix = catalog
    writer = start("create", BACKUP_ID, "--pause")
    try:
        assert writer.stdout.readline() == "written\n"
        assert keys(s3_server, prefix) == [f"{BACKUP_ID}/.lock", f"{BACKUP_ID}/graph.nbk"]
        assert listed(run) == []
        assert run("find", BACKUP_ID).returncode == BACKUP_NOT_FOUND
        assert run("delete", BACKUP_ID).returncode == BACKUP_NOT_FOUND
        cleaned = run("clean")
        assert cleaned.returncode == 0 and cleaned.stdout == ""  # its writer holds the lock
        writer.stdin.write("go\n")
        writer.stdin.flush()
        assert writer.stdout.readline() == f"committed {BACKUP_ID}\n"
    finally:
        writer.stdin.close()
        writer.wait(timeout=60)
    assert writer.returncode == 0, writer.stderr.read()
    assert keys(s3_server, prefix) == [f"{BACKUP_ID}/graph.nbk", f"{BACKUP_ID}/manifest.json",
                                       f"{BACKUP_ID}/manifest.json.copy"]  # the lock released
    assert s3_server.get(f"{prefix}/{BACKUP_ID}/graph.nbk") == b"0123456789"
    assert listed(run) == [[BACKUP_ID, "COMPLETE", "10"]]
    assert run("find", BACKUP_ID).stdout == "status COMPLETE\n"


def test_a_crashed_writer_is_cleaned_up_once_its_lock_expired(s3_server, catalog):
    run, _, prefix = catalog
    crashed = run("create", BACKUP_ID, "--upload", "--crash")
    assert crashed.returncode == 0, crashed.stderr
    assert f"{BACKUP_ID}/.lock" in keys(s3_server, prefix)
    assert len(s3_server.uploads(f"{prefix}/{BACKUP_ID}/")) == 1
    assert listed(run) == []
    # The lock is still within its time-to-live: its writer might be alive.
    assert run("clean", "--dry-run").stdout == ""
    expire_lock(s3_server, prefix, BACKUP_ID)
    dry = run("clean", "--dry-run")
    assert dry.returncode == 0 and dry.stdout == f"removed {BACKUP_ID}\n"
    assert f"{BACKUP_ID}/graph.nbk" in keys(s3_server, prefix)  # a dry run changes nothing
    assert len(s3_server.uploads(f"{prefix}/{BACKUP_ID}/")) == 1
    cleaned = run("clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout == f"removed {BACKUP_ID}\n"
    assert keys(s3_server, prefix) == []
    assert s3_server.uploads(f"{prefix}/{BACKUP_ID}/") == []
    assert run("create", BACKUP_ID).returncode == 0  # the id is free again


def test_a_writer_that_lost_its_lock_writes_no_manifest(s3_server, catalog):
    run, start, prefix = catalog
    writer = start("create", BACKUP_ID, "--pause")
    try:
        assert writer.stdout.readline() == "written\n"
        # Another process takes the lock over (as after an expiry): new ETag.
        expire_lock(s3_server, prefix, BACKUP_ID)
        writer.stdin.write("go\n")
        writer.stdin.flush()
    finally:
        writer.stdin.close()
        writer.wait(timeout=60)
    assert writer.returncode == BACKUP_IO_FAILED
    assert "lost the lock" in writer.stderr.read()
    assert not s3_server.exists(f"{prefix}/{BACKUP_ID}/manifest.json")
    assert listed(run) == []


def test_delete_refuses_a_backup_in_use_then_removes_it(s3_server, catalog):
    run, start, prefix = catalog
    kept_id = "neo4j-20251226-020000"
    assert run("create", kept_id).returncode == 0
    assert run("create", BACKUP_ID).returncode == 0
    reader = start("lock", BACKUP_ID)
    try:
        assert reader.stdout.readline() == "locked\n"
        refused = run("delete", BACKUP_ID)
        assert refused.returncode == BACKUP_LOCKED, refused.stderr
        assert s3_server.exists(f"{prefix}/{BACKUP_ID}/manifest.json")
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)
    deleted = run("delete", BACKUP_ID)
    assert deleted.returncode == 0, deleted.stderr
    assert [key for key in keys(s3_server, prefix) if key.startswith(BACKUP_ID + "/")] == []
    assert listed(run) == [[kept_id, "COMPLETE", "10"]]
    assert run("delete", BACKUP_ID).returncode == BACKUP_NOT_FOUND
