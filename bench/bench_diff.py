#!/usr/bin/env python3
"""Differential backups benchmark (issue 15), three parts in one run, each
printed side by side with its ratios and targets:

A. 1M nodes / 3M relationships (--nodes): for each of --runs rounds, a full
   backup (--type full), then 1 % of the nodes and 1 % of the relationships
   changed at random (updates, plus 0.01 % deleted and as many created),
   then a differential (--type diff) of that full. Archive bytes, wall
   time, CPU time (user + system) and peak RSS (the process's own VmHWM),
   diff against full. Targets: size <= 3 %, time <= 1.1x, RSS <= 64 MB.
B. Restore (--load import, every health check) into a separate target
   server of a full plus 6 differentials (1 % change each) against a full
   of the same final state (--type full taken right after the sixth
   differential), alternating order, --restores times each. Target: time
   <= 1.2x. The chain's own backups (sizes by depth) are reported too.
C. 30 days (--days) of daily backups at 100k nodes (--sim-nodes), 1 % change
   a day, the clock faked with NBK_NOW (a build with NBK_TEST_HOOKS), after
   each day's backup `neo4j-backup --cleanup`. One graph, one change per day,
   and each variant its own repository: BACKUP_TYPE=full (the baseline),
   auto with BACKUP_DIFF_MAX_CHAIN=6 (the default) and auto with 30, under
   the contract's GFS policy (7 days, 4 weekly, 3 monthly) and under the
   defaults (7 / 0 / 0). At the end: the repository's bytes against one full
   backup's (target <= 2x), its peak over the days, and how many kept
   differentials lack a parent (retention that does not keep chains).

The graphs come from benchlib's generator and loader (CSV, then neo4j-admin
import), as in bench_crypto.py. Servers: --server (A, B's source),
--target (B), --sim-server (C); all started by tools/neo4j-local.

  bench/bench_diff.py [--parts ABC] [--nodes 1000000] [--runs 3] [--restores 2]
                      [--sim-nodes 100000] [--days 30] [--build build]
                      [--server db-src --port 7871] [--target db-dst --target-port 7872]
                      [--sim-server db-sim --sim-port 7873] [--work /tmp/db-bench]

Results: stdout and bench/out/bench_diff.json (each part's figures kept
there, so parts can run separately; the summary prints what is there).
"""
import argparse
import datetime
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
from pathlib import Path

from benchlib import (OUT, PASSWORD, REPO, counts, cypher, label, load_graph, neo4j_local, restore, run_tracked,
                      say, write_csv)

RESULTS = OUT / "bench_diff.json"
# The mutations select by id(), deprecated in Neo4j 5: keep its notices out of the output.
logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)
GFS = {"BACKUP_RETENTION_DAYS": "7", "BACKUP_KEEP_WEEKLY": "4", "BACKUP_KEEP_MONTHLY": "3"}
DEFAULT_RETENTION = {"BACKUP_RETENTION_DAYS": "7", "BACKUP_KEEP_WEEKLY": "0", "BACKUP_KEEP_MONTHLY": "0"}
SIM_VARIANTS = (  # name, BACKUP_TYPE, BACKUP_DIFF_MAX_CHAIN, retention
    ("full, GFS 7/4/3", "full", "6", GFS),
    ("auto chain 6, GFS 7/4/3", "auto", "6", GFS),
    ("auto chain 30, GFS 7/4/3", "auto", "30", GFS),
    ("full, 7/0/0", "full", "6", DEFAULT_RETENTION),
    ("auto chain 6, 7/0/0", "auto", "6", DEFAULT_RETENTION),
    ("auto chain 30, 7/0/0", "auto", "30", DEFAULT_RETENTION),
)


def load_results():
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def save_results(results):
    OUT.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def manifest(storage, backup_id):
    return json.loads((storage / backup_id / "manifest.json").read_text())


def tool_env(uri, storage, extra=None):
    env = {"NEO4J_URI": uri, "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": PASSWORD, "BACKUP_STORAGE_PATH": str(storage),
           "BACKUP_COMPRESSION": "zstd", "BACKUP_MIN_FREE_PERCENT": "1"}
    env.update(extra or {})
    return env


def backup(binary, uri, storage, backup_type, log_name, extra=None):
    """neo4j-backup --create --type backup_type; (id, figures)."""
    storage.mkdir(parents=True, exist_ok=True)
    command = [binary, "--create", "--type", backup_type]
    seconds, peak_kb, _, status, output, load_average, cpu_seconds = run_tracked(
        command, tool_env(uri, storage, extra), log_name)
    if status != 0:
        say(output[-3000:])
        raise SystemExit(f"backup failed ({status}): {' '.join(map(str, command))}")
    backup_id = next(line.split("Backup ID: ", 1)[1].split()[0] for line in output.splitlines()
                     if "Backup ID: " in line)
    written = manifest(storage, backup_id)
    why = next((line.split("Backup type: ", 1)[1].strip() for line in output.splitlines()
                if "Backup type: " in line), None)
    return backup_id, {"id": backup_id, "why": why, "type": written.get("backup_type", "full"),
                       "depth": written.get("chain_depth", 0), "changes": written.get("changes"),
                       "seconds": round(seconds, 2), "cpu_seconds": cpu_seconds, "peak_kb": peak_kb,
                       "load_average": load_average, "archive_bytes": written["archive"]["size_compressed"]}


class Mutator:
    """Changes a fraction of the graph at random, spread over the id space:
    property updates of `fraction` of the nodes and of the relationships,
    and `churn` of each deleted (nodes with DETACH DELETE) and created (new
    nodes with 3 relationships each to random nodes). Deterministic per seed."""

    def __init__(self, uri, seed, fraction=0.01, churn=0.0001):
        self.uri = uri
        self.rng = random.Random(seed)
        self.fraction = fraction
        self.churn = churn
        self.serial = 0

    def _ids(self, query):
        return cypher(self.uri, query)[0]

    def apply(self, tag):
        nodes, rels = counts(self.uri)
        max_node, max_rel = self._ids("CALL () { MATCH (n) RETURN max(id(n)) AS n } "
                                      "CALL () { MATCH ()-[r]->() RETURN max(id(r)) AS r } RETURN n, r")
        node_updates = self.rng.sample(range(max_node + 1), round(nodes * self.fraction))
        rel_updates = self.rng.sample(range(max_rel + 1), round(rels * self.fraction))
        node_deletes = self.rng.sample(range(max_node + 1), max(1, round(nodes * self.churn)))
        rel_deletes = self.rng.sample(range(max_rel + 1), max(1, round(rels * self.churn)))
        creates = []
        for _ in range(max(1, round(nodes * self.churn))):
            self.serial += 1
            creates.append({"id": 10**9 + self.serial, "targets": self.rng.sample(range(max_node + 1), 3)})
        done = {}
        done["nodes_updated"] = cypher(self.uri, "UNWIND $ids AS i MATCH (n) WHERE id(n) = i "
                                       "SET n.score = n.score + 1.0, n.touched = $tag RETURN count(n)",
                                       ids=node_updates, tag=tag)[0][0]
        done["rels_updated"] = cypher(self.uri, "UNWIND $ids AS i MATCH ()-[r]->() WHERE id(r) = i "
                                      "SET r.weight = r.weight + 1.0, r.touched = $tag RETURN count(r)",
                                      ids=rel_updates, tag=tag)[0][0]
        done["rels_deleted"] = cypher(self.uri, "UNWIND $ids AS i MATCH ()-[r]->() WHERE id(r) = i "
                                      "DELETE r RETURN count(*)", ids=rel_deletes)[0][0]
        done["nodes_deleted"], done["their_rels_deleted"] = cypher(
            self.uri, "UNWIND $ids AS i MATCH (n) WHERE id(n) = i "
                      "OPTIONAL MATCH (n)-[r]-() WITH n, count(r) AS degree DETACH DELETE n "
                      "RETURN count(n), sum(degree)", ids=node_deletes)[0]
        done["nodes_created"], done["rels_created"] = cypher(
            self.uri, "UNWIND $rows AS row CREATE (n:Bench {id: row.id, name: 'new-' + toString(row.id), "
                      "score: 0.5, active: true, tags: ['new'], since: row.id}) "
                      "WITH n, row UNWIND row.targets AS t MATCH (m) WHERE id(m) = t "
                      "CREATE (n)-[:LINKS {weight: 1.0, since: row.id}]->(m) "
                      "RETURN count(DISTINCT n), count(*)", rows=creates)[0]
        return done


def ensure_graph(server, port, nodes, work):
    """The benchlib graph of `nodes` nodes in server, loaded unless it is
    already there with the exact counts; (home, uri)."""
    home = neo4j_local("home", server, "--bolt-port", str(port)).stdout.strip()
    running = neo4j_local("status", server, check=False).returncode == 0
    if running:
        uri = neo4j_local("uri", server).stdout.strip()
        have = counts(uri)
        # A graph this script already changed (1 % a round) is reused as it is.
        if abs(have[0] - nodes) <= nodes // 100 and abs(have[1] - 3 * nodes) <= 3 * nodes // 100:
            say(f"[{label(nodes)}] {server} already holds {have[0]} nodes / {have[1]} relationships")
            return home, uri
    started = write_csv(work / "csv", nodes)
    home, uri, imported = load_graph(server, port, nodes, work / "csv")
    shutil.rmtree(work / "csv", ignore_errors=True)
    have = counts(uri)
    say(f"[{label(nodes)}] {server}: {have[0]} nodes / {have[1]} relationships (CSV {started:.0f} s, "
        f"import {imported:.0f} s)")
    return home, uri


def median_of(rows, key):
    return statistics.median(row[key] for row in rows)


# ---- A: full against differential at 1 % change

def part_a(args, build, work, results):
    home, uri = ensure_graph(args.server, args.port, args.nodes, work)
    storage = work / "repo-a"
    shutil.rmtree(storage, ignore_errors=True)
    mutator = Mutator(uri, seed=15)
    part = {"nodes": args.nodes, "rounds": []}
    for round_number in range(args.runs):
        tag = f"diff_{label(args.nodes)}_{round_number}"
        _, full = backup(build / "neo4j-backup", uri, storage, "full", f"{tag}_full.log")
        changed = mutator.apply(f"a{round_number}")
        _, diff = backup(build / "neo4j-backup", uri, storage, "diff", f"{tag}_diff.log")
        part["rounds"].append({"full": full, "changed": changed, "diff": diff})
        say(f"[A {label(args.nodes)}] round {round_number}: full {full['archive_bytes']:,} B {full['seconds']:.1f} s "
            f"CPU {full['cpu_seconds']:.1f} s RSS {full['peak_kb'] / 1024:.1f} MB | diff {diff['archive_bytes']:,} B "
            f"{diff['seconds']:.1f} s CPU {diff['cpu_seconds']:.1f} s RSS {diff['peak_kb'] / 1024:.1f} MB "
            f"(load {full['load_average'][0]}/{diff['load_average'][0]}); changed {changed}")
        results["A"] = part
        save_results(results)
    shutil.rmtree(storage, ignore_errors=True)


def print_a(part):
    rounds = part["rounds"]
    print(f"\nA. {label(part['nodes'])} nodes, full then 1 % changed then differential, "
          f"median of {len(rounds)} rounds")
    print(f"{'':24} {'full':>14} {'differential':>14} {'diff / full':>12}  target")
    rows = (("archive (bytes)", "archive_bytes", 1, "<= 0.03"), ("wall time (s)", "seconds", 1, "<= 1.1"),
            ("CPU time (s)", "cpu_seconds", 1, ""), ("peak RSS (MB)", "peak_kb", 1 / 1024, "diff <= 64 MB"))
    for title, key, scale, target in rows:
        full = statistics.median(r["full"][key] for r in rounds)
        diff = statistics.median(r["diff"][key] for r in rounds)
        print(f"{title:24} {full * scale:14,.2f} {diff * scale:14,.2f} {diff / full:12.4f}  {target}")
    print("per round diff/full: size " + ", ".join(f"{r['diff']['archive_bytes'] / r['full']['archive_bytes']:.4f}"
                                                  for r in rounds)
          + "; time " + ", ".join(f"{r['diff']['seconds'] / r['full']['seconds']:.2f}" for r in rounds)
          + "; load " + ", ".join(f"{r['full']['load_average'][0]}/{r['diff']['load_average'][0]}" for r in rounds))


# ---- B: restore of a full + 6 differentials against an equal full

def part_b(args, build, work, results):
    home, uri = ensure_graph(args.server, args.port, args.nodes, work)
    storage = work / "repo-b"
    shutil.rmtree(storage, ignore_errors=True)
    mutator = Mutator(uri, seed=1515)
    chain = []
    full_id, figures = backup(build / "neo4j-backup", uri, storage, "full", "diffb_chain_0.log")
    chain.append(figures)
    for depth in range(1, 7):
        figures_changed = mutator.apply(f"b{depth}")
        diff_id, figures = backup(build / "neo4j-backup", uri, storage, "diff", f"diffb_chain_{depth}.log")
        figures["changed"] = figures_changed
        chain.append(figures)
        say(f"[B] depth {figures['depth']}: {figures['archive_bytes']:,} B, {figures['seconds']:.1f} s, "
            f"RSS {figures['peak_kb'] / 1024:.1f} MB")
    equal_id, equal = backup(build / "neo4j-backup", uri, storage, "full", "diffb_equal_full.log")
    part = {"nodes": args.nodes, "chain": chain, "equal_full": equal, "restores": []}
    target_home = neo4j_local("home", args.target, "--bolt-port", str(args.target_port)).stdout.strip()
    target_uri = neo4j_local("start", args.target, "--bolt-port", str(args.target_port)).stdout.strip()
    for round_number in range(args.restores):
        order = (("chain", diff_id), ("full", equal_id))
        if round_number % 2:
            order = tuple(reversed(order))
        for variant, backup_id in order:
            restored = restore(build / "neo4j-restore", backup_id, storage, target_uri, target_home, args.target,
                               args.target_port, "import", True, f"diffb_restore_{variant}_{round_number}.log")
            restored.update(variant=variant, round=round_number, backup_id=backup_id)
            part["restores"].append(restored)
            say(f"[B] round {round_number} {variant:5}: {restored['seconds']:.1f} s, CPU {restored['cpu_seconds']} s, "
                f"RSS {restored['peak_kb'] / 1024:.1f} MB (load {restored['load_average'][0]})")
            results["B"] = part
            save_results(results)
    have = counts(target_uri)
    part["target_counts"] = have
    results["B"] = part
    save_results(results)
    shutil.rmtree(storage, ignore_errors=True)


def print_b(part):
    print(f"\nB. {label(part['nodes'])}: a full + 6 differentials (1 % change each) against a full of the same state")
    for link in part["chain"]:
        print(f"  depth {link['depth']}: {link['archive_bytes']:>12,} B  {link['seconds']:6.1f} s  "
              f"CPU {link['cpu_seconds']:5.1f} s  RSS {link['peak_kb'] / 1024:5.1f} MB")
    chain_bytes = sum(link["archive_bytes"] for link in part["chain"])
    print(f"  chain {chain_bytes:,} B against the equal full's {part['equal_full']['archive_bytes']:,} B "
          f"({chain_bytes / part['equal_full']['archive_bytes']:.3f}x)")
    restores = part["restores"]
    if not restores:
        return
    print(f"{'restore --load import, validated':34} {'full':>10} {'full+6 diffs':>13} {'ratio':>8}  target")
    for title, key, scale, target in (("wall time (s)", "seconds", 1, "<= 1.2"),
                                      ("CPU, with neo4j-admin (s)", "cpu_seconds", 1, ""),
                                      ("peak RSS (MB)", "peak_kb", 1 / 1024, "")):
        full = statistics.median(r[key] for r in restores if r["variant"] == "full")
        chain = statistics.median(r[key] for r in restores if r["variant"] == "chain")
        print(f"{title:34} {full * scale:10.2f} {chain * scale:13.2f} {chain / full:8.3f}  {target}")
    print("  runs: " + ", ".join(f"{r['variant']} {r['seconds']:.0f} s (load {r['load_average'][0]})"
                                 for r in restores))


# ---- C: 30 days of daily backups under retention

def repository_bytes(storage):
    return sum(path.stat().st_size for path in storage.rglob("*") if path.is_file())


def orphans(storage):
    """Kept differentials whose parent is gone (not restorable)."""
    present = {path.name for path in storage.iterdir() if (path / "manifest.json").exists()}
    missing = 0
    for backup_id in present:
        written = manifest(storage, backup_id)
        parent = (written.get("parent") or {}).get("id")
        if written.get("backup_type") == "diff" and parent not in present:
            missing += 1
    return missing


def part_c(args, build, work, results):
    _, uri = ensure_graph(args.sim_server, args.sim_port, args.sim_nodes, work)
    mutator = Mutator(uri, seed=30)
    start = datetime.datetime(2026, 1, 1, 2, 0, 0, tzinfo=datetime.timezone.utc)
    repos = {name: work / f"repo-c-{index}" for index, (name, *_rest) in enumerate(SIM_VARIANTS)}
    for storage in repos.values():
        shutil.rmtree(storage, ignore_errors=True)
        storage.mkdir(parents=True)
    part = {"nodes": args.sim_nodes, "days": args.days, "variants": {name: {"days": []} for name in repos}}
    for day in range(args.days):
        when = start + datetime.timedelta(days=day)
        changed = mutator.apply(f"c{day}") if day else None
        for name, backup_type, max_chain, retention in SIM_VARIANTS:
            storage = repos[name]
            extra = {"BACKUP_TYPE": backup_type, "BACKUP_DIFF_MAX_CHAIN": max_chain, **retention,
                     "NBK_NOW": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
            env = tool_env(uri, storage, extra)
            _, figures = backup(build / "neo4j-backup", uri, storage, "auto" if backup_type == "auto" else "full",
                                f"diffc_{day}.log", extra)
            env["NBK_NOW"] = (when + datetime.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
            cleaned = subprocess.run([build / "neo4j-backup", "--cleanup"], env={**os.environ, **env},
                                     capture_output=True, text=True)
            if cleaned.returncode != 0:
                say(cleaned.stdout[-2000:] + cleaned.stderr[-2000:])
                raise SystemExit(f"cleanup failed ({cleaned.returncode}) on day {day} of {name}")
            kept = sorted(path.name for path in storage.iterdir() if (path / "manifest.json").exists())
            part["variants"][name]["days"].append(
                {"day": day, "id": figures["id"], "type": figures["type"], "depth": figures["depth"], "why": figures["why"],
                 "archive_bytes": figures["archive_bytes"], "seconds": figures["seconds"],
                 "repository_bytes": repository_bytes(storage), "kept": len(kept), "orphans": orphans(storage)})
            part["variants"][name]["kept_at_end"] = kept
        say(f"[C] day {day}: " + "; ".join(
            f"{name}: {v['days'][-1]['type']}{v['days'][-1]['depth'] or ''} repo "
            f"{v['days'][-1]['repository_bytes'] / 2**20:.1f} MiB ({v['days'][-1]['kept']} kept)"
            for name, v in part["variants"].items()) + (f"; changed {changed}" if changed else ""))
        results["C"] = part
        save_results(results)
    for storage in repos.values():
        shutil.rmtree(storage, ignore_errors=True)


def print_c(part):
    # One full's bytes: the baseline's own full backups (median), archive only.
    full_sizes = [d["archive_bytes"] for d in part["variants"][SIM_VARIANTS[0][0]]["days"]]
    one_full = statistics.median(full_sizes)
    print(f"\nC. {part['days']} daily backups at {label(part['nodes'])} nodes, 1 % change a day, --cleanup after each; "
          f"one full archive = {one_full:,.0f} B (median of the baseline's)")
    print(f"{'variant':26} {'fulls':>5} {'diffs':>5} {'kept':>4} {'repo at end (B)':>16} {'/ full':>7} "
          f"{'peak / full':>11} {'orphans':>7}  target")
    for name, variant in part["variants"].items():
        days = variant["days"]
        end = days[-1]
        fulls = sum(1 for d in days if d["type"] == "full")
        peak = max(d["repository_bytes"] for d in days)
        print(f"{name:26} {fulls:5} {len(days) - fulls:5} {end['kept']:4} {end['repository_bytes']:16,} "
              f"{end['repository_bytes'] / one_full:7.2f} {peak / one_full:11.2f} {end['orphans']:7}  "
              f"{'<= 2x' if 'auto' in name else 'baseline'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="ABC")
    parser.add_argument("--nodes", type=int, default=1000000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--restores", type=int, default=2)
    parser.add_argument("--sim-nodes", type=int, default=100000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--build", default=str(REPO / "build"))
    parser.add_argument("--server", default="db-src")
    parser.add_argument("--port", type=int, default=7871)
    parser.add_argument("--target", default="db-dst")
    parser.add_argument("--target-port", type=int, default=7872)
    parser.add_argument("--sim-server", default="db-sim")
    parser.add_argument("--sim-port", type=int, default=7873)
    parser.add_argument("--work", default="/tmp/db-bench")
    parser.add_argument("--summary", action="store_true", help="only print the figures already in the JSON")
    args = parser.parse_args()

    build = Path(args.build)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    results = load_results()
    if not args.summary:
        for part, run in (("A", part_a), ("B", part_b), ("C", part_c)):
            if part in args.parts.upper():
                run(args, build, work, results)
    for part, show in (("A", print_a), ("B", print_b), ("C", print_c)):
        if part in results:
            show(results[part])


if __name__ == "__main__":
    main()
