#!/usr/bin/env python3
"""Restore memory benchmark (issue 16): peak RSS of neo4j-restore against the
graph size, for both loads, with validation, and the slope in bytes per node
against the target 32 MB + 16 B/node.

For each size N (nodes; 3N relationships):
  1. CSV files for N nodes / 3N relationships are generated here (fast, no
     server work) and loaded with `neo4j-admin database import full` into the
     stopped server (default mem-bench, bolt port 7795), which is started again
     and gets an index on :Bench(id);
  2. neo4j-backup --create takes the backup (zstd);
  3. every binary (--build, and --compare for e.g. a build of main) restores it
     back into the same server, with the Bolt load and with the import load,
     validated (the health checks read the whole graph back, fingerprint
     included); --no-validate-too adds the unvalidated runs.

Peak RSS is neo4j-restore's own high-water mark (VmHWM of /proc/<pid>/status,
polled every 50 ms; monotonic, so the last reading is the peak up to then):
the import load runs neo4j-admin, a JVM of 1-2 GB, as a child, which
/usr/bin/time -v and getrusage(RUSAGE_CHILDREN) would report instead. The
wait4() figure (process tree) is printed beside it.

  bench/restore_memory.py [--sizes 100000,300000,1000000] [--loads bolt,import]
                          [--build build-bench] [--compare main=/tmp/main-build]
                          [--server mem-bench] [--port 7795] [--no-validate-too]

Sizes up to 10M work (neo4j-admin imports 10M/30M in minutes; the Bolt load
then takes long: use --loads import there). Results: stdout and
bench/out/restore_memory.json. Wall times are printed too but are noisy on a
shared machine; RSS is not.
"""
import argparse
import json
import shutil
from pathlib import Path

from benchlib import OUT, PASSWORD, REPO, counts, label, load_graph, restore, run_tracked, say, write_csv

TARGET_BASE_MB = 32
TARGET_BYTES_PER_NODE = 16


def target_mb(nodes):
    return TARGET_BASE_MB + TARGET_BYTES_PER_NODE * nodes / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--loads", default="bolt,import")
    parser.add_argument("--build", default=str(REPO / "build-bench"), help="build directory of the version measured")
    parser.add_argument("--compare", action="append", default=[],
                        help="NAME=BUILD_DIR of another version to measure side by side (e.g. main=/tmp/main-build)")
    parser.add_argument("--server", default="mem-bench")
    parser.add_argument("--port", type=int, default=7795)
    parser.add_argument("--storage", default="/tmp/mem-bench-backups")
    parser.add_argument("--csv", default="/tmp/mem-bench-csv")
    parser.add_argument("--no-validate-too", action="store_true")
    args = parser.parse_args()

    binaries = {"ours": Path(args.build)}
    for item in args.compare:
        name, _, directory = item.partition("=")
        binaries[name] = Path(directory)
    sizes = [int(size) for size in args.sizes.split(",")]
    loads = [load for load in args.loads.split(",") if load]
    variants = [True] + ([False] if args.no_validate_too else [])
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    for nodes in sizes:
        csv_dir = Path(args.csv)
        shutil.rmtree(csv_dir, ignore_errors=True)
        csv_seconds = write_csv(csv_dir, nodes)
        home, uri, import_seconds = load_graph(args.server, args.port, nodes, csv_dir)
        shutil.rmtree(csv_dir, ignore_errors=True)
        have = counts(uri)
        say(f"[{label(nodes)}] graph {have[0]} nodes / {have[1]} relationships (CSV {csv_seconds:.0f} s, "
            f"import {import_seconds:.0f} s)")
        storage = Path(args.storage)
        shutil.rmtree(storage, ignore_errors=True)
        storage.mkdir(parents=True)
        backup_env = {"NEO4J_URI": uri, "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": PASSWORD,
                      "BACKUP_STORAGE_PATH": str(storage), "BACKUP_COMPRESSION": "zstd",
                      "BACKUP_MIN_FREE_PERCENT": "1"}  # as the restores: shared benchmark disks run fuller
        seconds, peak_kb, _, status, output, load_average, _ = run_tracked(
            [binaries["ours"] / "neo4j-backup", "--create"], backup_env, f"restore_memory_{label(nodes)}_backup.log")
        if status != 0:
            say(output[-3000:])
            raise SystemExit("backup failed")
        backup_id = next(line.split("Backup ID: ", 1)[1].split()[0] for line in output.splitlines()
                         if "Backup ID: " in line)
        say(f"[{label(nodes)}] backup {backup_id}: {seconds:.0f} s, peak RSS {peak_kb / 1024:.1f} MB, "
            f"load average {load_average[0]} (max {load_average[1]})")
        entry = {"nodes": nodes, "csv_seconds": round(csv_seconds, 1), "import_seconds": round(import_seconds, 1),
                 "backup_id": backup_id, "backup_seconds": round(seconds, 1), "backup_peak_kb": peak_kb,
                 "backup_load_average": load_average, "runs": []}
        results.append(entry)
        for name, build in binaries.items():
            for load in loads:
                for validate in variants:
                    log_name = (f"restore_memory_{label(nodes)}_{name}_{load}_"
                                f"{'validated' if validate else 'novalidate'}.log")
                    run = restore(build / "neo4j-restore", backup_id, storage, uri, home, args.server, args.port,
                                  load, validate, log_name)
                    run.update(binary=name, load=load, validate=validate)
                    entry["runs"].append(run)
                    say(f"[{label(nodes)}] {name:6} --load {load:6} {'validated' if validate else 'no-validate'}: "
                        f"{run['seconds']:.0f} s (health checks {run['health_seconds']} s), "
                        f"peak RSS {run['peak_kb'] / 1024:.1f} MB (process tree {run['tree_kb'] / 1024:.0f} MB), "
                        f"target {target_mb(nodes):.1f} MB, load average {run['load_average'][0]} "
                        f"(max {run['load_average'][1]})")
                    (OUT / "restore_memory.json").write_text(json.dumps(results, indent=2) + "\n")

    print(f"\nPeak RSS of neo4j-restore (MB) against the target {TARGET_BASE_MB} MB + "
          f"{TARGET_BYTES_PER_NODE} B/node; slope = bytes per node between consecutive sizes")
    print(f"{'version':8} {'load':7} {'valid.':7} " + " ".join(f"{label(n):>9}" for n in sizes) +
          "  slopes (B/node)          verdict")
    for name in binaries:
        for load in loads:
            for validate in variants:
                peaks = []
                for entry in results:
                    run = next(r for r in entry["runs"] if r["binary"] == name and r["load"] == load
                               and r["validate"] == validate)
                    peaks.append(run["peak_kb"] * 1024)
                slopes = [(peaks[i + 1] - peaks[i]) / (sizes[i + 1] - sizes[i]) for i in range(len(sizes) - 1)]
                met = all(peak <= target_mb(n) * 2**20 for peak, n in zip(peaks, sizes))
                print(f"{name:8} {load:7} {'yes' if validate else 'no':7} " +
                      " ".join(f"{peak / 2**20:9.1f}" for peak in peaks) + "  " +
                      ", ".join(f"{slope:.1f}" for slope in slopes).ljust(24) +
                      f" {'met' if met else 'NOT met'}")
    print("targets: " + ", ".join(f"{label(n)} {target_mb(n):.1f} MB" for n in sizes))


if __name__ == "__main__":
    main()
