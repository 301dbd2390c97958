"""Shared helpers of the benchmark scripts: run a command under
/usr/bin/time -v, take wall time and peak RSS, repeat, take medians.

Benchmarks print figures and ratios; they never fail on speed."""
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
BUILD = Path(os.environ.get("BENCH_BUILD", REPO / "build-bench"))
OUT = Path(os.environ.get("BENCH_OUT", BENCH / "out"))
PASSWORD = os.environ.get("BENCH_PASSWORD", "backup-test-pw")
SRC_URI = os.environ.get("BENCH_SRC_URI", "bolt://127.0.0.1:7781")
DST_URI = os.environ.get("BENCH_DST_URI", "bolt://127.0.0.1:7782")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
JAVA_CP = f"{BENCH}/java/target/classes:{BENCH}/java/target/lib/*"
LOCAL = REPO / "tools" / "neo4j-local"

RSS_PATTERN = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def say(message):
    print(message, file=sys.stderr, flush=True)


class Run:
    def __init__(self, seconds, rss_kb, stdout, stderr):
        self.seconds = seconds
        self.rss_kb = rss_kb
        self.stdout = stdout
        self.stderr = stderr


def measure(command, env=None, check=True):
    """Runs command once; wall seconds and peak RSS (kB) of the process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    started = time.monotonic()
    completed = subprocess.run(["/usr/bin/time", "-v"] + [str(part) for part in command],
                               env=full_env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    match = RSS_PATTERN.search(completed.stderr)
    if check and completed.returncode != 0:
        say(completed.stdout[-2000:])
        say(completed.stderr[-4000:])
        raise SystemExit(f"failed ({completed.returncode}): {' '.join(map(str, command))}")
    return Run(seconds, int(match.group(1)) if match else 0, completed.stdout, completed.stderr)


def median(values):
    return statistics.median(values) if values else float("nan")


def spread(values):
    """Relative spread (max-min)/median, the noise figure we print."""
    if len(values) < 2:
        return 0.0
    return (max(values) - min(values)) / statistics.median(values)


def cypher(uri, query, **params):
    import neo4j
    with neo4j.GraphDatabase.driver(uri, auth=("neo4j", PASSWORD)) as driver:
        with driver.session(database="neo4j") as session:
            return [record.values() for record in session.run(query, **params)]


def wipe(uri):
    cypher(uri, "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
    for (name,) in cypher(uri, "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"):
        cypher(uri, f"DROP INDEX `{name}`")
    for (name,) in cypher(uri, "SHOW CONSTRAINTS YIELD name RETURN name"):
        cypher(uri, f"DROP CONSTRAINT `{name}`")


def counts(uri):
    return cypher(uri, "CALL () { MATCH (n) RETURN count(n) AS nodes } "
                       "CALL () { MATCH ()-[r]->() RETURN count(r) AS rels } RETURN nodes, rels")[0]


def neo4j_home(name):
    return subprocess.run([REPO / "tools" / "neo4j-local", "home", name], capture_output=True,
                          text=True, check=True).stdout.strip()


def du_bytes(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True).stdout.split()[0])


def save(name, data):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=2))
    say(f"wrote {OUT / (name + '.json')}")


def mb(kb):
    return kb / 1024.0


# ---- the generated graph (CSV + neo4j-admin import) and tracked runs, shared by
# restore_memory.py and bench_s3.py

def label(nodes):
    return f"{nodes // 1000000}M" if nodes >= 1000000 and nodes % 1000000 == 0 else f"{nodes // 1000}k"


def write_csv(directory, nodes):
    """N :Bench nodes (every 10th also :Hub), 3 relationships per node to
    pseudo-random targets, with mixed property types."""
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(directory / "nodes.csv", "w") as out:
        out.write("id:ID,:LABEL,name,score:double,active:boolean,tags:string[],since:long\n")
        lines = []
        for i in range(nodes):
            labels = "Bench;Hub" if i % 10 == 0 else "Bench"
            lines.append(f"{i},{labels},node-{i},{i * 0.25 + 0.125},{'true' if i % 2 == 0 else 'false'},"
                         f"tag{i % 10};bench,{1600000000 + i}\n")
            if len(lines) == 100000:
                out.writelines(lines)
                lines = []
        out.writelines(lines)
    types = ("LINKS", "KNOWS", "LIKES")
    with open(directory / "rels.csv", "w") as out:
        out.write(":START_ID,:END_ID,:TYPE,weight:double,since:long\n")
        lines = []
        for i in range(nodes):
            for k, multiplier in enumerate((7919, 104729, 1299709)):
                lines.append(f"{i},{(i * multiplier + 13) % nodes},{types[k]},{(i % 100) / 8},{i * 3 + k}\n")
            if len(lines) >= 300000:
                out.writelines(lines)
                lines = []
        out.writelines(lines)
    return time.monotonic() - started


def neo4j_local(*args, check=True):
    """tools/neo4j-local ARGS; the completed process (stdout is the answer)."""
    return subprocess.run([sys.executable, str(LOCAL), *args], check=check, capture_output=True, text=True)


def load_graph(server, port, nodes, csv_dir):
    """Loads the CSV files of write_csv into server (stopped for it, started
    again on port) with neo4j-admin database import full and indexes
    :Bench(id); (home, uri, import seconds)."""
    home = neo4j_local("home", server, "--bolt-port", str(port)).stdout.strip()
    neo4j_local("stop", server, check=False)
    started = time.monotonic()
    subprocess.run([f"{home}/bin/neo4j-admin", "database", "import", "full", "neo4j", "--overwrite-destination",
                    "--id-type=integer", "--array-delimiter=;", f"--nodes={csv_dir}/nodes.csv",
                    f"--relationships={csv_dir}/rels.csv"], check=True, capture_output=True)
    imported = time.monotonic() - started
    uri = neo4j_local("start", server, "--bolt-port", str(port)).stdout.strip()
    cypher(uri, "CREATE INDEX bench_id IF NOT EXISTS FOR (n:Bench) ON (n.id)")
    cypher(uri, "CALL db.awaitIndexes(600)")
    return home, uri, imported


def run_tracked(command, env, log_name="restore_memory_last.log"):
    """Runs command; wall seconds, its own peak RSS (VmHWM, kB), the process
    tree's (wait4), exit status, output, load average and CPU seconds (user +
    system of the process tree, from wait4: on a shared machine the figure
    the load changes least). Every output line is kept in
    OUT/log_name with the seconds since the start in front (the phases'
    times: the health checks begin at "Running health checks"), and the load
    average is sampled every second (the machine is shared)."""
    full_env = dict(os.environ)
    full_env.update(env)
    started = time.monotonic()
    log = open(OUT / log_name, "w")
    process = subprocess.Popen([str(part) for part in command], env=full_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []

    def keep_output():
        for line in process.stdout:
            stamped = f"[{time.monotonic() - started:8.1f}] {line}"
            lines.append(stamped)
            log.write(stamped)
            log.flush()

    reader = threading.Thread(target=keep_output, daemon=True)
    reader.start()
    peak_kb = 0
    loads = []
    next_load_sample = started
    status_path = f"/proc/{process.pid}/status"
    while True:
        try:
            with open(status_path) as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
                        break
        except OSError:
            pass
        if time.monotonic() >= next_load_sample:
            loads.append(os.getloadavg()[0])
            next_load_sample += 1.0
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    seconds = time.monotonic() - started
    reader.join()
    log.close()
    load_average = (round(sum(loads) / len(loads), 1), round(max(loads), 1)) if loads else (0.0, 0.0)
    cpu_seconds = round(usage.ru_utime + usage.ru_stime, 2)
    return (seconds, peak_kb, usage.ru_maxrss, os.waitstatus_to_exitcode(status), "".join(lines), load_average,
            cpu_seconds)


def health_start_seconds(output):
    """When the health checks began, from the stamped -v output (None if
    they did not run). They run all before any result line is logged, so
    only their total is known."""
    for line in output.splitlines():
        stamp, _, text = line.partition("] ")
        if "Running health checks" in text:
            return float(stamp.strip("[ "))
    return None


def restore(binary, backup_id, storage, uri, home, server, port, load, validate, log_name, extra_env=None):
    """neo4j-restore of backup_id from storage into the server at uri (the
    import load stops and starts it through tools/neo4j-local); its seconds,
    own peak RSS, process tree's peak, load average and health-check time.
    extra_env: e.g. the AWS_* settings of an s3:// storage."""
    env = {"BACKUP_STORAGE_PATH": str(storage), "BACKUP_MIN_FREE_PERCENT": "1", "TEST_NEO4J_URI": uri,
           "TEST_NEO4J_USER": "neo4j", "TEST_NEO4J_PASSWORD": PASSWORD, "RESTORE_LOAD": load}
    if load == "import":
        env.update(TEST_NEO4J_HOME=home, TEST_NEO4J_STOP_COMMAND=f"{LOCAL} stop {server}",
                   TEST_NEO4J_START_COMMAND=f"{LOCAL} start {server} --bolt-port {port}")
    env.update(extra_env or {})
    command = [binary, "--backup-id", backup_id, "--validate" if validate else "--no-validate", "-v"]
    seconds, peak_kb, tree_kb, status, output, load_average, cpu_seconds = run_tracked(command, env, log_name)
    if status != 0:
        say(output[-3000:])
        raise SystemExit(f"restore failed ({status}): {' '.join(map(str, command))}")
    health_start = health_start_seconds(output)
    return {"seconds": round(seconds, 1), "peak_kb": peak_kb, "tree_kb": tree_kb, "load_average": load_average,
            "cpu_seconds": cpu_seconds,
            "health_seconds": round(seconds - health_start, 1) if health_start is not None else None}
