"""The storage drivers end to end: tests/tools/storage_probe drives the S3
driver against two real S3 implementations on loopback (S3Proxy and moto's
server, started once per session by tools/s3-local) and the posix driver
against a directory; boto3, an independent client, checks every object.

Servers are named <NBK_E2E_SERVER_PREFIX>-s3proxy / -moto and kept running
with NBK_KEEP_SERVERS=1, like the Neo4j servers of conftest.py."""

import hashlib
import os
import socket
import subprocess
import time
import uuid

import pytest

from neo4j_servers import REPO_ROOT

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402  (after the importorskip)
from botocore.exceptions import ClientError  # noqa: E402

SERVER_PREFIX = os.environ.get("NBK_E2E_SERVER_PREFIX") or "e2e"
S3_LOCAL = REPO_ROOT / "tools" / "s3-local"
PART_SIZE = 5 * 1024 * 1024  # S3's smallest part, so modest files go multipart

# Exit statuses of src/common/error.def.
BACKUP_NOT_FOUND = 12
BACKUP_LOCKED = 19
BACKUP_IO_FAILED = 20
CONFIG_INVALID = 21
STORAGE_AUTH_FAILED = 30
STORAGE_UNREACHABLE = 31


class S3Server:
    def __init__(self, kind, name, access):
        self.kind = kind
        self.name = name
        self.endpoint = access["endpoint"]
        self.bucket = access["bucket"]
        self.access_key = access["access_key"]
        self.secret_key = access["secret_key"]
        self.client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                                   aws_secret_access_key=self.secret_key, region_name="us-east-1",
                                   config=Config(s3={"addressing_style": "path"}))

    def get(self, key):
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key):
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def uploads(self, prefix):
        answer = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return answer.get("Uploads", [])


@pytest.fixture(scope="session", params=["s3proxy", "moto"])
def s3_server(request):
    kind = request.param
    name = f"{SERVER_PREFIX}-{kind}"
    started = subprocess.run([str(S3_LOCAL), "start", name, "--kind", kind], capture_output=True, text=True,
                             timeout=600)
    if started.returncode != 0:
        pytest.fail(f"tools/s3-local start {name} failed: {started.stderr}")
    access = dict(line.split("=", 1) for line in started.stdout.split())
    yield S3Server(kind, name, access)
    if os.environ.get("NBK_KEEP_SERVERS", "0") != "1":
        subprocess.run([str(S3_LOCAL), "stop", name], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def probe_bin(build_dir):
    path = build_dir / "storage_probe"
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built")
    return path


@pytest.fixture
def probe(s3_server, probe_bin, tmp_path):
    """Runs storage_probe on s3://bucket/<fresh prefix>; returns (run, prefix)."""
    prefix = f"e2e-{uuid.uuid4().hex[:12]}"

    def environment(**overrides):
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(HOME=str(tmp_path), AWS_ACCESS_KEY_ID=s3_server.access_key,
                   AWS_SECRET_ACCESS_KEY=s3_server.secret_key, AWS_ENDPOINT_URL=s3_server.endpoint,
                   AWS_REGION="us-east-1", NBK_S3_URI_STYLE="path", NBK_S3_PART_SIZE=str(PART_SIZE),
                   NBK_S3_ATTEMPTS="3", NBK_S3_RETRY_BASE_MS="20")
        env.update(overrides)
        return env

    def run(*args, data=b"", location=None, env=None, timeout=300):
        return subprocess.run([str(probe_bin), location or f"s3://{s3_server.bucket}/{prefix}", *args],
                              input=data, capture_output=True, timeout=timeout, env=environment(**(env or {})))

    run.environment = environment
    run.probe_bin = probe_bin
    return run, prefix


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_put_get_list_stat_remove(s3_server, probe):
    run, prefix = probe
    data = b"neo4j backup \x00\xff bytes\n" * 100
    put = run("put", "b1/manifest.json", data=data)
    assert put.returncode == 0, put.stderr
    assert f"sha256 {sha256(data)}".encode() in put.stdout
    key = f"{prefix}/b1/manifest.json"
    assert s3_server.get(key) == data  # the independent client sees the same bytes

    got = run("get", "b1/manifest.json")
    assert got.returncode == 0 and got.stdout == data
    ranged = run("get", "b1/manifest.json", "7", "6")
    assert ranged.stdout == data[7:13]

    assert run("put", "b2/archive.nbk", data=b"x" * 10).returncode == 0
    listed = run("list")
    assert listed.returncode == 0, listed.stderr
    rows = sorted(line.split("\t")[:2] for line in listed.stdout.decode().splitlines())
    assert rows == [["b1/manifest.json", str(len(data))], ["b2/archive.nbk", "10"]]
    assert run("list", "b2").stdout.decode().startswith("b2/archive.nbk\t10\t")

    stat = run("stat", "b1/manifest.json")
    assert f"size {len(data)}".encode() in stat.stdout
    assert s3_server.client.head_object(Bucket=s3_server.bucket, Key=key)["ContentLength"] == len(data)

    assert run("rm", "b1/manifest.json").returncode == 0
    assert not s3_server.exists(key)
    assert run("rmdir", "b2").returncode == 0
    assert not s3_server.exists(f"{prefix}/b2/archive.nbk")
    assert run("list").stdout == b""


def test_streamed_multipart_upload_of_50_mib(s3_server, probe):
    run, prefix = probe
    data = os.urandom(50 * 1024 * 1024)
    put = run("put", "big/archive.nbk", data=data)
    assert put.returncode == 0, put.stderr
    assert f"sha256 {sha256(data)}".encode() in put.stdout
    key = f"{prefix}/big/archive.nbk"
    head = s3_server.client.head_object(Bucket=s3_server.bucket, Key=key)
    assert head["ContentLength"] == len(data)
    # A multipart object's ETag ends in -<parts>: 50 MiB in 5 MiB parts is 10.
    assert head["ETag"].strip('"').endswith("-10")
    assert sha256(s3_server.get(key)) == sha256(data)
    assert s3_server.uploads(prefix) == []  # completed, nothing pending
    got = run("get", "big/archive.nbk")
    assert got.returncode == 0 and sha256(got.stdout) == sha256(data)
    tail = run("get", "big/archive.nbk", str(len(data) - 1000), "5000")
    assert tail.stdout == data[-1000:]


def test_aborted_write_leaves_no_object_and_no_upload(s3_server, probe):
    run, prefix = probe
    # Large enough for the multipart upload to have begun before the abort.
    aborted = run("put-abort", "partial/archive.nbk", data=os.urandom(3 * PART_SIZE))
    assert aborted.returncode == 0, aborted.stderr
    assert not s3_server.exists(f"{prefix}/partial/archive.nbk")
    assert s3_server.uploads(prefix) == []
    small = run("put-abort", "partial/small", data=b"tiny")
    assert small.returncode == 0 and not s3_server.exists(f"{prefix}/partial/small")


def test_no_replace_refuses_an_existing_object(s3_server, probe):
    run, prefix = probe
    assert run("put", "once", data=b"first").returncode == 0
    again = run("put", "once", "--no-replace", data=b"second")
    assert again.returncode == BACKUP_IO_FAILED
    assert b"already exists" in again.stderr
    assert s3_server.get(f"{prefix}/once") == b"first"


def test_missing_object_and_bucket(s3_server, probe):
    run, prefix = probe
    missing = run("get", "nothing/here")
    assert missing.returncode == BACKUP_NOT_FOUND, missing.stderr
    assert b"BACKUP_NOT_FOUND" in missing.stderr
    no_bucket = run("list", location=f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x")
    assert no_bucket.returncode == CONFIG_INVALID, no_bucket.stderr


def test_second_lock_fails_while_the_first_is_held(s3_server, probe):
    run, prefix = probe
    first = subprocess.Popen([str(run.probe_bin), f"s3://{s3_server.bucket}/{prefix}", "lock", "locks/repo", "600"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=run.environment())
    try:
        assert first.stdout.readline() == b"locked\n"
        key = f"{prefix}/locks/repo"
        record = s3_server.get(key).decode()
        assert "owner=storage_probe lock" in record and f"pid={first.pid}" in record
        second = run("lock", "locks/repo", "600", timeout=60)
        assert second.returncode == BACKUP_LOCKED, second.stderr
        assert f"held by pid {first.pid}".encode() in second.stderr
        first.stdin.write(b"refresh\n")
        first.stdin.flush()
        assert first.stdout.readline() == b"refreshed\n"
    finally:
        first.stdin.close()
        first.wait(timeout=60)
    assert first.returncode == 0, first.stderr.read()
    assert not s3_server.exists(f"{prefix}/locks/repo")  # released
    assert run("lock", "locks/repo", "600").returncode == 0


def test_a_held_lock_is_kept_alive_without_asking(s3_server, probe):
    """An expiring lock is refreshed by its keeper thread at a third of its
    time-to-live: a long backup never loses its lock by expiry, and others
    see it held until it is released."""
    run, prefix = probe
    key = f"{prefix}/locks/keep"
    holder = subprocess.Popen([str(run.probe_bin), f"s3://{s3_server.bucket}/{prefix}", "lock", "locks/keep", "3"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=run.environment())
    try:
        assert holder.stdout.readline() == b"locked\n"

        def expires():
            record = s3_server.get(key).decode()
            return int(next(line for line in record.splitlines() if line.startswith("expires="))[8:])

        first = expires()
        deadline = time.monotonic() + 30
        while expires() <= first:
            assert time.monotonic() < deadline, "the keeper never refreshed the lock"
            time.sleep(0.2)
        assert run("held", "locks/keep").stdout == b"held 1\n"
        # Past the first expiry the lock is still held, never taken over.
        while time.time() <= first + 1:
            time.sleep(0.2)
        assert run("lock", "locks/keep", "3").returncode == BACKUP_LOCKED
        holder.stdin.write(b"status\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == b"lost 0\n"
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert holder.returncode == 0, holder.stderr.read()
    assert run("held", "locks/keep").stdout == b"held 0\n"
    # An expired record is not held either.
    stale = f"owner=crashed\nhost=elsewhere\npid=1\nexpires={int(time.time()) - 60}\n"
    s3_server.client.put_object(Bucket=s3_server.bucket, Key=key, Body=stale.encode())
    assert run("held", "locks/keep").stdout == b"held 0\n"


def test_info_tells_objects_from_prefixes(s3_server, probe):
    run, prefix = probe
    assert run("put", "b1/archive.nbk", data=b"12345").returncode == 0
    assert run("info", "b1/archive.nbk").stdout == b"kind file\nsize 5\n"
    assert run("info", "b1").stdout == b"kind dir\nsize 0\n"
    assert run("info", "b2").returncode == BACKUP_NOT_FOUND


def test_expired_lock_is_taken_over(s3_server, probe):
    run, prefix = probe
    stale = f"owner=crashed\nhost=elsewhere\npid=1\nexpires={int(time.time()) - 60}\n"
    s3_server.client.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/locks/repo", Body=stale.encode())
    taken = run("lock", "locks/repo", "600")
    assert taken.returncode == 0, taken.stderr
    assert b"expired lock" in taken.stderr


def test_a_holder_that_lost_its_lock_neither_refreshes_nor_removes_it(s3_server, probe):
    run, prefix = probe
    key = f"{prefix}/locks/repo"
    first = subprocess.Popen([str(run.probe_bin), f"s3://{s3_server.bucket}/{prefix}", "lock", "locks/repo", "600"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=run.environment())
    try:
        assert first.stdout.readline() == b"locked\n"
        # Another process takes the lock over (as after an expiry).
        takeover = b"owner=other\nhost=elsewhere\npid=7\nexpires=9999999999\n"
        s3_server.client.put_object(Bucket=s3_server.bucket, Key=key, Body=takeover)
        first.stdin.write(b"refresh\n")
        first.stdin.flush()
        assert first.stdout.readline() == b""  # no "refreshed": the probe gave up the lock
    finally:
        first.stdin.close()
        first.wait(timeout=60)
    stderr = first.stderr.read()
    assert first.returncode == BACKUP_LOCKED, stderr
    assert b"lost the lock" in stderr
    assert s3_server.get(key) == takeover  # the new holder's lock is left alone


def test_wrong_secret_fails_promptly_without_retries(s3_server, probe):
    if s3_server.kind == "moto":
        pytest.skip("moto accepts any credentials")
    run, prefix = probe
    started = time.monotonic()
    refused = run("list", env={"AWS_SECRET_ACCESS_KEY": "wrong-" + s3_server.secret_key, "NBK_S3_ATTEMPTS": "6",
                               "NBK_S3_RETRY_BASE_MS": "3000", "NBK_PROBE_VERBOSE": "1"})
    elapsed = time.monotonic() - started
    assert refused.returncode == STORAGE_AUTH_FAILED, refused.stderr
    assert b"STORAGE_AUTH_FAILED" in refused.stderr
    assert b"retry" not in refused.stderr
    assert elapsed < 10
    assert s3_server.secret_key.encode() not in refused.stderr + refused.stdout
    put = run("put", "x", data=b"data", env={"AWS_SECRET_ACCESS_KEY": "wrong"})
    assert put.returncode == STORAGE_AUTH_FAILED
    assert not s3_server.exists(f"{prefix}/x")


def test_unreachable_endpoint(probe, s3_server):
    run, prefix = probe
    # A port nobody listens on: refused at once, retried, then STORAGE_UNREACHABLE.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = run("stat", "x", env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "NBK_S3_ATTEMPTS": "2",
                                         "NBK_PROBE_VERBOSE": "1"})
    assert unreachable.returncode == STORAGE_UNREACHABLE, unreachable.stderr
    assert b"retry 1 of 1" in unreachable.stderr


def test_leftover_uploads_are_aborted(s3_server, probe):
    run, prefix = probe
    key = f"{prefix}/crashed/archive.nbk"
    s3_server.client.create_multipart_upload(Bucket=s3_server.bucket, Key=key)
    assert len(s3_server.uploads(prefix)) == 1
    aborted = run("abort-uploads")
    assert aborted.returncode == 0, aborted.stderr
    assert aborted.stdout == b"aborted 1\n"
    assert s3_server.uploads(prefix) == []



def test_posix_driver_through_the_same_probe(probe_bin, tmp_path):
    """The same calls on a directory: the seam hides which driver serves them."""
    repository = tmp_path / "repo"

    def run(*args, data=b""):
        return subprocess.run([str(probe_bin), str(repository), *args], input=data, capture_output=True,
                              timeout=120)

    data = os.urandom(3 * 1024 * 1024 + 17)
    put = run("put", "b1/archive.nbk", data=data)
    assert put.returncode == 0, put.stderr
    assert (repository / "b1" / "archive.nbk").read_bytes() == data
    assert run("get", "b1/archive.nbk", "5", "10").stdout == data[5:15]
    assert run("put-abort", "b1/partial", data=b"abc").returncode == 0
    assert sorted(path.name for path in (repository / "b1").iterdir()) == ["archive.nbk"]
    assert run("list").stdout.decode().startswith(f"b1/archive.nbk\t{len(data)}\t")
    assert run("put", "b1/archive.nbk", "--no-replace", data=b"x").returncode == BACKUP_IO_FAILED
    assert run("get", "missing").returncode == BACKUP_NOT_FOUND
    assert b"applicable 1" in run("space").stdout
