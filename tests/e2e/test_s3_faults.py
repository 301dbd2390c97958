"""Object storage that misbehaves, end to end (issue 13): the real executables
and a real Neo4j write to S3Proxy and moto (the s3_server fixture) through
fault_proxy.FaultProxy, which answers 503 SlowDown, drops a connection in the
middle of an upload part, stalls a request, or holds the completion of an
upload while the writer is killed. boto3 checks what reached the bucket, the
Neo4j driver what a restore loads, the proxy's record that each fault
actually happened and what was sent again.

What an operator relies on (docs/storage.md, "Retries"): transient failures
are retried with backoff and the backup still completes, validates and
restores; refused credentials are reported at once, after one request; a
writer killed in the middle of a multipart upload leaves nothing that lists
as COMPLETE, and --cleanup removes its objects and aborts the upload."""

import json
import signal
import threading
import time
import uuid

import pytest

from fault_proxy import FaultProxy, complete_upload, upload_part
from helpers import (ARCHIVE_FILES, Tools, assert_error, backup_id_of, count_graph, graph_snapshot, load_bulk)
from test_s3_repository import expire_locks

pytest.importorskip("boto3")

# Big enough that the uncompressed archive spans more than one 5 MiB part.
NODES = 80000
RELATIONSHIPS = 80000
PART_MIB = 5
STALL_SECONDS = 2
STORAGE_AUTH_FAILED = 30


@pytest.fixture(scope="module")
def big_graph(neo4j_server):
    """The main database holds load_bulk's graph of this size (loaded once)."""
    if not neo4j_server.is_running():
        neo4j_server.restart()
    bulk = neo4j_server.run("MATCH (n:Bulk) RETURN count(n) AS count")[0]["count"]
    if count_graph(neo4j_server)[:2] != (NODES, RELATIONSHIPS) or bulk != NODES:
        load_bulk(neo4j_server, NODES, RELATIONSHIPS)
    return neo4j_server


@pytest.fixture
def proxy(s3_server):
    proxy = FaultProxy(s3_server.endpoint)
    yield proxy
    proxy.close()


@pytest.fixture
def s3_tools(s3_server, proxy, backup_bin, restore_bin, tmp_path, neo4j_server, neo4j_target):
    """Tools on s3://bucket/<fresh prefix> through the proxy, multipart from
    5 MiB, no compression (so the archive is big), a short stall time-out;
    (tools, server, prefix)."""
    prefix = f"fault-{uuid.uuid4().hex[:12]}"
    work = tmp_path / "work"
    work.mkdir()
    extra = {**s3_server.environment(prefix), "AWS_ENDPOINT_URL": proxy.endpoint, "HOME": str(work),
             "BACKUP_STATE_DIR": str(tmp_path / "state"), "BACKUP_S3_PART_SIZE_MB": str(PART_MIB),
             "BACKUP_COMPRESSION": "none", "BACKUP_S3_STALL_TIMEOUT_SECONDS": str(STALL_SECONDS)}
    tools = Tools(backup_bin, restore_bin, f"s3://{s3_server.bucket}/{prefix}", production=neo4j_server,
                  target=neo4j_target, extra=extra)
    return tools, s3_server, prefix


def archive_size(server, prefix, backup_id):
    key = f"{prefix}/{backup_id}/{ARCHIVE_FILES['none']}"
    return server.client.head_object(Bucket=server.bucket, Key=key)["ContentLength"]


def assert_complete_and_restores(tools, backup_id, source, target):
    listed = json.loads(tools.backup("--list", "--json").stdout)["backups"]
    assert [(entry["id"], entry["status"]) for entry in listed] == [(backup_id, "COMPLETE")]
    validated = tools.backup("--validate", backup_id)
    assert validated.returncode == 0, validated.output
    restored = tools.restore("--backup-id", backup_id, "--load", "bolt")
    assert restored.returncode == 0, restored.output
    assert graph_snapshot(target) == graph_snapshot(source)


def resent_later(proxy, faulted):
    """Each faulted request was sent again afterwards and the server took it;
    returns the successful resends."""
    seen = proxy.requests()
    resends = []
    for bad in faulted:
        later = [s for s in seen[seen.index(bad) + 1:] if (s.method, s.path, s.query, s.fault, s.status) == (
            bad.method, bad.path, bad.query, None, 200)]
        assert later, f"{bad} was not retried: {seen}"
        resends.append(later[0])
    return resends


def test_slow_down_answers_are_retried(s3_tools, proxy, big_graph, neo4j_target):
    tools, server, prefix = s3_tools
    proxy.slow_down(3)  # the first requests of the run, whatever they are
    proxy.slow_down(2, match=upload_part)  # and two upload parts
    result = tools.backup("--create")
    assert result.returncode == 0, result.output
    backup_id = backup_id_of(result)
    refused = proxy.requests(fault="503")
    assert len(refused) == 5, refused
    assert len([seen for seen in refused if seen.is_upload_part()]) == 2, refused
    resent_later(proxy, refused)
    proxy.release()
    assert archive_size(server, prefix, backup_id) > PART_MIB * 1024 * 1024
    # Reads are retried too: every 5th request of the validation and the restore is refused.
    proxy.slow_down(-1, every=5)
    assert_complete_and_restores(tools, backup_id, big_graph, neo4j_target)
    assert len([seen for seen in proxy.requests(fault="503") if seen.method == "GET"]) >= 2


def test_a_connection_dropped_in_an_upload_part_is_retried(s3_tools, proxy, big_graph):
    tools, server, prefix = s3_tools
    proxy.drop(1, match=lambda seen: seen.is_upload_part() and seen.part_number() == 1, after=1024 * 1024)
    result = tools.backup("--create")
    assert result.returncode == 0, result.output
    backup_id = backup_id_of(result)
    dropped = proxy.requests(fault="drop")
    assert len(dropped) == 1 and dropped[0].part_number() == 1, dropped
    resent_later(proxy, dropped)
    # Multipart: more than one part went up, and the object is over a part.
    assert len({seen.part_number() for seen in proxy.requests(upload_part)}) >= 2
    assert archive_size(server, prefix, backup_id) > PART_MIB * 1024 * 1024
    validated = tools.backup("--validate", backup_id)
    assert validated.returncode == 0, validated.output


def test_a_stalled_request_times_out_and_is_retried(s3_tools, proxy, big_graph):
    tools, server, prefix = s3_tools
    proxy.stall(1)  # the first request gets no answer at all
    started = time.monotonic()
    result = tools.backup("--create")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.output
    stalled = proxy.requests(fault="stall")
    assert len(stalled) == 1, stalled
    resent = resent_later(proxy, stalled)[0]
    # The client waited out its stall time-out before sending it again.
    assert resent.at - stalled[0].at >= STALL_SECONDS - 0.5, (stalled, resent)
    # BACKUP_S3_STALL_TIMEOUT_SECONDS, not the default minute, ended the wait.
    assert elapsed < 45, elapsed
    validated = tools.backup("--validate", backup_id_of(result))
    assert validated.returncode == 0, validated.output


def test_a_wrong_secret_is_sent_once(s3_tools, proxy):
    tools, server, prefix = s3_tools
    if server.kind == "moto":
        pytest.skip("moto accepts any credentials")
    started = time.monotonic()
    result = tools.backup("--list", env={"AWS_SECRET_ACCESS_KEY": "wrong-secret-value-0123456789"})
    elapsed = time.monotonic() - started
    assert_error(result, STORAGE_AUTH_FAILED, "STORAGE_AUTH_FAILED")
    assert elapsed < 10, elapsed
    seen = proxy.requests()
    assert len(seen) == 1 and seen[0].status == 403, seen


def test_killed_in_a_multipart_upload_cleanup_aborts_it(s3_tools, proxy, big_graph):
    tools, server, prefix = s3_tools
    # The completion never gets through: the writer is surely killed mid-upload.
    proxy.hold(complete_upload)
    process = tools.popen_backup("--create")
    output = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    parts_done = lambda: any(seen.status == 200 for seen in proxy.requests(upload_part))  # noqa: E731
    reached = proxy.wait_for(lambda: parts_done() or process.poll() is not None, timeout=120)
    assert reached and process.poll() is None, "".join(output)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    reader.join(timeout=10)
    proxy.release()

    assert server.uploads(prefix), "no multipart upload was left in progress"
    listing = tools.backup("--list")
    assert listing.returncode == 0, listing.output
    assert "COMPLETE" not in listing.stdout
    assert "Total: 0 backups" in listing.stdout
    expire_locks(server, prefix)
    cleaned = tools.backup("--cleanup")
    assert cleaned.returncode == 0, cleaned.output
    assert "Removed leftover of an interrupted run" in cleaned.output
    assert "aborted 1 unfinished upload(s)" in cleaned.output
    root_locks = {f"{prefix}/.lock", f"{prefix}/.create.lock"}
    assert [key for key in server.keys(prefix) if key not in root_locks] == [], server.keys(prefix)
    assert server.uploads(prefix) == []


def test_the_proxy_relays_every_response_framing():
    """Both servers answer with Content-Length, S3Proxy also chunked (listings,
    errors); the proxy must relay a close-delimited answer too, and keep a
    kept-alive connection in step across requests."""
    import http.client
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_PUT(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.send_response(200)
            if self.path == "/chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for piece in (b"hello ", b"chunked ", b"world"):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            else:  # delimited by the end of the connection
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b"until the end")
                self.close_connection = True

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = FaultProxy(f"http://127.0.0.1:{server.server_address[1]}")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", int(proxy.endpoint.rsplit(":", 1)[1]), timeout=10)
        proxy.slow_down(1, match=lambda seen: seen.method == "PUT")
        connection.request("PUT", "/a", body=b"x" * 100000)
        answer = connection.getresponse()
        assert (answer.status, b"<Code>SlowDown</Code>" in answer.read()) == (503, True)
        connection.request("PUT", "/a", body=b"x" * 100000)
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (200, b"x" * 100000)
        connection.request("GET", "/chunked")
        assert connection.getresponse().read() == b"hello chunked world"
        connection.request("GET", "/close")
        assert connection.getresponse().read() == b"until the end"
        assert [(seen.method, seen.fault, seen.framing) for seen in proxy.requests()] == [
            ("PUT", "503", None), ("PUT", None, "length"), ("GET", None, "chunked"), ("GET", None, "close")]
    finally:
        proxy.close()
        server.shutdown()
        server.server_close()
