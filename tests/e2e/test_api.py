"""End-to-end tests of `neo4j-backup --serve`: the HTTP API, /metrics and the
status page, against real Neo4j servers, real HTTP clients, promtool and
headless Chromium.

Servers: the backups are taken from this module's own server (`<prefix>-api`,
a generated graph big enough that a backup takes a noticeable moment, loaded
once and kept) and restored into conftest's `neo4j_target`; e2e-main is not
touched. Every test uses this module's storage path (a tmp dir).

One `neo4j-backup --serve` process serves most tests (a module fixture);
tests that need other settings (no token, TLS, the scheduler beside the
server) start their own. Nothing waits on a timer: every wait polls with a
deadline and fails with the server's log.
"""

import calendar
import fcntl
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from helpers import Tools, count_graph, free_port, load_bulk
from neo4j_servers import Neo4jServer, make_tls_dir

API_SERVER = f"{os.environ.get('NBK_E2E_SERVER_PREFIX') or 'e2e'}-api"
# Large enough that a backup runs for a while (the load test needs that),
# small enough to load in seconds.
GRAPH_NODES = 30000
GRAPH_RELATIONSHIPS = 30000
EXIT_USAGE = 2
EXIT_CONFIG_INVALID = 21
FOREIGN_PREFIXES = ("BACKUP_", "NEO4J_", "TEST_NEO4J_", "NBK_", "PROMOTE_")


# ---- helpers -----------------------------------------------------------------------


class ApiProcess:
    """A running `neo4j-backup --serve ...` with its output in files, and an
    HTTP client for it."""

    _count = 0

    def __init__(self, backup_bin: Path, env: Dict[str, str], log_dir: Path, args=("--serve",),
                 port: Optional[int] = None, token: Optional[str] = None, tls_ca: Optional[Path] = None):
        ApiProcess._count += 1
        self.port = port or free_port()
        self.token = token
        self.tls_ca = tls_ca
        env = dict(env, BACKUP_API_LISTEN=f"127.0.0.1:{self.port}")
        if token:
            env["BACKUP_API_TOKEN"] = token
        stem = log_dir / f"serve-{ApiProcess._count}"
        self.out_path = stem.with_suffix(".out")
        self.err_path = stem.with_suffix(".err")
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.process = subprocess.Popen([str(backup_bin), *args], env=env, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=err)
        self.wait_ready()

    def log(self) -> str:
        return (f"--- serve stdout\n{self.out_path.read_text(errors='replace')}\n"
                f"--- serve stderr\n{self.err_path.read_text(errors='replace')}")

    def connection(self, timeout: float = 30, source: Optional[str] = None) -> http.client.HTTPConnection:
        """source: the client's own loopback address (127.0.0.x), so that
        many clients can be told apart by the per-client connection cap."""
        source_address = (source, 0) if source else None
        if self.tls_ca:
            context = ssl.create_default_context(cafile=str(self.tls_ca))
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=context,
                                               source_address=source_address)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=source_address)

    def request(self, method: str, path: str, body=None, token: Optional[str] = "default",
                headers: Optional[Dict[str, str]] = None,
                source: Optional[str] = None) -> Tuple[int, Dict[str, str], bytes]:
        """One request on a fresh connection: (status, headers, body)."""
        headers = dict(headers or {})
        token = self.token if token == "default" else token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        connection = self.connection(source=source)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def json(self, method: str, path: str, body=None, expect: int = 200, **kwargs):
        status, headers, data = self.request(method, path, body, **kwargs)
        assert status == expect, f"{method} {path}: {status} {data[:2000]!r}\n{self.log()}"
        assert headers["content-type"].startswith("application/json"), headers
        return json.loads(data), headers

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"--serve exited {self.process.returncode}\n{self.log()}")
            try:
                status, _, _ = self.request("GET", "/healthz", token=None)
                if status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise AssertionError(f"--serve did not answer /healthz in {timeout} s\n{self.log()}")

    def wait_job(self, location: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job, _ = self.json("GET", location)
            if job["state"] != "running":
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {location} still running after {timeout} s\n{self.log()}")

    def stop(self, expect: int = 0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"--serve did not stop on SIGTERM\n{self.log()}")
        assert status == expect, f"--serve exited {status}\n{self.log()}"


def error_of(data: bytes) -> dict:
    body = json.loads(data)
    assert set(body) == {"error"}, body
    return body["error"]


def tool_env(source: Neo4jServer, target: Neo4jServer, storage: Path, **settings) -> Dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(FOREIGN_PREFIXES)}
    env.update(BACKUP_STORAGE_PATH=str(storage), BACKUP_MIN_FREE_PERCENT="1", BACKUP_TYPE="full",
               NEO4J_URI=source.uri, NEO4J_USER=source.user, NEO4J_PASSWORD=source.password,
               TEST_NEO4J_URI=target.uri, TEST_NEO4J_USER=target.user, TEST_NEO4J_PASSWORD=target.password)
    env.update({key: str(value) for key, value in settings.items()})
    return env


def create_through_api(api: ApiProcess) -> str:
    job, headers = api.json("POST", "/api/v1/backups", expect=202)
    assert headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert job["kind"] == "create" and job["state"] == "running"
    done = api.wait_job(headers["location"])
    assert done["state"] == "succeeded", f"{done}\n{api.log()}"
    return done["backup_id"]


def metric_values(text: str) -> Dict[str, float]:
    """{'name{labels}': value} of a Prometheus text page."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


# ---- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_source():
    """This module's source server with GRAPH_NODES/GRAPH_RELATIONSHIPS,
    loaded once (the data survives between runs)."""
    server = Neo4jServer.start(API_SERVER)
    try:
        nodes, relationships, _ = count_graph(server)
        if (nodes, relationships) != (GRAPH_NODES, GRAPH_RELATIONSHIPS):
            load_bulk(server, GRAPH_NODES, GRAPH_RELATIONSHIPS)
        yield server
    finally:
        server.close()
        if os.environ.get("NBK_KEEP_SERVERS", "0") != "1":
            server.stop()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api")


@pytest.fixture(scope="module")
def storage(work) -> Path:
    return work / "backups"


@pytest.fixture(scope="module")
def token() -> str:
    return "api-test-" + secrets.token_hex(20)


@pytest.fixture(scope="module")
def env(api_source, neo4j_target, storage, work) -> Dict[str, str]:
    return tool_env(api_source, neo4j_target, storage, BACKUP_METRICS_FILE=work / "metrics.prom")


@pytest.fixture(scope="module")
def api(backup_bin, env, work, token):
    process = ApiProcess(backup_bin, env, work, token=token)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def tools(backup_bin, restore_bin, storage, api_source, neo4j_target) -> Tools:
    return Tools(backup_bin, restore_bin, storage, production=api_source, target=neo4j_target)


@pytest.fixture(scope="module")
def backup_id(api) -> str:
    """A backup made through the API, shared by the tests that only read it."""
    return create_through_api(api)


# ---- authentication and refusals ------------------------------------------------------------


def test_healthz_is_open_and_everything_else_needs_the_token(api):
    status, _, data = api.request("GET", "/healthz", token=None)
    assert status == 200 and json.loads(data) == {"status": "ok"}
    for path in ("/api/v1/backups", "/api/v1/jobs", "/api/v1/scheduler", "/metrics"):
        for token in (None, "wrong-token-0123456789", ""):
            status, headers, data = api.request("GET", path, token=token)
            assert status == 401, (path, token, data)
            assert headers["www-authenticate"].startswith("Bearer")
            assert error_of(data)["code"] == "API_UNAUTHORIZED"
    status, _, _ = api.request("POST", "/api/v1/backups", token="nope-nope-nope-nope")
    assert status == 401
    # Another scheme, or the token in a query string, is no bearer token.
    status, _, _ = api.request("GET", "/api/v1/backups", token=None,
                               headers={"Authorization": f"Basic {api.token}"})
    assert status == 401
    status, _, _ = api.request("GET", f"/api/v1/backups?token={api.token}", token=None)
    assert status == 401
    # The status page answers with its sign-in form.
    status, headers, data = api.request("GET", "/", token=None)
    assert status == 401 and headers["content-type"].startswith("text/html")
    assert b'name="token"' in data and b"<script" not in data


def test_refuses_to_start_without_a_token_or_off_loopback(backup_bin, env, work):
    def run(*args, **settings):
        completed = subprocess.run([str(backup_bin), *args], env={**env, **settings}, capture_output=True,
                                   text=True, timeout=30, stdin=subprocess.DEVNULL)
        return completed.returncode, completed.stdout + completed.stderr

    port = free_port()
    status, output = run("--serve", BACKUP_API_LISTEN=f"127.0.0.1:{port}")
    assert status == EXIT_CONFIG_INVALID and "BACKUP_API_TOKEN" in output and "--no-auth" in output, output
    status, output = run("--serve", "--no-auth", BACKUP_API_LISTEN=f"0.0.0.0:{port}")
    assert status == EXIT_CONFIG_INVALID and "loopback" in output, output
    short = "short-token"
    status, output = run("--serve", BACKUP_API_LISTEN=f"127.0.0.1:{port}", BACKUP_API_TOKEN=short)
    assert status == EXIT_CONFIG_INVALID and "too short" in output and short not in output, output
    status, output = run("--serve", BACKUP_API_LISTEN="127.0.0.1", BACKUP_API_TOKEN="x" * 32)
    assert status == EXIT_CONFIG_INVALID and "BACKUP_API_LISTEN" in output, output
    status, output = run("--list", "--no-auth")
    assert status == EXIT_USAGE and "--no-auth goes with --serve" in output, output
    # Half a TLS configuration is refused too.
    status, output = run("--serve", BACKUP_API_LISTEN=f"127.0.0.1:{port}", BACKUP_API_TOKEN="x" * 32,
                         BACKUP_API_TLS_CERT=str(work / "missing.pem"))
    assert status == EXIT_CONFIG_INVALID and "BACKUP_API_TLS_KEY" in output, output


# ---- backups: create, show, list, validate, restore, delete -----------------------------------


def test_create_through_the_api_shows_in_the_cli_listing(api, tools, backup_id):
    listing = tools.backup("--list", "--json")
    assert listing.returncode == 0, listing.output
    cli = json.loads(listing.stdout)
    assert backup_id in [item["id"] for item in cli["backups"]]
    assert f"{backup_id}\n" in tools.backup("--list").stdout
    # The API's listing is --list --json's document.
    listed, _ = api.json("GET", "/api/v1/backups")
    assert listed == cli
    shown, _ = api.json("GET", f"/api/v1/backups/{backup_id}")
    assert shown == next(item for item in cli["backups"] if item["id"] == backup_id)
    assert shown["status"] == "COMPLETE"
    assert (shown["stats"]["nodes"], shown["stats"]["relationships"]) == (GRAPH_NODES, GRAPH_RELATIONSHIPS)


def test_validate_job_records_the_verdict(api, backup_id):
    job, headers = api.json("POST", f"/api/v1/backups/{backup_id}/validate", expect=202)
    assert job["kind"] == "validate" and job["backup_id"] == backup_id
    done = api.wait_job(headers["location"])
    assert done["state"] == "succeeded", done
    shown, _ = api.json("GET", f"/api/v1/backups/{backup_id}")
    assert shown["status"] == "COMPLETE, VALIDATED"


def test_restore_into_the_test_instance(api, backup_id, api_source, neo4j_target):
    neo4j_target.run("CREATE (:Leftover {note: 'replaced by the restore'})")
    job, headers = api.json("POST", f"/api/v1/backups/{backup_id}/restore", {"target": "test-neo4j"}, expect=202)
    assert job["kind"] == "restore" and job["target"] == "test-neo4j" and job["promote"] is False
    done = api.wait_job(headers["location"], timeout=600)
    assert done["state"] == "succeeded", f"{done}\n{api.log()}"
    assert count_graph(neo4j_target)[:2] == (GRAPH_NODES, GRAPH_RELATIONSHIPS)
    assert neo4j_target.run("MATCH (n:Leftover) RETURN count(n) AS c")[0]["c"] == 0
    recovery, _ = api.json("GET", "/api/v1/recovery")
    assert recovery["state"] == "RECOVERY_SUCCESS" and recovery["backup_id"] == backup_id
    assert recovery["target"] == "test-neo4j" and recovery["promoted"] is False
    assert recovery["interrupted"] is False


def test_promotion_needs_the_backup_id_as_confirmation(api, backup_id):
    for body in ({"promote": True}, {"promote": True, "confirm": "yes"},
                 {"promote": True, "confirm": backup_id, "validate": False}):
        status, _, data = api.request("POST", f"/api/v1/backups/{backup_id}/restore", body)
        assert status == 400, (body, data)
        error = error_of(data)
        assert error["code"] == "RESTORE_REFUSED", error
    jobs, _ = api.json("GET", "/api/v1/jobs")
    assert not any(job["promote"] for job in jobs["jobs"] if job["kind"] == "restore")


def test_bad_requests_get_the_right_status_and_code(api, backup_id):
    cases = [
        ("GET", "/api/v1/backups/neo4j-20000101-000000", None, 404, "BACKUP_NOT_FOUND"),
        ("DELETE", "/api/v1/backups/neo4j-20000101-000000", None, 404, "BACKUP_NOT_FOUND"),
        ("POST", "/api/v1/backups/neo4j-20000101-000000/validate", None, 404, "BACKUP_NOT_FOUND"),
        ("POST", "/api/v1/backups/neo4j-20000101-000000/restore", {}, 404, "BACKUP_NOT_FOUND"),
        ("GET", "/api/v1/backups/bad$id", None, 400, "API_BAD_REQUEST"),
        ("GET", "/api/v1/jobs/job-999999", None, 404, "API_NOT_FOUND"),
        ("GET", "/api/v1/nothing-here", None, 404, "API_NOT_FOUND"),
        ("PUT", "/api/v1/backups", None, 405, "API_METHOD_NOT_ALLOWED"),
        ("POST", f"/api/v1/backups/{backup_id}/restore", b'{"target": "test-neo4j"', 400, "API_BAD_REQUEST"),
        ("POST", f"/api/v1/backups/{backup_id}/restore", b"[1, 2]", 400, "API_BAD_REQUEST"),
        ("POST", f"/api/v1/backups/{backup_id}/restore", b'{"target": 7}', 400, "API_BAD_REQUEST"),
        ("POST", f"/api/v1/backups/{backup_id}/restore", b'{"promte": true}', 400, "API_BAD_REQUEST"),
        ("POST", f"/api/v1/backups/{backup_id}/restore", b'{} trailing', 400, "API_BAD_REQUEST"),
        ("POST", f"/api/v1/backups/{backup_id}/restore", {"target": "nowhere"}, 400, "TARGET_UNKNOWN"),
        ("POST", f"/api/v1/backups/{backup_id}/restore", {"target": "production"}, 400, "RESTORE_REFUSED"),
        ("POST", "/api/v1/backups", b"not json", 400, "API_BAD_REQUEST"),
    ]
    for method, path, body, status, code in cases:
        got, headers, data = api.request(method, path, body)
        assert got == status, (method, path, body, got, data)
        error = error_of(data)
        assert (error["code"], error["status"]) == (code, status), (method, path, error)
        assert error["message"], error
        if status == 405:
            assert headers["allow"] == "GET, POST"


def test_oversized_bodies_get_413(api, backup_id):
    big = json.dumps({"target": "x" * (70 * 1024)})
    status, _, data = api.request("POST", f"/api/v1/backups/{backup_id}/restore", big)
    assert status == 413 and error_of(data)["code"] == "API_PAYLOAD_TOO_LARGE"
    # Without a Content-Length (chunked), the limit holds as well.
    connection = api.connection()
    try:
        connection.putrequest("POST", f"/api/v1/backups/{backup_id}/validate")
        connection.putheader("Authorization", f"Bearer {api.token}")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        chunk = b"x" * 8192
        for _ in range(10):
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        assert response.status == 413, response.read()
    finally:
        connection.close()
    # The server still answers afterwards.
    api.json("GET", "/api/v1/backups")


def test_delete_of_a_backup_in_use_is_409_then_works(api, tools):
    doomed = create_through_api(api)
    lock_path = tools.storage / doomed / ".lock"
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)  # as a restore or validation holds it
        status, _, data = api.request("DELETE", f"/api/v1/backups/{doomed}")
        assert status == 409, data
        assert error_of(data)["code"] == "BACKUP_LOCKED"
    deleted, _ = api.json("DELETE", f"/api/v1/backups/{doomed}")
    assert deleted == {"deleted": doomed}
    assert doomed not in tools.backup("--list").stdout
    status, _, _ = api.request("GET", f"/api/v1/backups/{doomed}")
    assert status == 404


# ---- load ------------------------------------------------------------------------------------------


def test_concurrent_listing_while_a_backup_runs(api):
    job, headers = api.json("POST", "/api/v1/backups", expect=202)
    location = headers["location"]
    # A second backup while one runs: locked.
    status, _, data = api.request("POST", "/api/v1/backups")
    assert status == 409 and error_of(data)["code"] == "BACKUP_LOCKED", data
    state_at_start, _ = api.json("GET", location)

    finished_at = []

    def watch():
        while api.json("GET", location)[0]["state"] == "running":
            time.sleep(0.05)
        finished_at.append(time.monotonic())

    watcher = threading.Thread(target=watch)
    watcher.start()

    def list_once(index):
        # 200 clients: from 64 loopback addresses, each under the per-client cap.
        status, _, data = api.request("GET", "/api/v1/backups", source=f"127.0.0.{2 + index % 64}")
        return status, time.monotonic(), len(json.loads(data)["backups"]) if status == 200 else data

    burst_start = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(list_once, range(200)))
    burst_seconds = time.monotonic() - burst_start
    watcher.join(timeout=600)
    assert [status for status, _, _ in results] == [200] * 200, [r for r in results if r[0] != 200][:5]
    done = api.wait_job(location)
    assert done["state"] == "succeeded", done
    assert state_at_start["state"] == "running"
    # The listing was served while the backup ran, not after it.
    during = sum(1 for _, answered, _ in results if answered < finished_at[0])
    print(f"{during} of 200 listings answered in {burst_seconds:.2f} s while the backup ran "
          f"({done.get('duration_seconds')} s)")
    assert during >= 100, f"only {during} of 200 answers came while the backup ran"
    listed, _ = api.json("GET", "/api/v1/backups")
    assert done["backup_id"] in [item["id"] for item in listed["backups"]]


# ---- jobs, scheduler, recovery, metrics ----------------------------------------------------------------


def test_jobs_are_listed_newest_first(api, backup_id):
    jobs, _ = api.json("GET", "/api/v1/jobs")
    kinds = [job["kind"] for job in jobs["jobs"]]
    assert {"create", "validate", "restore"} <= set(kinds), kinds
    numbers = [int(job["id"].split("-")[1]) for job in jobs["jobs"]]
    assert numbers == sorted(numbers, reverse=True)
    for job in jobs["jobs"]:
        single, _ = api.json("GET", job["href"])
        assert single == job


def test_scheduler_state_and_resume_without_a_running_scheduler(api, storage):
    state, _ = api.json("GET", "/api/v1/scheduler")
    assert state["running"] is False and state["paused"] is False
    assert state["schedule"] == "0 2 * * *" and "02:00" in state["schedule_description"]
    result, _ = api.json("POST", "/api/v1/scheduler/resume")
    assert result["resumed"] is False
    storage.mkdir(parents=True, exist_ok=True)
    (storage / ".scheduler.json").write_text(json.dumps({
        "format_version": 1, "paused": True, "pause_reason": "5 consecutive failures (test)",
        "paused_at": "2026-01-01T00:00:00Z", "consecutive_failures": 5, "pid": 0}))
    try:
        state, _ = api.json("GET", "/api/v1/scheduler")
        assert state["paused"] is True and state["consecutive_failures"] == 5
        status, _, page = api.request("GET", "/")
        assert status == 200 and b"The scheduler is paused" in page
        result, _ = api.json("POST", "/api/v1/scheduler/resume")
        assert result["resumed"] is True and result["paused"] is False
        assert json.loads((storage / ".scheduler.json").read_text())["paused"] is False
    finally:
        (storage / ".scheduler.json").unlink()


def test_metrics_pass_promtool_and_match_the_catalog(api, tools, work):
    status, headers, data = api.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    text = data.decode()
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/setup.sh installs Debian's prometheus package"
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr + text

    values = metric_values(text)
    catalog = json.loads(tools.backup("--list", "--json").stdout)
    valid = [item for item in catalog["backups"] if item["status"].startswith("COMPLETE")]
    newest = max(valid, key=lambda item: item["created"])
    assert values['neo4j_backup_catalog_backups{status="valid"}'] == len(valid)
    assert values["neo4j_backup_catalog_bytes"] == catalog["total_bytes"]
    created = calendar.timegm(time.strptime(newest["created"], "%Y-%m-%dT%H:%M:%SZ"))
    assert values["neo4j_backup_latest_timestamp_seconds"] == created
    assert values['neo4j_backup_latest_size_bytes{kind="compressed"}'] == newest["archive"]["size_compressed"]
    assert values['neo4j_backup_latest_size_bytes{kind="uncompressed"}'] == newest["archive"]["size_uncompressed"]
    assert values["neo4j_backup_latest_nodes"] == GRAPH_NODES
    assert abs(values["neo4j_backup_latest_duration_seconds"] - newest["duration_seconds"]) < 0.01
    assert values["neo4j_backup_storage_free_bytes"] > 0
    assert values["neo4j_backup_scheduler_paused"] == 0
    assert values["neo4j_backup_consecutive_failures"] == 0
    assert values['neo4j_backup_recovery_state{state="RECOVERY_SUCCESS"}'] == 1
    assert values["neo4j_backup_last_restore_success"] == 1
    # BACKUP_METRICS_FILE: the same families, rewritten after each job.
    written = (work / "metrics.prom").read_text()
    assert set(re.findall(r"^# TYPE (\S+)", written, re.M)) == set(re.findall(r"^# TYPE (\S+)", text, re.M))
    assert metric_values(written)["neo4j_backup_catalog_bytes"] == catalog["total_bytes"]


# ---- status page -----------------------------------------------------------------------------------------


def test_status_page_login_with_the_token(api, backup_id):
    status, headers, _ = api.request("POST", "/login", f"token={api.token}xyz", token=None,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and "set-cookie" not in headers
    status, headers, _ = api.request("POST", "/login", f"token={api.token}", token=None,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    assert api.token not in headers["set-cookie"]
    status, headers, page = api.request("GET", "/", token=None, headers={"Cookie": cookie})
    assert status == 200 and backup_id.encode() in page
    assert "default-src 'none'" in headers["content-security-policy"]
    # The page's cookie never opens the JSON API (no cross-site changes).
    status, _, _ = api.request("GET", "/api/v1/backups", token=None, headers={"Cookie": cookie})
    assert status == 401


def test_status_page_in_headless_chromium(backup_bin, env, work, backup_id):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium missing: scripts/setup.sh installs it"
    # Chromium cannot send a bearer header: a loopback --no-auth server on
    # the same storage path serves it the page.
    page_server = ApiProcess(backup_bin, env, work, args=("--serve", "--no-auth"))
    try:
        url = f"http://127.0.0.1:{page_server.port}/"
        profile = work / "chromium-profile"
        screenshot = work / "status-page.png"
        common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  f"--user-data-dir={profile}", "--window-size=412,915", "--enable-logging=stderr", "--v=0"]
        shot = subprocess.run([*common, f"--screenshot={screenshot}", url], capture_output=True, text=True,
                              timeout=120)
        assert shot.returncode == 0, shot.stderr[-3000:]
        assert screenshot.stat().st_size > 20000, "the screenshot looks empty"
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        assert dom.returncode == 0, dom.stderr[-3000:]
        assert backup_id in dom.stdout and "Last restore test" in dom.stdout
        assert 'name="viewport"' in dom.stdout
        # The trends are inline SVG charts, drawn without any script, with a
        # hover text per backup naming it.
        for chart, title in (("size", "Backup size over time"), ("total", "Repository total over time"),
                             ("duration", "Backup duration, one bar per backup")):
            assert f'<svg class="chart-{chart}"' in dom.stdout, chart
            assert title in dom.stdout
        size_chart = dom.stdout.split('<svg class="chart-size"')[1].split("</svg>")[0]
        assert f"<title>{backup_id}: " in size_chart
        assert "<script" not in dom.stdout
        # No script runs, and the CSP blocks nothing the page needs.
        for run in (shot, dom):
            console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
            assert not console, console
    finally:
        page_server.stop()
    print(f"status page screenshot: {screenshot}")


# ---- TLS and --schedule --serve ------------------------------------------------------------------------------


def test_https_with_a_certificate(backup_bin, env, work, token):
    tls = make_tls_dir(work / "tls")
    secure = ApiProcess(backup_bin, {**env, "BACKUP_API_TLS_CERT": str(tls / "public.crt"),
                                     "BACKUP_API_TLS_KEY": str(tls / "private.key")},
                        work, token=token, tls_ca=tls / "public.crt")
    try:
        listed, _ = secure.json("GET", "/api/v1/backups")
        assert listed["total_backups"] >= 1
        plain = http.client.HTTPConnection("127.0.0.1", secure.port, timeout=10)
        with pytest.raises((OSError, http.client.HTTPException)):
            plain.request("GET", "/healthz")
            plain.getresponse().read()
        plain.close()
    finally:
        secure.stop()


def test_schedule_and_serve_in_one_process(backup_bin, env, work, token, storage):
    """The scheduler starts paused; a resume through the API reaches the
    scheduler in the same process, which takes a backup at once."""
    storage.mkdir(parents=True, exist_ok=True)
    (storage / ".scheduler.json").write_text(json.dumps({
        "format_version": 1, "paused": True, "pause_reason": "5 consecutive failures (test)",
        "paused_at": "2026-01-01T00:00:00Z", "consecutive_failures": 5, "pid": 0}))
    both = ApiProcess(backup_bin, {**env, "BACKUP_SCHEDULE": "0 3 1 1 *"}, work, args=("--schedule", "--serve"),
                      token=token)
    try:
        listed, _ = both.json("GET", "/api/v1/backups")
        before = {item["id"] for item in listed["backups"]}
        # The server starts only once the scheduler holds its lock and has
        # recorded its pid, so its very first answer already says running.
        state, _ = both.json("GET", "/api/v1/scheduler")
        assert state["running"] is True and state["pid"] == both.process.pid and state["paused"] is True, state
        result, _ = both.json("POST", "/api/v1/scheduler/resume")
        assert result["resumed"] is True and result["paused"] is False, result
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            state, _ = both.json("GET", "/api/v1/scheduler")
            if state.get("last_success"):
                break
            time.sleep(0.2)
        assert state.get("last_backup_id"), f"{state}\n{both.log()}"
        listed, _ = both.json("GET", "/api/v1/backups")
        assert state["last_backup_id"] in {item["id"] for item in listed["backups"]} - before
        # SIGHUP reloads the scheduler; the server keeps answering.
        both.process.send_signal(signal.SIGHUP)
        both.json("GET", "/healthz", token=None)
    finally:
        both.stop()
    out = both.out_path.read_text()
    assert "SCHEDULER_RESUMED" in out and "BACKUP_SUCCESS" in out, both.log()
    assert "Backup scheduler stopped by a signal" in out, both.log()
    state = json.loads((storage / ".scheduler.json").read_text())
    assert state["pid"] == 0 and state["paused"] is False


# ---- hardening: web pages, the log, ids, the default target, slow clients ----------------------


def job_count(api: ApiProcess) -> int:
    jobs, _ = api.json("GET", "/api/v1/jobs")
    return len(jobs["jobs"])


def check_web_page_refusals(server: ApiProcess, backup_id: str) -> None:
    """What a page in a browser on this host could send, refused whether or
    not the server wants a token."""
    own = f"127.0.0.1:{server.port}"
    jobs_before = job_count(server)
    # A simple request: text/plain (or no type) needs no CORS preflight.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {"Content-Type": ""}
        for path, body in (("/api/v1/backups", b"{}"),
                           (f"/api/v1/backups/{backup_id}/restore", b'{"target": "test-neo4j"}')):
            status, _, data = server.request("POST", path, body, headers=headers)
            assert status == 415, (path, content_type, status, data)
            assert error_of(data)["code"] == "API_UNSUPPORTED_MEDIA_TYPE"
    # DNS rebinding: the attacker's name resolving to 127.0.0.1.
    for method, path in (("GET", "/api/v1/backups"), ("GET", "/metrics"), ("GET", "/"),
                         ("POST", "/api/v1/backups"), ("DELETE", f"/api/v1/backups/{backup_id}")):
        status, _, data = server.request(method, path, headers={"Host": f"rebind.attacker.example:{server.port}"})
        assert status == 421, (method, path, status, data)
        assert error_of(data)["code"] == "API_HOST_NOT_ALLOWED"
    # A cross-site form or fetch without a body: its Origin gives it away.
    for origin in ("https://attacker.example", "null", f"http://127.0.0.1:{server.port + 1}"):
        for method, path in (("POST", "/api/v1/backups"), ("DELETE", f"/api/v1/backups/{backup_id}"),
                             ("POST", f"/api/v1/backups/{backup_id}/validate")):
            status, _, data = server.request(method, path, headers={"Origin": origin})
            assert status == 403, (method, path, origin, status, data)
            assert error_of(data)["code"] == "API_ORIGIN_NOT_ALLOWED"
    assert job_count(server) == jobs_before
    server.json("GET", f"/api/v1/backups/{backup_id}")  # not deleted
    # What must keep working: Prometheus, the status page, same-origin
    # requests, health checks by any name.
    for host in (own, "127.0.0.1", f"localhost:{server.port}", f"[::1]:{server.port}"):
        status, headers, _ = server.request("GET", "/metrics", headers={"Host": host})
        assert status == 200 and headers["content-type"].startswith("text/plain"), host
    status, _, page = server.request("GET", "/", headers={"Host": own})
    assert status == 200 and backup_id.encode() in page
    result, _ = server.json("POST", "/api/v1/scheduler/resume", {},
                            headers={"Origin": f"http://{own}", "Content-Type": "application/json; charset=utf-8"})
    assert "resumed" in result
    status, _, _ = server.request("GET", "/healthz", token=None, headers={"Host": "lb-probe.internal"})
    assert status == 200


def test_web_pages_cannot_drive_the_api_with_a_token(api, backup_id):
    check_web_page_refusals(api, backup_id)
    # The status page's own sign-in form passes (same origin, form type).
    status, headers, _ = api.request("POST", "/login", f"token={api.token}", token=None,
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "Origin": f"http://127.0.0.1:{api.port}"})
    assert status == 303 and "set-cookie" in headers
    status, _, data = api.request("POST", "/login", f"token={api.token}", token=None,
                                  headers={"Content-Type": "text/plain"})
    assert status == 415, data


def test_web_pages_cannot_drive_the_api_without_auth(backup_bin, env, work, backup_id):
    open_server = ApiProcess(backup_bin, {**env, "BACKUP_API_ALLOWED_HOSTS": "backup.example.test, ops.example.test:8443"},
                             work, args=("--serve", "--no-auth"))
    try:
        check_web_page_refusals(open_server, backup_id)
        # Names the operator lists are served; a listed port is the only one.
        for host, expected in (("backup.example.test", 200), (f"backup.example.test:{open_server.port}", 200),
                               ("ops.example.test:8443", 200), ("ops.example.test", 421),
                               ("backup.example.test.attacker.example", 421)):
            status, _, data = open_server.request("GET", "/api/v1/backups", headers={"Host": host})
            assert status == expected, (host, status, data)
    finally:
        open_server.stop()
    log = open_server.log()
    assert "refused GET /api/v1/backups from 127.0.0.1: Host rebind.attacker.example" in log, log
    # A list entry that is not a host is a configuration error.
    port = free_port()
    result = subprocess.run([str(backup_bin), "--serve", "--no-auth"], capture_output=True, text=True, timeout=60,
                            env={**env, "BACKUP_API_LISTEN": f"127.0.0.1:{port}",
                                 "BACKUP_API_ALLOWED_HOSTS": "good.example,http://bad.example/"})
    assert result.returncode == EXIT_CONFIG_INVALID, result.stdout + result.stderr
    assert "BACKUP_API_ALLOWED_HOSTS" in result.stdout + result.stderr


def test_request_text_cannot_forge_log_lines(api):
    forged = "ERROR: forged line 1f3a"
    status, _, _ = api.request("GET", "/api/v1/backups/x%0A" + forged.replace(" ", "%20") + "%0D%1B[31m",
                               token=None)
    assert status == 401
    status, _, _ = api.request("GET", "/api/v1/jobs%0A" + forged.replace(" ", "%20"), token=None,
                               headers={"Host": "evil.example"})
    assert status == 421
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and api.log().count("forged line 1f3a") < 2:
        time.sleep(0.1)
    log = api.log()
    assert "refused GET /api/v1/backups/x\\x0aERROR: forged line 1f3a\\x0d\\x1b[31m from 127.0.0.1" in log, log
    assert "refused GET /api/v1/jobs\\x0aERROR: forged line 1f3a from 127.0.0.1" in log, log
    lines = log.splitlines()
    assert not [line for line in lines if line.startswith(forged)], log
    assert "\x1b" not in log and "\r" not in log


def test_nul_in_a_path_is_refused_not_cut(api, backup_id):
    jobs_before = job_count(api)
    for method, path in (("GET", f"/api/v1/backups/{backup_id}%00"),
                         ("GET", f"/api/v1/backups/{backup_id}%00.extra"),
                         ("POST", f"/api/v1/backups/{backup_id}%00junk/validate"),
                         ("DELETE", f"/api/v1/backups/{backup_id}%00x"),
                         ("GET", "/api/v1/backups%00/whatever"),
                         ("GET", "/metrics%00")):
        status, _, data = api.request(method, path)
        assert status == 400, (method, path, status, data)
        error = error_of(data)
        assert error["code"] == "API_BAD_REQUEST" and "NUL" in error["message"], error
    assert job_count(api) == jobs_before
    api.json("GET", f"/api/v1/backups/{backup_id}")  # still there
    # %00 in the query string is not a path; an encoded percent is no NUL.
    api.json("GET", "/api/v1/backups?x=%00")
    status, _, _ = api.request("GET", f"/api/v1/backups/{backup_id}%2500")
    assert status == 400  # "<id>%00" as text: an invalid id, refused by the id check


def test_default_restore_target_is_the_cli_one(backup_bin, env, work, backup_id, tools, neo4j_target):
    """TEST_NEO4J_CONTAINER names the test instance's container; the default
    target is test-neo4j for the API as for neo4j-restore."""
    container_env = {**env, "TEST_NEO4J_CONTAINER": "neo4j-test-box"}
    result = tools.restore("--backup-id", backup_id, "--dry-run", env={"TEST_NEO4J_CONTAINER": "neo4j-test-box"})
    assert result.returncode == 0, result.output
    assert "test instance test-neo4j" in result.output, result.output
    server = ApiProcess(backup_bin, container_env, work, args=("--serve", "--no-auth"))
    try:
        neo4j_target.run("CREATE (:Leftover {note: 'replaced by the restore'})")
        job, headers = server.json("POST", f"/api/v1/backups/{backup_id}/restore", {}, expect=202)
        assert job["target"] == "test-neo4j", job
        done = server.wait_job(headers["location"], timeout=600)
        assert done["state"] == "succeeded", f"{done}\n{server.log()}"
    finally:
        server.stop()
    assert count_graph(neo4j_target)[:2] == (GRAPH_NODES, GRAPH_RELATIONSHIPS)
    assert neo4j_target.run("MATCH (n:Leftover) RETURN count(n) AS c")[0]["c"] == 0


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the peer closes (or resets) the socket within `seconds`."""
    sock.settimeout(seconds)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def get_on(sock: socket.socket, port: int, path: str = "/api/v1/backups") -> bytes:
    """One keep-alive request on an open socket; the status line."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before answering: {data!r}"
        data += chunk
    return data.split(b"\r\n", 1)[0]


def test_silent_clients_are_dropped_on_the_timeout(backup_bin, env, work):
    server = ApiProcess(backup_bin, {**env, "BACKUP_API_CONNECTION_TIMEOUT": "1"}, work, args=("--serve", "--no-auth"))
    try:
        silent = socket.create_connection(("127.0.0.1", server.port))
        stalled = socket.create_connection(("127.0.0.1", server.port))
        stalled.sendall(b"GET /api/v1/backups HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never end
        started = time.monotonic()
        assert closed_within(silent, 20), "a connection that sends nothing was kept"
        assert closed_within(stalled, 20), "a connection that never ends its headers was kept"
        assert time.monotonic() - started < 15
        silent.close()
        stalled.close()
        server.json("GET", "/api/v1/backups")
    finally:
        server.stop()


def test_connections_per_client_are_capped(backup_bin, env, work):
    server = ApiProcess(backup_bin, {**env, "BACKUP_API_MAX_CONNECTIONS_PER_CLIENT": "2",
                                     "BACKUP_API_CONNECTION_TIMEOUT": "120"}, work, args=("--serve", "--no-auth"))
    held = []
    try:
        for _ in range(2):  # served, and kept open (keep-alive)
            sock = socket.create_connection(("127.0.0.1", server.port))
            held.append(sock)
            assert get_on(sock, server.port).startswith(b"HTTP/1.1 200"), server.log()
        extra = socket.create_connection(("127.0.0.1", server.port))
        try:
            extra.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert closed_within(extra, 20), "a third connection from the same address was served"
        extra.close()
        # Another client address (all of 127.0.0.0/8 is loopback) is served meanwhile.
        other = socket.create_connection(("127.0.0.1", server.port), source_address=("127.0.0.2", 0))
        assert get_on(other, server.port).startswith(b"HTTP/1.1 200")
        other.close()
        # The held ones still work; once one closes, the first address gets a slot again.
        assert get_on(held[0], server.port).startswith(b"HTTP/1.1 200")
        held.pop().close()
        deadline = time.monotonic() + 30
        while True:
            sock = socket.create_connection(("127.0.0.1", server.port))
            try:
                if get_on(sock, server.port).startswith(b"HTTP/1.1 200"):
                    break
            except (AssertionError, OSError):
                assert time.monotonic() < deadline, "no slot came free after a connection closed"
                time.sleep(0.1)
            finally:
                sock.close()
    finally:
        for sock in held:
            sock.close()
        server.stop()


def test_no_secret_in_any_log(api, work, token):
    logs = "".join(path.read_text(errors="replace") for path in work.glob("serve-*.*"))
    assert "HTTP API listening on http://127.0.0.1:" in logs
    assert token not in logs
    assert "refused GET /api/v1/backups" in logs  # the 401s were logged, without the token
