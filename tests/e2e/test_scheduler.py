"""End-to-end tests of `neo4j-backup --schedule` and `--resume` against a real
Neo4j server, a real SMTP server on loopback, and real signals.

Timers are never waited for: schedules are pinned with NBK_NOW (the process
clock starts at that instant, two seconds before a "0 2 * * *" run) or use
seconds-level cron, retry delays are "1,1,1,1", and every wait polls the
scheduler's output with a deadline.

The tests use their own server, e2e-sched, whose database holds only what
these tests put there (backups of it take a fraction of a second), and leave
e2e-main alone. test_retention.py imports the helpers below.
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from neo4j_servers import Neo4jServer
from smtp_sink import SmtpSink

# Own server, named like conftest's (NBK_E2E_SERVER_PREFIX separates sessions).
SCHED_SERVER = f"{os.environ.get('NBK_E2E_SERVER_PREFIX') or 'e2e'}-sched"
# Exit statuses (docs/exit-codes.md).
EXIT_BACKUP_LOCKED = 19
EXIT_CONFIG_INVALID = 21

EVENT = r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] "
BACKUP_ID = r"neo4j-\d{8}-\d{6}(?:-\d+)?"
# Settings of the outer environment must not leak into the runs under test.
FOREIGN_PREFIXES = ("BACKUP_", "NEO4J_", "TEST_NEO4J_", "NBK_", "PROMOTE_")


# ---- helpers (also used by test_retention.py) ---------------------------------

@pytest.fixture(scope="session")
def sched_server():
    """The e2e-sched server with an (almost) empty database: only the tool's
    own BackupMetadata nodes, which backups leave out."""
    server = Neo4jServer.start(SCHED_SERVER)
    try:
        server.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
        yield server
    finally:
        server.close()
        if os.environ.get("NBK_KEEP_SERVERS", "0") != "1":
            server.stop()


def tool_env(server: Optional[Neo4jServer], storage: Path, **settings) -> Dict[str, str]:
    """A complete environment for the executables: this process's, without
    any product setting, plus the server, the storage path and `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(FOREIGN_PREFIXES)}
    env["BACKUP_STORAGE_PATH"] = str(storage)
    # The test machine's disk may be below the 20% default; tests about space
    # set it (or fake the space) explicitly.
    env["BACKUP_MIN_FREE_PERCENT"] = "1"
    # Full backups unless a test asks otherwise (conftest.py says why).
    env["BACKUP_TYPE"] = "full"
    if server is not None:
        env.update(NEO4J_URI=server.uri, NEO4J_USER=server.user, NEO4J_PASSWORD=server.password)
    env.update({key: str(value) for key, value in settings.items()})
    return env


def run_tool(args: List, env: Dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    """Runs an executable to completion; prints the output for pytest's report."""
    argv = [str(arg) for arg in args]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    print(f"$ {' '.join(argv)}\n[exit {result.returncode}]\n{result.stdout}{result.stderr}")
    return result


def create_backup_at(backup_bin: Path, env: Dict[str, str], when: str) -> str:
    """`neo4j-backup --create` with the clock starting at `when` (NBK_NOW):
    the backup's id, manifest `created` and expiry all carry that time, which
    is how the tests age backups without editing self-checksummed manifests."""
    result = run_tool([backup_bin, "--create"], {**env, "NBK_NOW": when})
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"^INFO: Backup ID: (\S+)$", result.stdout, re.M)
    assert match, result.stdout
    return match.group(1)


def backup_dirs(storage: Path) -> List[str]:
    return sorted(entry.name for entry in storage.iterdir()
                  if entry.is_dir() and entry.name.startswith("neo4j-"))


def leftovers(storage: Path) -> List[str]:
    return sorted(entry.name for entry in storage.iterdir()
                  if entry.name.startswith((".tmp-", ".deleting-")))


class Scheduler:
    """A running `neo4j-backup --schedule`, its output in files (no pipe can
    fill up), with polling waits that fail with the whole output."""

    _count = 0

    def __init__(self, backup_bin: Path, env: Dict[str, str], log_dir: Path, args=()):
        Scheduler._count += 1
        stem = log_dir / f"scheduler-{Scheduler._count}"
        self.out_path = stem.with_suffix(".out")
        self.err_path = stem.with_suffix(".err")
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.process = subprocess.Popen([str(backup_bin), "--schedule", *map(str, args)], env=env,
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def report(self) -> str:
        return f"--- scheduler stdout\n{self.stdout}\n--- scheduler stderr\n{self.stderr}"

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60,
                 stream: str = "stdout") -> List:
        """Waits until `pattern` (multi-line regex) matches `count` times."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            text = self.stdout if stream == "stdout" else self.stderr
            matches = regex.findall(text)
            if len(matches) >= count:
                return matches
            if self.process.poll() is not None:
                pytest.fail(f"scheduler exited {self.process.returncode} before {pattern!r} "
                            f"appeared {count} time(s)\n{self.report()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{pattern!r} did not appear {count} time(s) within {timeout} s\n"
                            f"{self.report()}")
            time.sleep(0.05)

    def send(self, signal_number: int) -> None:
        self.process.send_signal(signal_number)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"scheduler ignored SIGTERM for {timeout} s\n{self.report()}")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        print(self.report())


def read_state(storage: Path) -> dict:
    return json.loads((storage / ".scheduler.json").read_text())


def wait_for_mail(sink: SmtpSink, predicate, timeout: float = 30):
    """The first message that satisfies predicate, polling with a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sink.messages():
            if predicate(message):
                return message
        time.sleep(0.1)
    subjects = [message["Subject"] for message in sink.messages()]
    pytest.fail(f"no matching alert e-mail within {timeout} s; received: {subjects}")


def mail_body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


# ---- tests ------------------------------------------------------------------------

@pytest.mark.parametrize("expression, fragments", [
    ("0 25 * * *", ["hour field", "column 3", "out of range 0-23"]),
    ("61 0 2 * * *", ["second field", "column 1"]),
    ("0 2 * *", ["BACKUP_SCHEDULE"]),
])
def test_invalid_schedule_is_rejected_with_its_position(backup_bin, tmp_path, expression, fragments):
    env = tool_env(None, tmp_path / "store", BACKUP_SCHEDULE=expression)
    result = run_tool([backup_bin, "--schedule"], env, timeout=30)
    assert result.returncode == EXIT_CONFIG_INVALID
    assert "ERROR: Code: CONFIG_INVALID" in result.stderr
    reason = re.search(r"^ERROR: Reason: (.*)$", result.stderr, re.M).group(1)
    for fragment in fragments:
        assert fragment in reason
    assert not (tmp_path / "store").exists(), "nothing may be created for an invalid configuration"


def test_seconds_schedule_takes_backups_and_prunes(backup_bin, sched_server, tmp_path):
    storage = tmp_path / "store"
    metrics = tmp_path / "metrics.prom"
    # Retention 0 days: each cleanup keeps only the newest valid backup.
    env = tool_env(sched_server, storage, BACKUP_SCHEDULE="*/2 * * * * *", BACKUP_RETENTION_DAYS=0,
                   BACKUP_METRICS_FILE=metrics)
    with Scheduler(backup_bin, env, tmp_path) as scheduler:
        scheduler.wait_for(EVENT + r"CLEANUP_SUCCESS: Deleted 1 backup \(", count=1)
        status = scheduler.stop()
    assert status == 0, scheduler.report()
    lines = scheduler.stdout.splitlines()
    assert lines[0] == "INFO: Backup scheduler started"
    assert lines[1] == "INFO: Schedule: Every 2 seconds"
    assert re.fullmatch(r"INFO: Next backup: \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", lines[2])
    out = scheduler.stdout
    started = re.findall(EVENT + rf"BACKUP_START: ({BACKUP_ID})$", out, re.M)
    succeeded = re.findall(EVENT + rf"BACKUP_SUCCESS: ({BACKUP_ID}) \(\d+ seconds?\)$", out, re.M)
    assert len(succeeded) >= 2
    assert succeeded == started[:len(succeeded)], "BACKUP_START and BACKUP_SUCCESS name the same ids"
    assert re.search(EVENT + r"CLEANUP_START: Remove backups older than 0 days$", out, re.M)
    deleted = re.findall(EVENT + rf"CLEANUP_SUCCESS: Deleted 1 backup \(({BACKUP_ID})\)$", out, re.M)
    assert deleted[0] == succeeded[0]
    assert re.search(EVENT + r"NEXT_BACKUP: \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$", out, re.M)
    # The backup's own INFO lines stay out of the scheduler's stdout.
    assert "INFO: Starting backup creation" not in out
    # Pruned: only the newest backup remains; nothing partial.
    assert backup_dirs(storage) == [succeeded[-1]]
    assert leftovers(storage) == []
    state = read_state(storage)
    assert state["paused"] is False and state["consecutive_failures"] == 0
    assert state["last_backup_id"] == succeeded[-1]
    assert state["pid"] == 0
    text = metrics.read_text()
    assert "neo4j_backup_scheduler_paused 0" in text
    runs = int(re.search(r"^neo4j_backup_runs_total (\d+)$", text, re.M).group(1))
    assert runs >= 2
    # The log file feeds alerts; it carries the backup's INFO lines too.
    assert "INFO: Starting backup creation" in (storage / ".scheduler.log").read_text()


def test_missed_runs_get_one_catch_up_backup(backup_bin, sched_server, tmp_path):
    storage = tmp_path / "store"
    env = tool_env(sched_server, storage, BACKUP_SCHEDULE="0 2 * * *")
    with Scheduler(backup_bin, {**env, "NBK_NOW": "2025-12-27T01:59:58Z"}, tmp_path) as first:
        first.wait_for(EVENT + r"NEXT_BACKUP: 2025-12-28 02:00:00 UTC$")
        assert first.stop() == 0, first.report()
    # The id is the start of the backup: the scheduled second (a loaded
    # machine may wake a second late).
    assert re.search(EVENT + r"BACKUP_SUCCESS: neo4j-20251227-0200\d\d ", first.stdout, re.M)

    # Down for three days: three runs missed, one catch-up backup.
    with Scheduler(backup_bin, {**env, "NBK_NOW": "2025-12-30T05:00:00Z"}, tmp_path) as second:
        second.wait_for(EVENT + r"NEXT_BACKUP: 2025-12-31 02:00:00 UTC$")
        assert second.stop() == 0, second.report()
    out = second.stdout
    assert re.search(r"^WARNING: Missed 3 scheduled runs since the last run at 2025-12-27 02:00:\d\d UTC "
                     r"\(first missed: 2025-12-28 02:00:00 UTC\); taking one catch-up backup now$", out, re.M)
    assert len(re.findall(EVENT + "BACKUP_START:", out, re.M)) == 1
    assert re.search(EVENT + r"BACKUP_SUCCESS: neo4j-20251230-0500\d\d ", out, re.M)
    assert len(backup_dirs(storage)) == 2


def test_unreachable_neo4j_retries_pauses_alerts_and_resumes(backup_bin, sched_server, tmp_path):
    storage = tmp_path / "store"
    mail_dir = tmp_path / "mail"
    config = tmp_path / "backup.conf"

    def write_config(uri: str, schedule: str = "0 2 * * *") -> None:
        config.write_text(f'NEO4J_URI={uri}\nBACKUP_SCHEDULE="{schedule}"\n')

    # Port 1 on loopback: connection refused at once, like a stopped server.
    write_config("bolt://127.0.0.1:1")
    with SmtpSink(mail_dir) as sink:
        env = tool_env(sched_server, storage, BACKUP_RETRY_DELAYS="1,1,1,1",
                       BACKUP_ALERT_EMAIL="ops@example.com", BACKUP_SMTP_URL=f"smtp://127.0.0.1:{sink.port}",
                       BACKUP_SMTP_FROM="backups@example.com", NBK_NOW="2025-12-27T01:59:58Z")
        env.pop("NEO4J_URI")
        with Scheduler(backup_bin, env, tmp_path, args=["--config", config]) as scheduler:
            scheduler.wait_for(EVENT + r"SCHEDULER_PAUSED: 5 consecutive failures$")

            # One scheduler per storage path.
            second = run_tool([backup_bin, "--schedule", "--config", config], env, timeout=30)
            assert second.returncode == EXIT_BACKUP_LOCKED
            assert f"Another scheduler is already running for {storage} (pid {scheduler.process.pid})" \
                in second.stderr

            out = scheduler.stdout
            failures = re.findall(EVENT + rf"BACKUP_FAILED: {BACKUP_ID} \(NEO4J_UNREACHABLE, failure (\d) of 5\)$",
                                  out, re.M)
            assert failures == ["1", "2", "3", "4", "5"]
            retries = re.findall(EVENT + r"RETRY: attempt (\d) at .* \(in 1 second\)$", out, re.M)
            assert retries == ["2", "3", "4", "5"]
            assert "NEXT_BACKUP: none (paused; run neo4j-backup --resume)" in out
            assert "CRITICAL: Scheduler paused: 5 scheduled backups failed in a row" in scheduler.stderr

            paused_mail = wait_for_mail(sink, lambda m: "SCHEDULER_PAUSED" in m["Subject"])
            assert paused_mail["X-Neo4j-Backup-Severity"] == "CRITICAL"
            body = mail_body(paused_mail)
            assert "5 scheduled backups failed in a row (last: NEO4J_UNREACHABLE" in body
            assert "neo4j-backup --resume" in body
            # BACKUP_ALERT_ON_FAILURE defaults to true: each failure mailed too.
            failure_mails = [m for m in sink.wait_for(6) if m["X-Neo4j-Backup-Code"] == "NEO4J_UNREACHABLE"]
            assert len(failure_mails) == 5
            assert read_state(storage)["paused"] is True
            assert scheduler.stop() == 0, scheduler.report()

        # The pause survives a restart (an hour later): no catch-up, no backup.
        env["NBK_NOW"] = "2025-12-27T03:00:00Z"
        with Scheduler(backup_bin, env, tmp_path, args=["--config", config]) as scheduler:
            scheduler.wait_for(r"^INFO: Next backup: none \(paused\)$")
            assert "WARNING: The scheduler is paused since 2025-12-27 02:00:0" in scheduler.stdout

            # SIGHUP with a broken file keeps the old configuration...
            write_config(sched_server.uri, schedule="0 2 * *")
            scheduler.send(signal.SIGHUP)
            scheduler.wait_for(r"^ERROR: Configuration reload failed", stream="stderr")
            # ...and with the fixed file takes the reachable server.
            write_config(sched_server.uri)
            scheduler.send(signal.SIGHUP)
            scheduler.wait_for(r"^INFO: Configuration reloaded$")

            resumed = run_tool([backup_bin, "--resume", "--config", config], env, timeout=60)
            assert resumed.returncode == 0
            assert f"SUCCESS: Scheduler resumed (pid {scheduler.process.pid})" in resumed.stdout
            scheduler.wait_for(EVENT + rf"BACKUP_SUCCESS: {BACKUP_ID} ")
            scheduler.wait_for(EVENT + r"NEXT_BACKUP: 2025-12-28 02:00:00 UTC$")
            assert re.search(EVENT + "SCHEDULER_RESUMED$", scheduler.stdout, re.M)
            assert scheduler.stop() == 0, scheduler.report()
        state = read_state(storage)
        assert state["paused"] is False and state["consecutive_failures"] == 0
        assert len(backup_dirs(storage)) == 1

        # --resume with nothing paused says so and succeeds.
        again = run_tool([backup_bin, "--resume", "--config", config], env, timeout=30)
        assert again.returncode == 0 and "is not paused; nothing to resume" in again.stdout


def test_space_alert_fails_loudly_mails_and_retries(backup_bin, sched_server, tmp_path):
    storage = tmp_path / "store"
    with SmtpSink(tmp_path / "mail") as sink:
        # 1 GB of 10 GB free: 10% < BACKUP_MIN_FREE_PERCENT (20%). Per-failure
        # alerts are off, to show that BACKUP_NO_SPACE alerts regardless.
        env = tool_env(sched_server, storage, BACKUP_SCHEDULE="0 2 * * *", BACKUP_RETRY_DELAYS="1,1,1,1",
                       BACKUP_ALERT_ON_FAILURE="false", BACKUP_ALERT_EMAIL="ops@example.com",
                       BACKUP_SMTP_URL=f"smtp://127.0.0.1:{sink.port}",
                       NBK_FAKE_SPACE="1000000000,10000000000", NBK_NOW="2025-12-27T01:59:58Z",
                       BACKUP_MIN_FREE_PERCENT="20")
        with Scheduler(backup_bin, env, tmp_path) as scheduler:
            # Not silently skipped: it fails, says why, and the retry runs.
            scheduler.wait_for(EVENT + rf"BACKUP_FAILED: {BACKUP_ID} \(BACKUP_NO_SPACE, failure \d of 5\)$",
                               count=2)
            mail = wait_for_mail(sink, lambda m: m["X-Neo4j-Backup-Code"] == "BACKUP_NO_SPACE")
            assert scheduler.stop() == 0, scheduler.report()
    out, err = scheduler.stdout, scheduler.stderr
    assert re.search(EVENT + r"BACKUP_START: neo4j-20251227-0200\d\d$", out, re.M)
    assert re.search(EVENT + r"RETRY: attempt 2 at 2025-12-27 02:00:0\d UTC \(in 1 second\)$", out, re.M)
    assert len(re.findall(EVENT + "BACKUP_START:", out, re.M)) >= 2
    assert "ERROR: Code: BACKUP_NO_SPACE" in err
    assert re.search(r"^ERROR: Reason: Only 10\.0% of the .* filesystem is free", err, re.M)
    assert re.search(r"^ERROR: Required: .* \| Available: 1 GB$", err, re.M)
    assert "CRITICAL: Operator attention required" in err

    assert mail["X-Neo4j-Backup-Severity"] == "CRITICAL"
    assert "BACKUP_NO_SPACE" in mail["Subject"]
    body = mail_body(mail)
    assert re.search(r"Reason: +Only 10\.0% of the .* filesystem is free.*Required: .* \| Available: 1 GB", body)
    assert "Free up space and retry" in body
    assert backup_dirs(storage) == [] and leftovers(storage) == []


@pytest.mark.parametrize("require_tls", [None, "false"])
def test_alert_to_a_relay_across_the_network_requires_starttls(backup_bin, sched_server, tmp_path, require_tls):
    """smtp://0.0.0.0 reaches the loopback sink but is not a loopback name: it
    stands for a relay across a network, which must offer STARTTLS (the sink
    does not) unless BACKUP_SMTP_REQUIRE_TLS=false."""
    storage = tmp_path / "store"
    tls_setting = {"BACKUP_SMTP_REQUIRE_TLS": require_tls} if require_tls else {}
    with SmtpSink(tmp_path / "mail") as sink:
        env = tool_env(sched_server, storage, BACKUP_SCHEDULE="0 2 * * *", BACKUP_RETRY_DELAYS="1,1,1,1",
                       BACKUP_ALERT_ON_FAILURE="false", BACKUP_ALERT_EMAIL="ops@example.com",
                       BACKUP_SMTP_URL=f"smtp://0.0.0.0:{sink.port}", **tls_setting,
                       NBK_FAKE_SPACE="1000000000,10000000000", NBK_NOW="2025-12-27T01:59:58Z",
                       BACKUP_MIN_FREE_PERCENT="20")
        with Scheduler(backup_bin, env, tmp_path) as scheduler:
            scheduler.wait_for(EVENT + rf"BACKUP_FAILED: {BACKUP_ID} \(BACKUP_NO_SPACE, failure \d of 5\)$",
                               count=2)
            if require_tls == "false":
                mail = wait_for_mail(sink, lambda m: m["X-Neo4j-Backup-Code"] == "BACKUP_NO_SPACE")
                assert "BACKUP_NO_SPACE" in mail["Subject"]
            assert scheduler.stop() == 0, scheduler.report()
        delivered = sink.messages()
    logged = scheduler.stdout + scheduler.stderr
    if require_tls == "false":
        assert delivered and "Alert e-mail not sent" not in logged
    else:
        assert delivered == []
        assert "Alert e-mail not sent" in logged and "(BACKUP_SMTP_REQUIRE_TLS)" in logged


@pytest.mark.parametrize("trust", ["ca_file", "none"])
def test_alert_relay_with_a_private_ca_needs_backup_smtp_ca_file(backup_bin, sched_server, tmp_path, trust):
    """A relay whose certificate a private CA signed (here: self-signed) is
    trusted through BACKUP_SMTP_CA_FILE, and only then: without it the
    STARTTLS handshake fails and nothing is delivered."""
    storage = tmp_path / "store"
    with SmtpSink(tmp_path / "mail", tls="starttls") as sink:
        ca_setting = {"BACKUP_SMTP_CA_FILE": sink.cert_file} if trust == "ca_file" else {}
        env = tool_env(sched_server, storage, BACKUP_SCHEDULE="0 2 * * *", BACKUP_RETRY_DELAYS="1,1,1,1",
                       BACKUP_ALERT_ON_FAILURE="false", BACKUP_ALERT_EMAIL="ops@example.com",
                       BACKUP_SMTP_URL=f"smtp://127.0.0.1:{sink.port}", **ca_setting,
                       NBK_FAKE_SPACE="1000000000,10000000000", NBK_NOW="2025-12-27T01:59:58Z",
                       BACKUP_MIN_FREE_PERCENT="20")
        with Scheduler(backup_bin, env, tmp_path) as scheduler:
            scheduler.wait_for(EVENT + rf"BACKUP_FAILED: {BACKUP_ID} \(BACKUP_NO_SPACE, failure \d of 5\)$",
                               count=2)
            if trust == "ca_file":
                mail = wait_for_mail(sink, lambda m: m["X-Neo4j-Backup-Code"] == "BACKUP_NO_SPACE")
                assert "BACKUP_NO_SPACE" in mail["Subject"]
            assert scheduler.stop() == 0, scheduler.report()
        delivered = sink.messages()
        envelopes = sink.envelopes()
    logged = scheduler.stdout + scheduler.stderr
    if trust == "ca_file":
        assert delivered and all(envelope["tls"] for envelope in envelopes)
        assert "Alert e-mail not sent" not in logged
    else:
        assert delivered == []
        assert "Alert e-mail not sent" in logged


@pytest.fixture
def slow_backup_db(sched_server):
    """Enough nodes that a backup takes a noticeable moment; removed afterwards
    so the other tests' backups stay tiny."""
    sched_server.run("UNWIND range(1, 40000) AS i "
                     "CREATE (:SchedItem {i: i, name: 'item ' + toString(i), tags: ['a', 'b', 'c']})")
    try:
        yield sched_server
    finally:
        sched_server.run("MATCH (n:SchedItem) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS")


def test_sigterm_during_backup_leaves_nothing_and_exits_0(backup_bin, slow_backup_db, tmp_path):
    storage = tmp_path / "store"
    env = tool_env(slow_backup_db, storage, BACKUP_SCHEDULE="0 2 * * *", NBK_NOW="2025-12-27T01:59:59Z")
    with Scheduler(backup_bin, env, tmp_path) as scheduler:
        scheduler.wait_for(EVENT + "BACKUP_START:")
        deadline = time.monotonic() + 60
        while not [name for name in leftovers(storage) if name.startswith(".tmp-")]:
            assert "BACKUP_SUCCESS" not in scheduler.stdout, "the backup finished before it could be stopped"
            assert time.monotonic() < deadline, scheduler.report()
            time.sleep(0.01)
        status = scheduler.stop()
    assert status == 0, scheduler.report()
    assert re.search(EVENT + rf"BACKUP_ABORTED: {BACKUP_ID} \(stopped by a signal; nothing was kept\)$",
                     scheduler.stdout, re.M)
    assert "INFO: Backup scheduler stopped by a signal" in scheduler.stdout
    assert leftovers(storage) == [] and backup_dirs(storage) == []
    # An aborted run is no failure: nothing counts towards the pause.
    assert read_state(storage)["consecutive_failures"] == 0
