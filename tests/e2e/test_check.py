"""neo4j-backup --check (the preflight) and the command line itself, against
real Neo4j 5.26 servers: plain Bolt, TLS (bolt+ssc://, bolt+s:// with a CA
file), wrong credentials, nothing listening, the password file, and that the
password never shows up in any output."""

import re

import pytest

from helpers import (EXIT_USAGE, NEO4J_AUTH_FAILED, NEO4J_UNREACHABLE, Tools, assert_error,
                     free_port)


@pytest.fixture(scope="module")
def small_graph(neo4j_server):
    """7 nodes and 5 relationships, one of them a self-loop, one node unlabelled."""
    if not neo4j_server.is_running():
        neo4j_server.restart()
    neo4j_server.wipe()
    neo4j_server.run("CREATE (a:Person {name: 'a'}), (b:Person {name: 'b'}), (c:City), (d), "
                     "(e:Person:Admin), (f:City {name: 'f'}), (g:Person) "
                     "CREATE (a)-[:KNOWS]->(b), (b)-[:KNOWS]->(a), (a)-[:LIVES_IN]->(c), "
                     "(e)-[:SELF]->(e), (g)-[:LIVES_IN]->(f)")
    return neo4j_server


@pytest.fixture
def tools(backup_bin, restore_bin, tmp_path, neo4j_server):
    return Tools(backup_bin, restore_bin, tmp_path / "backups", production=neo4j_server)


def test_check_reports_version_bolt_and_counts(tools, small_graph):
    result = tools.backup("--check")
    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    assert "INFO: Running preflight checks..." in lines
    assert re.search(r"^INFO: Neo4j version: 5\.26\.\d+ \(community edition\)$", result.stdout, re.M), result.output
    assert re.search(r"^INFO: Bolt protocol: 5\.\d+$", result.stdout, re.M), result.output
    assert "INFO: Database: neo4j (7 nodes, 5 relationships)" in lines
    assert "SUCCESS: Preflight passed" in lines
    # A preflight changes nothing: the storage path is not created.
    assert not tools.storage.exists()


def test_check_does_not_count_backup_metadata_nodes(tools, small_graph):
    small_graph.run("CREATE (:BackupMetadata {backup_id: 'neo4j-19990101-000000'})")
    try:
        result = tools.backup("--check")
        assert result.returncode == 0, result.output
        assert "INFO: Database: neo4j (7 nodes, 5 relationships)" in result.stdout
    finally:
        small_graph.run("MATCH (m:BackupMetadata) DELETE m")


def test_check_with_existing_storage_reports_free_space(tools, small_graph):
    tools.storage.mkdir()
    result = tools.backup("--check")
    assert result.returncode == 0, result.output
    assert re.search(rf"^INFO: Storage: {re.escape(str(tools.storage))} exists, is writable, .+ free of .+ \(\d+%\)$",
                     result.stdout, re.M), result.output


def test_check_storage_below_min_free_percent_fails(tools, small_graph):
    tools.storage.mkdir()
    # Half the (fake) disk is free, the floor is 99 %; 100 % is not a valid floor.
    result = tools.backup("--check", env={"BACKUP_MIN_FREE_PERCENT": "99",
                                          "NBK_FAKE_SPACE": "50000000000,100000000000"})
    assert_error(result, 10, "BACKUP_NO_SPACE")
    assert "below BACKUP_MIN_FREE_PERCENT=99" in result.stderr
    assert "CRITICAL: Operator attention required" in result.stderr
    invalid = tools.backup("--check", env={"BACKUP_MIN_FREE_PERCENT": "100"})
    assert_error(invalid, 21, "CONFIG_INVALID")


def test_wrong_password_is_auth_failed(tools, small_graph):
    result = tools.backup("--check", env={"NEO4J_PASSWORD": "not-the-password-42"})
    assert_error(result, NEO4J_AUTH_FAILED, "NEO4J_AUTH_FAILED")
    assert "not-the-password-42" not in result.output


def test_nothing_listening_is_unreachable(tools):
    port = free_port()
    result = tools.backup("--check", env={"NEO4J_URI": f"bolt://127.0.0.1:{port}"}, timeout=120)
    assert_error(result, NEO4J_UNREACHABLE, "NEO4J_UNREACHABLE")
    assert str(port) in result.stderr  # says where it tried


def test_password_never_printed(tools, small_graph):
    """Not in normal, verbose, JSON or failing runs, nor in the URI echo."""
    password = small_graph.password
    runs = [
        tools.backup("--check"),
        tools.backup("--check", "-v"),
        tools.backup("--list", "--json"),
        tools.backup("--create", "--dry-run", "-v"),
        tools.backup("--check", env={"NEO4J_URI": f"bolt://127.0.0.1:{free_port()}"}),
        tools.backup("--check", env={"NEO4J_URI": f"bolt://neo4j:{password}@127.0.0.1:{free_port()}"}),
        tools.backup("--check", "--compression", "nonsense"),
    ]
    assert runs[0].returncode == 0 and runs[1].returncode == 0, runs[1].output
    for result in runs:
        assert password not in result.output


def test_password_file(tools, small_graph, tmp_path):
    secret = tmp_path / "neo4j-password"
    secret.write_text(small_graph.password + "\n")  # a trailing newline, as `echo` writes it
    secret.chmod(0o600)
    result = tools.backup("--check", env={"NEO4J_PASSWORD": None, "NEO4J_PASSWORD_FILE": str(secret)})
    assert result.returncode == 0, result.output
    assert "SUCCESS: Preflight passed" in result.stdout
    wrong = tmp_path / "wrong-password"
    wrong.write_text("wrong-password-in-file\n")
    result = tools.backup("--check", env={"NEO4J_PASSWORD": None, "NEO4J_PASSWORD_FILE": str(wrong)})
    assert_error(result, NEO4J_AUTH_FAILED, "NEO4J_AUTH_FAILED")


# ---- TLS -------------------------------------------------------------------------------------


def test_tls_self_signed_accepted_with_ssc(tools, neo4j_tls_server):
    result = tools.backup("--check", env={"NEO4J_URI": f"bolt+ssc://127.0.0.1:{neo4j_tls_server.port}",
                                          "NEO4J_PASSWORD": neo4j_tls_server.password})
    assert result.returncode == 0, result.output
    assert "SUCCESS: Preflight passed" in result.stdout


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_tls_verified_with_ca_file(tools, neo4j_tls_server, tls_dir, host):
    result = tools.backup("--check", env={"NEO4J_URI": f"bolt+s://{host}:{neo4j_tls_server.port}",
                                          "NEO4J_PASSWORD": neo4j_tls_server.password,
                                          "NEO4J_CA_FILE": str(tls_dir / "public.crt")})
    assert result.returncode == 0, result.output
    assert "SUCCESS: Preflight passed" in result.stdout


def test_tls_verified_without_ca_fails_clearly(tools, neo4j_tls_server):
    result = tools.backup("--check", env={"NEO4J_URI": f"bolt+s://localhost:{neo4j_tls_server.port}",
                                          "NEO4J_PASSWORD": neo4j_tls_server.password})
    assert_error(result, NEO4J_UNREACHABLE, "NEO4J_UNREACHABLE")
    assert "not trusted" in result.stderr
    assert "bolt+ssc://" in result.stderr  # the action names the way out


def test_tls_to_a_plain_server_fails(tools, small_graph):
    result = tools.backup("--check", env={"NEO4J_URI": f"bolt+ssc://127.0.0.1:{small_graph.port}"},
                          timeout=120)
    assert result.returncode != 0
    assert "ERROR: Code:" in result.stderr


# ---- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["backup", "restore"])
def test_unknown_option_is_usage_error(tools, which):
    result = getattr(tools, which)("--no-such-option")
    assert result.returncode == EXIT_USAGE, result.output
    assert "unknown option '--no-such-option'" in result.stderr
    assert "--help" in result.stderr


@pytest.mark.parametrize("which, program", [("backup", "neo4j-backup"), ("restore", "neo4j-restore")])
def test_help_and_version(tools, which, program):
    run = getattr(tools, which)
    helped = run("--help")
    assert helped.returncode == 0, helped.output
    assert helped.stdout.startswith(f"Usage: {program} [OPTIONS]")
    assert "Environment variables:" in helped.stdout
    versioned = run("--version")
    assert versioned.returncode == 0, versioned.output
    assert re.fullmatch(rf"{program} \d+\.\d+\.\d+\S*\n", versioned.stdout), versioned.stdout


@pytest.mark.parametrize("args", [
    [],                                   # no action
    ["--create", "--list"],               # two actions
    ["--validate"],                       # missing argument
    ["--delete-expired", "--list"],       # modifier of another action
    ["--create", "extra"],                # stray argument
])
def test_backup_usage_errors(tools, args):
    result = tools.backup(*args)
    assert result.returncode == EXIT_USAGE, result.output
    assert "Usage: neo4j-backup" in result.stderr


def test_restore_usage_errors(tools):
    assert tools.restore().returncode == EXIT_USAGE
    both = tools.restore("--backup-id", "x", "--validate", "--no-validate")
    assert both.returncode == EXIT_USAGE
    assert "contradict" in both.stderr
