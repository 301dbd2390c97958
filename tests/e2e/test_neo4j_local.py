"""The launcher of real Neo4j servers (tools/neo4j-local) works as the other
end-to-end tests, the benchmarks and the demo expect.

Reuses the session's e2e-main server; the one test that stops it runs last
in this file and starts it again.
"""

import json
import os
import re
import socket
from pathlib import Path
import ssl

import pytest

from neo4j_servers import STATUS_STOPPED, Neo4jServer, launcher

URI_PATTERN = re.compile(r"^bolt://127\.0\.0\.1:(\d+)$")


def listening_addresses(port):
    """Local addresses (as hex from /proc/net/tcp*) listening on a TCP port."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                address, port_hex = fields[1].rsplit(":", 1)
                if int(port_hex, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                    found.append(address)
    return found


def test_start_prints_only_the_uri_and_bolt_answers(neo4j_server):
    again = launcher("start", neo4j_server.name)
    assert again.stdout.splitlines() == [neo4j_server.uri]
    assert URI_PATTERN.match(neo4j_server.uri)
    with neo4j_server.driver() as driver:
        records, _, _ = driver.execute_query("RETURN 1 AS one")
    assert records[0]["one"] == 1


def test_run_helper_returns_dicts_and_uses_the_password(neo4j_server):
    rows = neo4j_server.run("RETURN $text AS text, 40 + $number AS sum", text="héllo", number=2)
    assert rows == [{"text": "héllo", "sum": 42}]
    import neo4j

    wrong = neo4j.GraphDatabase.driver(neo4j_server.uri,
                                       auth=(neo4j_server.user, "wrong-password"))
    with wrong, pytest.raises(neo4j.exceptions.AuthError):
        wrong.verify_connectivity()


def test_status_uri_and_list_agree(neo4j_server):
    status = launcher("status", neo4j_server.name, check=False)
    assert status.returncode == 0
    assert status.stdout.strip() == f"running {neo4j_server.uri}"
    assert launcher("uri", neo4j_server.name).stdout.strip() == neo4j_server.uri
    listed = [line.split("\t") for line in launcher("list").stdout.splitlines()]
    assert [neo4j_server.name, "running", neo4j_server.uri] in [row[:3] for row in listed]


def test_server_listens_on_loopback_only_and_on_one_port(neo4j_server):
    addresses = listening_addresses(neo4j_server.port)
    assert addresses, "nothing listens on the Bolt port"
    loopback_v4 = "0100007F"
    loopback_v4_mapped = "0000000000000000FFFF00000100007F"
    assert all(address in (loopback_v4, loopback_v4_mapped) for address in addresses), addresses
    conf = (neo4j_server.home / "conf" / "neo4j.conf").read_text()
    assert "server.http.enabled=false" in conf
    assert "dbms.routing.enabled=false" in conf


def test_home_has_working_admin_tools_and_its_own_data(neo4j_server, repo_root):
    home = launcher("home", neo4j_server.name).stdout.strip()
    assert home == str(neo4j_server.home)
    admin = neo4j_server.home / "bin" / "neo4j-admin"
    assert os.access(admin, os.X_OK)
    version = neo4j_server.admin("--version", check=True).stdout.strip()
    assert version == neo4j_server.version
    conf = (neo4j_server.home / "conf" / "neo4j.conf").read_text()
    assert f"server.directories.data={neo4j_server.home / 'data'}" in conf
    assert (neo4j_server.home / "data" / "databases" / "neo4j").is_dir()
    assert (neo4j_server.home / "logs" / "neo4j.log").is_file()
    # Everything lives in git-ignored folders unless NEO4J_LOCAL_ROOT moved it.
    if not os.environ.get("NEO4J_LOCAL_ROOT"):
        assert neo4j_server.home.is_relative_to(repo_root / ".neo4j-local")


def test_bad_requests_fail_clearly(neo4j_server):
    bad_name = launcher("start", "../escape", check=False)
    assert bad_name.returncode == 2 and "invalid server name" in bad_name.stderr
    assert bad_name.stdout == ""
    unknown = launcher("status", "e2e-no-such-server", check=False)
    assert unknown.returncode == STATUS_STOPPED
    other_port = launcher("start", neo4j_server.name, "--bolt-port", str(neo4j_server.port + 1),
                          check=False)
    assert other_port.returncode == 2 and "is running on port" in other_port.stderr


def test_new_home_without_start_and_taken_port(tmp_path):
    """`home` creates a usable home without starting it; `start` refuses a taken port."""
    env = {"NEO4J_LOCAL_ROOT": str(tmp_path / "root")}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken_port = squatter.getsockname()[1]
        home = launcher("home", "fresh", "--bolt-port", str(taken_port), env=env).stdout.strip()
        assert home == str(tmp_path / "root" / "servers" / "fresh")
        assert os.access(os.path.join(home, "bin", "neo4j-admin"), os.X_OK)
        assert launcher("status", "fresh", check=False, env=env).returncode == STATUS_STOPPED
        refused = launcher("start", "fresh", check=False, env=env)
        assert refused.returncode == 2
        assert f"port {taken_port} is taken" in refused.stderr
        assert refused.stdout == ""
    launcher("destroy", "fresh", env=env)
    assert not os.path.exists(home)


def test_picked_port_taken_meanwhile_moves(tmp_path):
    """A port neo4j-local picked itself, taken while the server was stopped,
    is replaced by a free one at the next start (the URI printed says which)."""
    env = {"NEO4J_LOCAL_ROOT": str(tmp_path / "root")}
    home = launcher("home", "mover", env=env).stdout.strip()
    recorded = json.loads(Path(home, "neo4j-local.json").read_text())["port"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", recorded))
        squatter.listen()
        started = launcher("start", "mover", env=env)
        uri = started.stdout.strip()
        assert uri.startswith("bolt://127.0.0.1:") and int(uri.rsplit(":", 1)[1]) != recorded
        assert f"port {recorded} is taken" in started.stderr
    launcher("stop", "mover", env=env)
    launcher("destroy", "mover", env=env)


def test_tls_server_speaks_plain_and_tls_bolt(neo4j_tls_server, tls_dir):
    import neo4j

    port = neo4j_tls_server.port
    with neo4j_tls_server.driver() as plain:
        assert plain.execute_query("RETURN 1 AS one").records[0]["one"] == 1
    with neo4j_tls_server.driver(f"bolt+ssc://127.0.0.1:{port}") as self_signed:
        assert self_signed.execute_query("RETURN 2 AS two").records[0]["two"] == 2
    trusted = neo4j.TrustCustomCAs(str(tls_dir / "public.crt"))
    with neo4j_tls_server.driver(f"bolt://localhost:{port}", encrypted=True,
                                 trusted_certificates=trusted) as verified:
        assert verified.execute_query("RETURN 3 AS three").records[0]["three"] == 3
    # The raw socket too: a TLS handshake succeeds and shows our certificate.
    context = ssl.create_default_context(cafile=str(tls_dir / "public.crt"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.getpeercert()["subject"] == ((("commonName", "localhost"),),)


@pytest.mark.skipif(os.environ.get("NBK_E2E_CALENDAR") != "1",
                    reason="set NBK_E2E_CALENDAR=1 to try the newest calendar release (Java 21+)")
def test_calendar_release_runs():
    server = Neo4jServer.start("e2e-calendar", version="calendar", timeout=900)
    try:
        rows = server.run("CALL dbms.components() YIELD versions RETURN versions[0] AS version")
        assert re.match(r"^20\d\d\.", rows[0]["version"])
        assert server.version == rows[0]["version"]
    finally:
        server.close()
        if os.environ.get("NBK_KEEP_SERVERS") != "1":
            server.stop()


def test_stop_dump_status_and_start_again(neo4j_server, tmp_path):
    """Runs last here: stops e2e-main, dumps it offline, starts it again."""
    neo4j_server.run("MATCH (n:LauncherProbe) DETACH DELETE n")
    neo4j_server.run("CREATE (:LauncherProbe {marker: $marker})", marker="survives-restart")
    neo4j_server.stop()
    status = launcher("status", neo4j_server.name, check=False)
    assert status.returncode == STATUS_STOPPED
    assert status.stdout.strip() == f"stopped {neo4j_server.uri}"
    pid_file = neo4j_server.home / "run" / "neo4j.pid"
    assert not pid_file.exists()

    dump = neo4j_server.admin("database", "dump", "neo4j", f"--to-path={tmp_path}")
    assert dump.returncode == 0, dump.stderr
    assert (tmp_path / "neo4j.dump").stat().st_size > 0

    old_uri = neo4j_server.uri
    neo4j_server.restart()
    assert neo4j_server.uri == old_uri
    rows = neo4j_server.run("MATCH (n:LauncherProbe) RETURN n.marker AS marker")
    assert rows == [{"marker": "survives-restart"}]
    neo4j_server.run("MATCH (n:LauncherProbe) DETACH DELETE n")
