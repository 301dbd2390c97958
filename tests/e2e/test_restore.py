"""neo4j-restore against real Neo4j 5.26 servers: production is e2e-main
(NEO4J_*), the test instance is e2e-target (TEST_NEO4J_*).

The contract's "Restore Success" and "Corrupted Backup Rejected" tests,
restore errors (unknown backup, unknown target, unreachable target, target
that is production), --dry-run, --no-validate, --status and --cancel after an
interrupted restore, and promotion end to end: success (safety backup, the
production content becomes the backup's), an injected health-check failure
(rolled back to the safety backup), and a promotion without confirmation.
"""

import json
import os
import signal
import pty
import re
import shutil
import subprocess

import pytest

from helpers import (BACKUP_CORRUPTED, BACKUP_NO_SPACE, BACKUP_NOT_FOUND, CONFIG_INVALID, HEALTH_CHECKS, NEO4J_ADMIN_FAILED,
                     NEO4J_UNREACHABLE, OPERATION_INTERRUPTED,
                     RESTORE_HEALTH_FAILED, RESTORE_REFUSED, TARGET_UNKNOWN, Tools, assert_error,
                     backup_dirs, count_graph, ensure_sample, flip_byte, free_port, graph_snapshot,
                     kill_when, read_manifest, sha256_file, tree_state, write_manifest)

from neo4j_servers import launcher_command

NODES = 1500
RELATIONSHIPS = 3200


@pytest.fixture
def sample_graph(neo4j_server):
    ensure_sample(neo4j_server, NODES, RELATIONSHIPS)
    return neo4j_server


@pytest.fixture(scope="module")
def reference(backup_bin, restore_bin, tmp_path_factory, neo4j_server):
    """One backup of the sample graph and the graph's content: (storage, id, snapshot)."""
    ensure_sample(neo4j_server, NODES, RELATIONSHIPS)
    storage = tmp_path_factory.mktemp("reference") / "backups"
    backup_id = Tools(backup_bin, restore_bin, storage, production=neo4j_server).create()
    return storage, backup_id, graph_snapshot(neo4j_server)


@pytest.fixture
def tools(backup_bin, restore_bin, tmp_path, neo4j_server, neo4j_target):
    return Tools(backup_bin, restore_bin, tmp_path / "backups", production=neo4j_server, target=neo4j_target)


def copy_reference(reference, tools):
    storage, backup_id, _ = reference
    shutil.copytree(storage, tools.storage)
    return backup_id


def mark_target(target):
    """Distinct content in the target, so that a restore (or not) shows."""
    if not target.is_running():
        target.restart()
    target.wipe()
    target.run("CREATE (:TargetBefore {n: 1})-[:WAS]->(:TargetBefore {n: 2}), (:TargetBefore {n: 3})")
    return graph_snapshot(target)


def recovery_status(tools):
    """--status --json; before any recovery it holds no "current" (the text
    form says NOT_RECOVERING), filled in here so that tests read one shape."""
    result = tools.restore("--status", "--json")
    assert result.returncode == 0, result.output
    status = json.loads(result.stdout)
    status.setdefault("current", {"state": "NOT_RECOVERING"})
    status.setdefault("history", [])
    return status


# ---- the contract's "Restore Success" ---------------------------------------------------------


def test_restore_success_contract(tools, reference, neo4j_target):
    """GIVEN a valid backup and a ready test instance WHEN --backup-id <id>
    --validate THEN the data is in the test instance, every health check
    passes, and the counts match the backup's metadata."""
    backup_id = copy_reference(reference, tools)
    mark_target(neo4j_target)
    result = tools.restore("--backup-id", backup_id, "--validate")
    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    expected_order = [
        f"INFO: Starting restore from backup {backup_id}",
        "INFO: Validating backup integrity...",
        "INFO: Checksum verification: PASSED",
        "INFO: Running health checks on restored instance...",
        *[f"INFO: Health check: {check} ... PASS" for check in HEALTH_CHECKS],
        "SUCCESS: Restore completed and validated",
        f"INFO: Restored backup: {backup_id}",
        f"INFO: Graph stats: {NODES} nodes, {RELATIONSHIPS} relationships",
        "INFO: Next step: Verify restored data, then run: --promote to switch to production",
    ]
    positions = [lines.index(line) for line in expected_order]
    assert positions == sorted(positions), result.stdout
    assert re.search(r"^INFO: Backup size \(compressed\): [\d.]+ (?:B|KB|MB)$", result.stdout, re.M)
    assert re.search(r"^INFO: Backup size \(uncompressed\): [\d.]+ (?:B|KB|MB)$", result.stdout, re.M)
    assert re.search(r"^INFO: Restore completed in .+$", result.stdout, re.M)
    assert result.stderr == ""

    manifest = read_manifest(tools.storage / backup_id)
    nodes, relationships, metadata = count_graph(neo4j_target)
    assert (nodes, relationships) == (manifest["stats"]["nodes"], manifest["stats"]["relationships"])
    assert (nodes, relationships) == (NODES, RELATIONSHIPS)
    assert metadata == 0
    # Not only the counts: the target holds exactly the backed-up graph.
    assert graph_snapshot(neo4j_target) == reference[2]

    status = recovery_status(tools)
    assert status["current"]["state"] == "RECOVERY_SUCCESS"
    assert status["current"]["backup_id"] == backup_id
    assert status["current"]["target"] == "test-neo4j"
    assert [entry["state"] for entry in status["history"]] == ["RECOVERING", "VALIDATION", "RECOVERY_SUCCESS"]
    text = tools.restore("--status")
    assert "INFO: Recovery state: RECOVERY_SUCCESS" in text.stdout
    assert f"INFO: Backup: {backup_id}" in text.stdout
    assert "INFO: History:" in text.stdout


def test_restore_no_validate_skips_health_checks(tools, reference, neo4j_target):
    backup_id = copy_reference(reference, tools)
    mark_target(neo4j_target)
    result = tools.restore("--backup-id", backup_id, "--no-validate")
    assert result.returncode == 0, result.output
    assert "SUCCESS: Restore completed (health checks skipped)" in result.stdout
    assert "Health check:" not in result.stdout
    assert count_graph(neo4j_target)[:2] == (NODES, RELATIONSHIPS)
    assert [entry["state"] for entry in recovery_status(tools)["history"]] == ["RECOVERING", "RECOVERY_SUCCESS"]


# ---- the contract's "Corrupted Backup Rejected" -------------------------------------------------


def test_corrupted_backup_rejected(tools, reference, neo4j_target):
    """GIVEN a modified backup file WHEN restoring it THEN the checksum check
    fails, the restore is aborted (the target is exactly as before) and the
    message directs to a different backup."""
    backup_id = copy_reference(reference, tools)
    archive = tools.storage / backup_id / "graph.nbk.zst"
    expected = read_manifest(tools.storage / backup_id)["archive"]["sha256"]
    flip_byte(archive, archive.stat().st_size // 3)
    before = mark_target(neo4j_target)
    result = tools.restore("--backup-id", backup_id)
    assert_error(result, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    errors = result.stderr.splitlines()
    assert "ERROR: Backup validation failed" in errors
    assert "ERROR: Checksum mismatch!" in errors
    assert f"ERROR: Expected: {expected}" in errors
    assert any(re.fullmatch(r"ERROR: Got: [0-9a-f]{64}", line) and expected not in line for line in errors)
    assert "ERROR: This backup appears to be corrupted on disk" in errors
    assert "ERROR: Action: Try a different backup with --backup-id <other_id>" in errors
    assert "Restoring data" not in result.stdout
    assert graph_snapshot(neo4j_target) == before
    assert recovery_status(tools)["current"]["state"] == "NOT_RECOVERING"


# ---- errors before anything happens -------------------------------------------------------------


def test_restore_errors_leave_everything_untouched(tools, reference, neo4j_target, sample_graph):
    backup_id = copy_reference(reference, tools)
    target_before = mark_target(neo4j_target)
    production_before = count_graph(sample_graph)
    storage_before = tree_state(tools.storage)

    missing = tools.restore("--backup-id", "neo4j-20000101-000000")
    assert_error(missing, BACKUP_NOT_FOUND, "BACKUP_NOT_FOUND")
    assert "List available backups" in missing.stderr

    unknown = tools.restore("--backup-id", backup_id, "--target", "no-such-instance")
    assert_error(unknown, TARGET_UNKNOWN, "TARGET_UNKNOWN")
    assert "no-such-instance" in unknown.stderr

    unconfigured = tools.restore("--backup-id", backup_id,
                                 env={"TEST_NEO4J_URI": None, "TEST_NEO4J_PASSWORD": None})
    assert_error(unconfigured, TARGET_UNKNOWN, "TARGET_UNKNOWN")
    assert "TEST_NEO4J_URI" in unconfigured.stderr

    port = free_port()
    unreachable = tools.restore("--backup-id", backup_id, env={"TEST_NEO4J_URI": f"bolt://127.0.0.1:{port}"})
    assert_error(unreachable, NEO4J_UNREACHABLE, "NEO4J_UNREACHABLE")
    assert str(port) in unreachable.stderr

    production = tools.production.uri
    for alias in (production, production.replace("127.0.0.1", "localhost")):
        refused = tools.restore("--backup-id", backup_id,
                                env={"TEST_NEO4J_URI": alias, "TEST_NEO4J_PASSWORD": tools.production.password})
        assert_error(refused, RESTORE_REFUSED, "RESTORE_REFUSED")
        assert "production" in refused.stderr

    invalid = tools.restore("--backup-id", "../../etc/passwd")
    assert invalid.returncode == 2, invalid.output

    assert graph_snapshot(neo4j_target) == target_before
    assert count_graph(sample_graph) == production_before
    # Only the unreachable target got as far as starting a recovery; it is
    # recorded as failed. Nothing else in the storage changed.
    status = recovery_status(tools)
    assert status["current"]["state"] == "RECOVERY_FAILED"
    assert status["current"]["target"] == "test-neo4j"
    assert str(port) in status["current"]["reason"]
    after = tree_state(tools.storage)
    after.pop(".recovery.json", None)
    assert after == storage_before


def test_restore_dry_run_changes_nothing(tools, reference, neo4j_target, sample_graph):
    backup_id = copy_reference(reference, tools)
    target_before = mark_target(neo4j_target)
    production_before = graph_snapshot(sample_graph)
    storage_before = tree_state(tools.storage)
    result = tools.restore("--backup-id", backup_id, "--dry-run")
    assert result.returncode == 0, result.output
    assert "Dry run: would empty database neo4j of test instance test-neo4j" in result.stdout
    assert f"restore {NODES} nodes and {RELATIONSHIPS} relationships" in result.stdout
    assert "INFO: Dry run: nothing was changed" in result.stdout
    promoted = tools.restore("--backup-id", backup_id, "--dry-run", "--promote", "--yes")
    assert promoted.returncode == 0, promoted.output
    assert "would then take a safety backup of production" in promoted.stdout
    assert graph_snapshot(neo4j_target) == target_before
    assert graph_snapshot(sample_graph) == production_before
    assert tree_state(tools.storage) == storage_before  # no .recovery.json, no safety backup


def import_settings(target, home=None):
    return {"RESTORE_LOAD": "import", "TEST_NEO4J_HOME": str(home or target.home),
            "TEST_NEO4J_STOP_COMMAND": launcher_command("stop", target),
            "TEST_NEO4J_START_COMMAND": launcher_command("start", target)}


def test_import_load_refusals_and_dry_run_change_nothing(tools, reference, neo4j_target, tmp_path):
    """The import load (its success is tested by test_fidelity.py for every
    value type): refused without a NEO4J_HOME, a broken installation and a
    lack of room for the import files found before the target is stopped,
    and a dry run."""
    backup_id = copy_reference(reference, tools)
    target_before = mark_target(neo4j_target)
    storage_before = tree_state(tools.storage)

    no_home = tools.restore("--backup-id", backup_id, "--load", "import")
    assert_error(no_home, CONFIG_INVALID, "CONFIG_INVALID")
    assert "target test-neo4j has no NEO4J_HOME" in no_home.stderr
    assert "--load bolt" in no_home.stderr

    broken = tmp_path / "not-neo4j"
    broken.mkdir()
    bad_admin = tools.restore("--backup-id", backup_id, env=import_settings(neo4j_target, home=broken))
    assert_error(bad_admin, NEO4J_ADMIN_FAILED, "NEO4J_ADMIN_FAILED")
    assert "Stopping" not in bad_admin.output
    assert neo4j_target.is_running()

    no_room = tools.restore("--backup-id", backup_id,
                            env={**import_settings(neo4j_target), "NBK_FAKE_SPACE": "1000,1000000000"})
    assert_error(no_room, BACKUP_NO_SPACE, "BACKUP_NO_SPACE")
    assert "RESTORE_IMPORT_DIR" in no_room.stderr
    assert "Stopping" not in no_room.output

    dry = tools.restore("--backup-id", backup_id, "--dry-run", env=import_settings(neo4j_target))
    assert dry.returncode == 0, dry.output
    assert f"Dry run: would write import files of {NODES} nodes and {RELATIONSHIPS} relationships" in dry.stdout
    assert "neo4j-admin database import" in dry.stdout
    assert "INFO: Dry run: nothing was changed" in dry.stdout

    assert graph_snapshot(neo4j_target) == target_before
    after = tree_state(tools.storage)
    after.pop(".recovery.json", None)  # the failed attempts are on record
    assert after == storage_before  # no import files left behind


def test_load_auto_imports_into_a_stoppable_target_and_bolt_otherwise(tools, reference, neo4j_target):
    """RESTORE_LOAD=auto, the default: the import load when the target has a
    NEO4J_HOME and stop/start commands, the Bolt load otherwise, one INFO line
    saying which and why; both restore the backup exactly."""
    snapshot = reference[2]
    backup_id = copy_reference(reference, tools)
    auto_import = {**import_settings(neo4j_target), "RESTORE_LOAD": None}

    dry_bolt = tools.restore("--backup-id", backup_id, "--dry-run")
    assert dry_bolt.returncode == 0, dry_bolt.output
    assert "Dry run: would empty database neo4j of test instance test-neo4j" in dry_bolt.stdout
    dry_import = tools.restore("--backup-id", backup_id, "--dry-run", env=auto_import)
    assert dry_import.returncode == 0, dry_import.output
    assert "Dry run: would write import files" in dry_import.stdout

    mark_target(neo4j_target)
    online = tools.restore("--backup-id", backup_id)
    assert online.returncode == 0, online.output
    assert ("INFO: Load: bolt (load auto: test-neo4j has no NEO4J_HOME, so it stays online)"
            in online.stdout.splitlines())
    assert "neo4j-admin" not in online.stdout
    assert graph_snapshot(neo4j_target) == snapshot

    mark_target(neo4j_target)
    offline = tools.restore("--backup-id", backup_id, env=auto_import)
    assert offline.returncode == 0, offline.output
    assert ("INFO: Load: import (load auto: test-neo4j has a NEO4J_HOME and stop and start commands, so it is "
            "stopped for the import)" in offline.stdout.splitlines())
    assert "with neo4j-admin database import" in offline.stdout
    assert graph_snapshot(neo4j_target) == snapshot

    forced = tools.restore("--backup-id", backup_id, "--load", "bolt", "--no-validate", env=auto_import)
    assert forced.returncode == 0, forced.output
    assert "INFO: Load: bolt (RESTORE_LOAD or --load asks for bolt)" in forced.stdout.splitlines()
    assert graph_snapshot(neo4j_target) == snapshot


def test_import_load_interrupted_starts_the_target_again(tools, reference, neo4j_target, tmp_path):
    """SIGTERM while neo4j-admin imports: the importer is stopped, the target
    is started again (its start command always runs once it was stopped), the
    run ends OPERATION_INTERRUPTED and the recovery state says so. The
    installation is a stand-in whose neo4j-admin reports the server's version
    and then imports forever, so the signal always lands during the import."""
    backup_id = copy_reference(reference, tools)
    mark_target(neo4j_target)
    home = tmp_path / "slow-neo4j"
    (home / "bin").mkdir(parents=True)
    admin = home / "bin" / "neo4j-admin"
    admin.write_text("#!/bin/sh\n"
                     f"if [ \"$1\" = --version ]; then echo {neo4j_target.version}; exit 0; fi\n"
                     "echo '(1/4) Node import'\n"
                     "exec sleep 600\n")
    admin.chmod(0o755)
    process = tools.popen_restore("--backup-id", backup_id, env=import_settings(neo4j_target, home=home))
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("INFO: neo4j-admin: (1/4) Node import"):
            process.send_signal(signal.SIGTERM)
    status = process.wait(timeout=300)
    output = "".join(seen)
    assert status == OPERATION_INTERRUPTED, output
    assert "INFO: Starting test-neo4j again" in output
    assert "restoring again replaces it" in output
    assert neo4j_target.is_running()
    assert neo4j_target.run("RETURN 1 AS one")[0]["one"] == 1
    current = recovery_status(tools)["current"]
    assert current["state"] == "RECOVERY_FAILED"
    assert current["reason"] == "interrupted by a signal"
    assert not [name for name in os.listdir(tools.storage) if name.startswith(".tmp-import-")]


# ---- --status and --cancel ------------------------------------------------------------------------


def test_status_and_cancel_after_an_interrupted_restore(tools, reference, neo4j_target):
    idle = tools.restore("--status")
    assert idle.returncode == 0, idle.output
    assert "INFO: Recovery state: NOT_RECOVERING" in idle.stdout
    nothing = tools.restore("--cancel")
    assert nothing.returncode == 0, nothing.output
    assert "No recovery in progress (state NOT_RECOVERING): nothing to cancel" in nothing.stdout

    backup_id = copy_reference(reference, tools)
    mark_target(neo4j_target)
    kill_when(tools.popen_restore("--backup-id", backup_id), "INFO: Restoring data into")

    status = recovery_status(tools)
    assert status["current"]["state"] == "RECOVERING"
    assert status["interrupted"] is True
    text = tools.restore("--status")
    assert "INFO: Recovery state: RECOVERING (interrupted: the process that ran it is gone)" in text.stdout

    dry = tools.restore("--cancel", "--dry-run")
    assert dry.returncode == 0, dry.output
    assert recovery_status(tools)["current"]["state"] == "RECOVERING"

    cancelled = tools.restore("--cancel")
    assert cancelled.returncode == 0, cancelled.output
    assert f"SUCCESS: Recovery of {backup_id} on test-neo4j marked RECOVERY_FAILED (cancelled by the operator)" \
        in cancelled.stdout
    status = recovery_status(tools)
    assert status["current"]["state"] == "RECOVERY_FAILED"
    assert status["current"]["reason"] == "cancelled by the operator"
    assert status["interrupted"] is False
    assert [entry["state"] for entry in status["history"]] == ["RECOVERING", "RECOVERY_FAILED"]
    assert "INFO: Reason: cancelled by the operator" in tools.restore("--status").stdout


# ---- promotion -------------------------------------------------------------------------------------


def promotion_setup(tools, server):
    """A backup of production, then production changed (one node added).
    Returns (backup id, backed-up content, content after the change)."""
    ensure_sample(server, NODES, RELATIONSHIPS)
    backup_id = tools.create()
    backed_up = graph_snapshot(server)
    server.run("CREATE (:AddedAfterBackup {note: 'must disappear on promotion'})")
    changed = graph_snapshot(server)
    assert changed != backed_up
    return backup_id, backed_up, changed


def restore_on_terminal(tools, args, answer):
    """neo4j-restore with a pseudo-terminal as stdin, answering the prompt."""
    controller, terminal = pty.openpty()
    try:
        environment = dict(os.environ)
        for key, value in tools.env().items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        process = subprocess.Popen([str(tools.restore_bin), *args], env=environment, text=True,
                                   stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.write(controller, answer.encode() + b"\n")  # the line waits in the terminal until read
        stdout, stderr = process.communicate(timeout=600)
    finally:
        os.close(controller)
        os.close(terminal)
    print(f"$ neo4j-restore {' '.join(args)} (terminal)\n[exit {process.returncode}]\n{stdout}{stderr}")
    return process.returncode, stdout, stderr


def test_promote_without_confirmation_is_refused(tools, neo4j_server, neo4j_target):
    backup_id, _, changed = promotion_setup(tools, neo4j_server)
    result = tools.restore("--backup-id", backup_id, "--promote")  # stdin is not a terminal
    assert_error(result, RESTORE_REFUSED, "RESTORE_REFUSED")
    assert "--yes" in result.stderr
    assert graph_snapshot(neo4j_server) == changed
    assert backup_dirs(tools.storage) == [backup_id]  # not even a safety backup

    # On a terminal the operator must type the backup id; anything else refuses.
    status, stdout, stderr = restore_on_terminal(tools, ["--backup-id", backup_id, "--promote"], "yes")
    assert status == RESTORE_REFUSED, stdout + stderr
    assert "Type the backup id to confirm:" in stderr
    assert "did not match the backup id; production is unchanged" in stderr
    assert graph_snapshot(neo4j_server) == changed
    assert backup_dirs(tools.storage) == [backup_id]


def test_promote_replaces_production(tools, neo4j_server, neo4j_target):
    backup_id, backed_up, changed = promotion_setup(tools, neo4j_server)
    result = tools.restore("--backup-id", backup_id, "--promote", "--yes")
    assert result.returncode == 0, result.output
    for step in ("Promotion step 1/3: safety backup of production",
                 f"Promotion step 2/3: restoring {backup_id} into production",
                 "Promotion step 3/3: production passed every health check"):
        assert f"INFO: {step}" in result.stdout
    assert f"SUCCESS: Backup {backup_id} promoted to production" in result.stdout
    # Health checks ran twice: on the test instance, then on production.
    for check in HEALTH_CHECKS:
        assert result.stdout.count(f"INFO: Health check: {check} ... PASS") == 2

    assert graph_snapshot(neo4j_server) == backed_up
    assert neo4j_server.run("MATCH (n:AddedAfterBackup) RETURN count(n) AS c")[0]["c"] == 0
    assert graph_snapshot(neo4j_target) == backed_up

    # The safety backup holds production as it was before the promotion.
    safety = [name for name in backup_dirs(tools.storage) if name != backup_id]
    assert len(safety) == 1
    assert read_manifest(tools.storage / safety[0])["stats"]["nodes"] == NODES + 1
    listing = tools.backup("--list")
    assert f"{safety[0]}\n" in listing.stdout and "Total: 2 backups" in listing.stdout

    status = recovery_status(tools)
    assert status["current"]["state"] == "RECOVERY_SUCCESS"
    assert status["current"]["target"] == "production"
    assert status["current"]["promoted"] is True
    assert [(entry["state"], entry["target"]) for entry in status["history"]] == [
        ("RECOVERING", "test-neo4j"), ("VALIDATION", "test-neo4j"), ("RECOVERY_SUCCESS", "test-neo4j"),
        ("RECOVERING", "production"), ("VALIDATION", "production"), ("RECOVERY_SUCCESS", "production")]
    text = tools.restore("--status").stdout
    assert "INFO: Recovery state: RECOVERY_SUCCESS" in text
    assert "INFO: Target: production (promoted to production)" in text


@pytest.mark.parametrize("load", ["bolt", "import"])
def test_promote_health_failure_rolls_back(tools, neo4j_server, neo4j_target, load):
    """With the import load, production is rebuilt offline twice (the
    promotion, then the rollback to the safety backup)."""
    backup_id, backed_up, changed = promotion_setup(tools, neo4j_server)
    settings = {"NBK_FAULT_PROMOTE_HEALTH": "fingerprint"}
    if load == "import":
        settings.update(import_settings(neo4j_target), NEO4J_HOME=str(neo4j_server.home),
                        NEO4J_STOP_COMMAND=launcher_command("stop", neo4j_server),
                        NEO4J_START_COMMAND=launcher_command("start", neo4j_server))
    result = tools.restore("--backup-id", backup_id, "--promote", "--yes", env=settings)
    assert_error(result, RESTORE_HEALTH_FAILED, "RESTORE_HEALTH_FAILED")
    if load == "import":
        # The test instance, production, and production again for the rollback.
        assert result.stdout.count("INFO: neo4j-admin imported") == 3, result.output
    assert "INFO: Health check: fingerprint ... FAIL" in result.stdout
    assert "ERROR: Failed check: fingerprint" in result.stderr
    safety = [name for name in backup_dirs(tools.storage) if name != backup_id]
    assert len(safety) == 1
    assert f"Rolling back production to the safety backup {safety[0]}" in result.stderr
    assert (f"WARNING: Production was rolled back to the safety backup {safety[0]} and passed every health check"
            in result.stdout)

    # Production is as it was before the promotion, added node included.
    assert graph_snapshot(neo4j_server) == changed

    status = recovery_status(tools)
    assert status["current"]["state"] == "RECOVERY_FAILED"
    assert status["current"]["backup_id"] == backup_id
    assert status["current"]["target"] == "production"
    assert f"promotion of {backup_id} rolled back" in status["current"]["reason"]
    history = [(entry["state"], entry["target"]) for entry in status["history"]]
    assert history[:4] == [("RECOVERING", "test-neo4j"), ("VALIDATION", "test-neo4j"),
                           ("RECOVERY_SUCCESS", "test-neo4j"), ("RECOVERING", "production")]
    assert history[-1] == ("RECOVERY_FAILED", "production")
    text = tools.restore("--status").stdout
    assert "INFO: Recovery state: RECOVERY_FAILED" in text
    assert f"INFO: Reason: promotion of {backup_id} rolled back" in text


@pytest.mark.parametrize("load", ["bolt", "import"])
def test_counts_check_names_the_label_that_differs(tools, reference, neo4j_target, load):
    """The target loses one label of one node between the load and the
    checks (NBK_FAULT_DROP_LABEL): the totals still agree, so only the per
    label comparison against the archive's own counts can notice, and the
    failure names the label and by how much."""
    backup_id = copy_reference(reference, tools)
    mark_target(neo4j_target)
    manifest = read_manifest(tools.storage / backup_id)
    assert manifest["stats"]["labels"]["Sample"] == NODES
    settings = {"NBK_FAULT_DROP_LABEL": "Sample"}
    if load == "import":
        settings.update(import_settings(neo4j_target))
    result = tools.restore("--backup-id", backup_id, env=settings)
    assert_error(result, RESTORE_HEALTH_FAILED, "RESTORE_HEALTH_FAILED")
    assert "INFO: Health check: counts ... FAIL" in result.stdout
    assert "ERROR: Failed check: counts" in result.stderr
    assert f"ERROR: label Sample: expected {NODES}, found {NODES - 1} (-1)" in result.stderr.splitlines()
    # What the driver sees agrees with the finding.
    assert neo4j_target.run("MATCH (n:Sample) RETURN count(n) AS count")[0]["count"] == NODES - 1
    assert count_graph(neo4j_target)[:2] == (NODES, RELATIONSHIPS)


def test_backup_without_per_label_maps_restores_and_is_checked_against_its_archive(tools, reference,
                                                                                     neo4j_target):
    """A manifest written before the maps were filled (empty maps, resealed)
    restores as before: the counts check takes the per-label counts from the
    archive's records, so it still runs, and passes."""
    backup_id = copy_reference(reference, tools)
    backup_dir = tools.storage / backup_id
    manifest = read_manifest(backup_dir)
    manifest["stats"]["labels"] = {}
    manifest["stats"]["types"] = {}
    write_manifest(backup_dir, manifest, reseal=True)
    mark_target(neo4j_target)
    result = tools.restore("--backup-id", backup_id)
    assert result.returncode == 0, result.output
    assert "INFO: Health check: counts ... PASS" in result.stdout
    verbose = tools.restore("--backup-id", backup_id, "-v")
    assert verbose.returncode == 0, verbose.output
    assert re.search(r"health check counts: PASS: \d+ nodes, \d+ relationships, \d+ labels and "
                     r"\d+ relationship types", verbose.stdout), verbose.stdout


def test_damage_behind_a_forged_checksum_fails_the_restore(tools, reference, neo4j_target):
    """The archive is damaged in the middle and the manifest rewritten to
    carry the damaged file's SHA-256: the checksum passes, so the damage is
    found while restoring. The restore must fail as corrupted and record
    the failure, never report success."""
    backup_id = copy_reference(reference, tools)
    backup_dir = tools.storage / backup_id
    archive = backup_dir / "graph.nbk.zst"
    flip_byte(archive, archive.stat().st_size // 2)
    manifest = read_manifest(backup_dir)
    manifest["archive"]["sha256"] = sha256_file(archive)
    write_manifest(backup_dir, manifest, reseal=True)
    mark_target(neo4j_target)
    result = tools.restore("--backup-id", backup_id)
    assert_error(result, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    assert "INFO: Checksum verification: PASSED" in result.stdout
    assert "SUCCESS" not in result.stdout
    status = recovery_status(tools)
    assert status["current"]["state"] == "RECOVERY_FAILED"
