#!/usr/bin/env python3
"""Benchmark 3 (issue 4): restore.

Into the empty destination server (wiped, untimed, before each run):
  ours          neo4j-restore --backup-id X --no-validate, then with validation,
                with the Bolt load (Cypher writes) and with the import load
                (--load import: CSV files written from the archive, the target
                stopped, neo4j-admin database import, started again, fix-ups,
                schema; the whole command is timed)
  python        bench/py_load.py: official Python driver, batched UNWIND ... CREATE
                (10k rows/batch), relationships matched by the indexed id (the
                restore operators hand-write)
  admin import  neo4j-admin database import full of the same data as CSV, on the
                stopped destination (the physical floor); then the server is
                started again and the id index built (reported separately)
The CSV files come from bench/export_csv.py (run against the source server
first; its time is reported but is not part of any comparison).

  bench/bench_restore.py --label 1M [--storage /tmp/bench-backups] [--csv /tmp/bench-csv]
                         [--skip-python] [--skip-import] [--loads bolt,import] [--skip-validated]

The backup id is read from bench/out/backup_id_<label>.txt (bench_backup.py).
BENCH_RESTORE_RUNS (default 1) sets how often each restore variant runs.
"""
import argparse
import os
import re
import subprocess
from pathlib import Path

from benchlib import (BUILD, BENCH, DST_URI, OUT, PASSWORD, REPO, SRC_URI, counts, measure, median, mb,
                      neo4j_home, save, say, spread, wipe)

DRIVER_TIME = re.compile(r"seconds=([0-9.]+)")
RUNS = int(os.environ.get("BENCH_RESTORE_RUNS", "1"))


PEAK = re.compile(r"peak memory ([0-9.]+) (KB|MB|GB)")


def restore_runs(backup_id, storage, validate, load, dst_server):
    env = {"BACKUP_STORAGE_PATH": str(storage), "BACKUP_MIN_FREE_PERCENT": "1", "TEST_NEO4J_URI": DST_URI,
           "TEST_NEO4J_USER": "neo4j", "TEST_NEO4J_PASSWORD": PASSWORD, "RESTORE_LOAD": load}
    if load == "import":
        local = REPO / "tools" / "neo4j-local"
        port = DST_URI.rsplit(":", 1)[1]
        env.update(TEST_NEO4J_HOME=neo4j_home(dst_server), TEST_NEO4J_STOP_COMMAND=f"{local} stop {dst_server}",
                   TEST_NEO4J_START_COMMAND=f"{local} start {dst_server} --bolt-port {port}")
    runs = []
    label = f"{load} {'validate' if validate else 'no-validate'}"
    for attempt in range(RUNS):
        wipe(DST_URI)
        command = [BUILD / "neo4j-restore", "--backup-id", backup_id]
        command.append("--validate" if validate else "--no-validate")
        run = measure(command, env)
        nodes, rels = counts(DST_URI)
        rss_kb = run.rss_kb
        peak = PEAK.search(run.stdout)
        if peak:  # /usr/bin/time reports the neo4j-admin JVM; ours is in the log
            rss_kb = int(float(peak.group(1)) * {"KB": 1, "MB": 1024, "GB": 1024 * 1024}[peak.group(2)])
        runs.append({"seconds": run.seconds, "rss_kb": rss_kb, "tree_rss_kb": run.rss_kb, "nodes": nodes,
                     "relationships": rels})
        say(f"restore {label} #{attempt + 1}: {run.seconds:.2f} s, RSS {mb(rss_kb):.1f} MB "
            f"(largest process {mb(run.rss_kb):.1f} MB), target now {nodes} nodes / {rels} relationships")
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="1M")
    parser.add_argument("--storage", default="/tmp/bench-backups")
    parser.add_argument("--csv", default="/tmp/bench-csv")
    parser.add_argument("--dst-server", default="bench-dst")
    parser.add_argument("--export-uri", default=SRC_URI,
                        help="server the CSV files are exported from when missing (default: the source)")
    parser.add_argument("--skip-restore", action="store_true", help="skip neo4j-restore runs")
    parser.add_argument("--skip-python", action="store_true")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--loads", default="bolt,import", help="restore loads to measure (bolt,import)")
    parser.add_argument("--skip-validated", action="store_true", help="only the --no-validate restore runs")
    args = parser.parse_args()

    backup_id = (OUT / f"backup_id_{args.label}.txt").read_text().strip()
    result = {"label": args.label, "backup_id": backup_id}
    loads = [load for load in args.loads.split(",") if load]
    if not args.skip_restore:
        for load in loads:
            suffix = "" if load == "bolt" else f"_{load}"
            result[f"no_validate{suffix}"] = restore_runs(backup_id, args.storage, False, load, args.dst_server)
            if not args.skip_validated:
                result[f"validate{suffix}"] = restore_runs(backup_id, args.storage, True, load, args.dst_server)

    csv_dir = Path(args.csv)
    if not (csv_dir / "rels.csv").exists():
        run = measure(["python3", BENCH / "export_csv.py", "--uri", args.export_uri, "--password", PASSWORD,
                       "--dir", csv_dir])
        result["csv_export_seconds"] = run.seconds
        say(f"CSV export: {run.seconds:.1f} s")

    if not args.skip_python:
        run = measure(["python3", BENCH / "py_load.py", "--uri", DST_URI, "--password", PASSWORD,
                       "--dir", csv_dir, "--batch", "10000"])
        seconds = float(DRIVER_TIME.findall(run.stdout)[-1])
        nodes, rels = counts(DST_URI)
        result["python"] = {"seconds": seconds, "wall": run.seconds, "rss_kb": run.rss_kb, "nodes": nodes,
                            "relationships": rels, "stdout": run.stdout.strip()}
        say(f"python UNWIND load: {seconds:.1f} s ({run.stdout.strip()}), RSS {mb(run.rss_kb):.1f} MB")

    if not args.skip_import:
        local = REPO / "tools" / "neo4j-local"
        home = neo4j_home(args.dst_server)
        subprocess.run([local, "stop", args.dst_server], check=False)
        run = measure([f"{home}/bin/neo4j-admin", "database", "import", "full", "neo4j", "--overwrite-destination",
                       "--id-type=integer", f"--nodes={csv_dir}/nodes.csv",
                       f"--relationships={csv_dir}/rels.csv"])
        result["admin_import"] = {"seconds": run.seconds, "rss_kb": run.rss_kb}
        say(f"neo4j-admin import: {run.seconds:.1f} s, RSS {mb(run.rss_kb):.1f} MB")
        subprocess.run([local, "start", args.dst_server], check=True, stdout=subprocess.DEVNULL)
        index = measure(["python3", "-c",
                         "import sys; sys.path.insert(0, sys.argv[1]); import benchlib; "
                         "benchlib.cypher(sys.argv[2], 'CREATE INDEX bench_id IF NOT EXISTS FOR (n:Bench) ON (n.id)');"
                         "benchlib.cypher(sys.argv[2], 'CALL db.awaitIndexes(600)')", BENCH, DST_URI])
        nodes, rels = counts(DST_URI)
        result["admin_import"].update({"index_seconds": index.seconds, "nodes": nodes, "relationships": rels})
        say(f"  then id index: {index.seconds:.1f} s; target {nodes} nodes / {rels} relationships")

    save(f"restore_{args.label}", result)
    if args.skip_restore:
        return
    for load in loads:
        suffix = "" if load == "bolt" else f"_{load}"
        if f"no_validate{suffix}" not in result:
            continue
        fastest = median([entry["seconds"] for entry in result[f"no_validate{suffix}"]])
        validated = median([entry["seconds"] for entry in result.get(f"validate{suffix}", [])])
        print(f"[{args.label}] neo4j-restore --load {load} --no-validate: median {fastest:.1f} s "
              f"(spread {spread([e['seconds'] for e in result[f'no_validate{suffix}']]):.0%}), "
              f"peak RSS {mb(max(e['rss_kb'] for e in result[f'no_validate{suffix}'])):.1f} MB")
        if f"validate{suffix}" in result:
            print(f"[{args.label}] neo4j-restore --load {load} (validate):    median {validated:.1f} s, "
                  f"peak RSS {mb(max(e['rss_kb'] for e in result[f'validate{suffix}'])):.1f} MB")
        if "python" in result:
            python = result["python"]["seconds"]
            print(f"  vs python UNWIND load {python:.1f} s: speed-up {python / fastest:.2f}x no-validate, "
                  f"{python / validated:.2f}x validated (target >= 3: "
                  f"{'met' if python >= 3 * fastest else 'NOT met'} / "
                  f"{'met' if python >= 3 * validated else 'NOT met'})")
        if "admin_import" in result:
            floor = result["admin_import"]["seconds"]
            print(f"  vs neo4j-admin import {floor:.1f} s (+ index {result['admin_import']['index_seconds']:.1f} s): "
                  f"ours/import {fastest / floor:.2f}x no-validate, {validated / floor:.2f}x validated "
                  f"(target <= 3: {'met' if fastest <= 3 * floor else 'NOT met'} / "
                  f"{'met' if validated <= 3 * floor else 'NOT met'})")


if __name__ == "__main__":
    main()
