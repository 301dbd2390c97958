"""Shared helpers of the benchmark scripts: run a command under
/usr/bin/time -v, take wall time and peak RSS, repeat, take medians.

Benchmarks print figures and ratios; they never fail on speed."""
import json
import os
import re
import statistics
import subprocess
import sys
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
