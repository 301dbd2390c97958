#!/usr/bin/env python3
"""Benchmark 2 (issue 3): online logical backup.

  neo4j-backup --create (zstd)   wall time and peak RSS, BENCH_RUNS runs
  Java driver "readall"          the time the official Java driver needs merely
                                 to read the same nodes and relationships
                                 (MATCH (n) RETURN id(n), labels(n), properties(n);
                                  MATCH (a)-[r]->(b) RETURN id(r), id(a), id(b), type(r), properties(r))
  sizes                          archive (graph.nbk.zst) vs the server's store
                                 (du of <home>/data/databases/neo4j)

  bench/bench_backup.py --server bench-src --label 1M [--storage /tmp/bench-backups] [--no-java]

Keeps the last backup and writes its id to bench/out/backup_id_<label>.txt for
the restore benchmark; earlier runs' backups are deleted.
"""
import argparse
import re
import shutil
from pathlib import Path

from benchlib import (BUILD, JAVA_CP, OUT, PASSWORD, RUNS, counts, du_bytes, measure, median, mb, neo4j_home,
                      save, say, spread)

BACKUP_ID = re.compile(r"Backup ID: (\S+)")
DRIVER_TIME = re.compile(r"rows=(\d+) seconds=([0-9.]+)")


def server_uri(name):
    home = Path(neo4j_home(name))
    import json
    state = json.loads((home / "neo4j-local.json").read_text())
    port = state.get("bolt_port") or state.get("port")
    return f"bolt://127.0.0.1:{port}", home


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="bench-src")
    parser.add_argument("--label", default="1M")
    parser.add_argument("--storage", default="/tmp/bench-backups")
    parser.add_argument("--no-java", action="store_true")
    args = parser.parse_args()

    uri, home = server_uri(args.server)
    nodes, rels = counts(uri)
    storage = Path(args.storage)
    storage.mkdir(parents=True, exist_ok=True)
    env = {"NEO4J_URI": uri, "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": PASSWORD,
           "BACKUP_STORAGE_PATH": str(storage), "BACKUP_COMPRESSION": "zstd"}

    backups = []
    previous = None
    for attempt in range(RUNS):
        run = measure([BUILD / "neo4j-backup", "--create"], env)
        backup_id = BACKUP_ID.search(run.stdout + run.stderr).group(1)
        archive = storage / backup_id / "graph.nbk.zst"
        backups.append({"id": backup_id, "seconds": run.seconds, "rss_kb": run.rss_kb,
                        "archive_bytes": archive.stat().st_size})
        say(f"backup {args.label} #{attempt + 1}: {run.seconds:.2f} s, RSS {mb(run.rss_kb):.1f} MB, "
            f"archive {archive.stat().st_size / 1e6:.1f} MB ({backup_id})")
        if previous:
            shutil.rmtree(storage / previous, ignore_errors=True)
        previous = backup_id
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"backup_id_{args.label}.txt").write_text(previous + "\n")

    java = []
    if not args.no_java:
        for attempt in range(RUNS):
            run = measure(["java", "-cp", JAVA_CP, "bench.JavaDriverBench", uri, "neo4j", PASSWORD, "readall"])
            found = DRIVER_TIME.search(run.stdout)
            java.append({"rows": int(found.group(1)), "seconds": float(found.group(2)), "wall": run.seconds,
                         "rss_kb": run.rss_kb})
            say(f"java readall {args.label} #{attempt + 1}: {found.group(1)} rows in {found.group(2)} s "
                f"(wall {run.seconds:.2f} s)")

    store = du_bytes(home / "data" / "databases" / "neo4j")
    txlogs = du_bytes(home / "data" / "transactions" / "neo4j")
    backup_seconds = median([entry["seconds"] for entry in backups])
    result = {
        "label": args.label, "nodes": nodes, "relationships": rels,
        "backups": backups, "backup_median_seconds": backup_seconds,
        "backup_spread": spread([entry["seconds"] for entry in backups]),
        "backup_max_rss_kb": max(entry["rss_kb"] for entry in backups),
        "archive_bytes": backups[-1]["archive_bytes"], "store_bytes": store, "txlog_bytes": txlogs,
        "java": java,
    }
    print(f"[{args.label}] {nodes} nodes, {rels} relationships")
    print(f"  neo4j-backup --create: median {backup_seconds:.2f} s (spread {result['backup_spread']:.0%}), "
          f"peak RSS {mb(result['backup_max_rss_kb']):.1f} MB")
    print(f"  archive {result['archive_bytes'] / 1e6:.1f} MB vs store {store / 1e6:.1f} MB "
          f"(ratio {result['archive_bytes'] / store:.2f}; transaction logs {txlogs / 1e6:.1f} MB not counted)")
    if java:
        java_seconds = median([entry["seconds"] for entry in java])
        result["java_median_seconds"] = java_seconds
        result["java_spread"] = spread([entry["seconds"] for entry in java])
        ratio = backup_seconds / java_seconds
        result["ratio_backup_over_java"] = ratio
        print(f"  java driver read-all: median {java_seconds:.2f} s (spread {result['java_spread']:.0%})")
        print(f"  backup/java = {ratio:.2f} (target <= 1.2: {'met' if ratio <= 1.2 else 'NOT met'})")
    save(f"backup_{args.label}", result)


if __name__ == "__main__":
    main()
