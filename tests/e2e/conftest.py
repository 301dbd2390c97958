"""Shared fixtures of the end-to-end tests: real Neo4j servers, the built
executables, a CLI runner and TLS material.

Servers: `neo4j_server` ("e2e-main", started once per session),
`neo4j_target` ("e2e-target") and `neo4j_tls_server` ("e2e-tls", Bolt TLS
optional), the last two started only when a test asks for them. All are
stopped at the end of the session unless NBK_KEEP_SERVERS=1, which keeps them
running so the next run skips the start (5-15 s each). Their data survives
either way; use `clean_db` for an empty main database. Set
NBK_E2E_SERVER_PREFIX=xyz to use xyz-main/xyz-target/xyz-tls instead, e.g.
when two sessions run at once on one machine.

Executables: NBK_BUILD_DIR (default <repo>/build) holds neo4j-backup and
neo4j-restore; `backup_bin`/`restore_bin` skip the test when they are missing,
and stop the session when they were built without -DNBK_TEST_HOOKS=ON.
"""

import os
from pathlib import Path

import pytest

from neo4j_servers import REPO_ROOT, Neo4jServer, local_root, make_tls_dir, run_cli as _run_cli
from s3_servers import S3_KINDS, start_s3_server, stop_s3_server

# NBK_E2E_SERVER_PREFIX lets two test sessions on one machine use separate
# servers (a session stops its servers at the end, which would hit the other).
SERVER_PREFIX = os.environ.get("NBK_E2E_SERVER_PREFIX") or "e2e"
# The product's default BACKUP_TYPE is auto: a second backup is a
# differential of the first, and the first cannot be deleted alone. Tests of
# other features pin full backups; the differential tests set the type they
# test (an explicit env value or a config file line wins over this).
os.environ.setdefault("BACKUP_TYPE", "full")
MAIN_SERVER = f"{SERVER_PREFIX}-main"
TARGET_SERVER = f"{SERVER_PREFIX}-target"
TLS_SERVER = f"{SERVER_PREFIX}-tls"


def _keep_servers() -> bool:
    return os.environ.get("NBK_KEEP_SERVERS", "0") == "1"


def _session_server(name: str, **options):
    server = Neo4jServer.start(name, **options)
    try:
        yield server
    finally:
        server.close()
        if not _keep_servers():
            server.stop()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def build_dir(repo_root) -> Path:
    return Path(os.environ.get("NBK_BUILD_DIR") or repo_root / "build").resolve()


def _executable(build_dir: Path, name: str) -> Path:
    path = build_dir / name
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built (cmake --build {build_dir}, or set NBK_BUILD_DIR)")
    # The tests steer the executables through NBK_NOW, NBK_FAKE_SPACE, ...,
    # which only a build with NBK_TEST_HOOKS=ON reads: say so once, plainly.
    if b"NBK_FAKE_SPACE" not in path.read_bytes():
        pytest.exit(f"{path} was built without the test hooks the end-to-end tests use: configure "
                    f"{build_dir} with -DNBK_TEST_HOOKS=ON (scripts/test.sh does)", returncode=4)
    return path


@pytest.fixture(scope="session")
def backup_bin(build_dir) -> Path:
    return _executable(build_dir, "neo4j-backup")


@pytest.fixture(scope="session")
def restore_bin(build_dir) -> Path:
    return _executable(build_dir, "neo4j-restore")


@pytest.fixture(scope="session")
def run_cli():
    """run_cli(args, env=None, check=False, timeout=300, stdin_text=None, cwd=None)
    -> CompletedProcess (text). env is laid over os.environ; None removes a key."""
    return _run_cli


@pytest.fixture(scope="session")
def neo4j_server():
    """The main server (e2e-main): .uri .user .password .name .home .port,
    .driver() (new driver, caller closes), .run(cypher, **params) -> [dict]."""
    yield from _session_server(MAIN_SERVER)


@pytest.fixture(scope="session")
def neo4j_target():
    """A second server (e2e-target), e.g. the target of a restore."""
    yield from _session_server(TARGET_SERVER)


@pytest.fixture(scope="session")
def neo4j_tls_server(tls_dir):
    """A server (e2e-tls) with Bolt TLS OPTIONAL: bolt:// and bolt+ssc:// both
    work; the certificate is tls_dir/public.crt (CN=localhost, SAN 127.0.0.1)."""
    yield from _session_server(TLS_SERVER, tls_dir=tls_dir)


@pytest.fixture(scope="session", params=S3_KINDS)
def s3_server(request):
    """A real S3 server on loopback (S3Proxy, then moto; s3_servers.S3Server:
    .endpoint .bucket .access_key .secret_key, .client is boto3), started once
    per session: every test that takes it runs against both."""
    pytest.importorskip("boto3")
    try:
        server = start_s3_server(request.param, SERVER_PREFIX)
    except RuntimeError as error:
        pytest.fail(str(error))
    yield server
    stop_s3_server(server)


@pytest.fixture
def clean_db(neo4j_server):
    """The main server with no nodes, relationships, constraints or indexes.

    Yields the server. Restarts it first if an earlier test left it stopped.
    """
    if not neo4j_server.is_running():
        neo4j_server.restart()
    neo4j_server.wipe()
    yield neo4j_server


@pytest.fixture(scope="session")
def tls_dir() -> Path:
    """A folder with private.key and public.crt, self-signed for 127.0.0.1 and
    localhost (what `tools/neo4j-local start --tls-dir` takes). Made once under
    .neo4j-local/ and reused, so kept servers keep matching it. Don't modify."""
    return make_tls_dir(local_root() / "e2e-tls-material")
