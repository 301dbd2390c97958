#!/usr/bin/env python3
"""Encryption at rest benchmark (issue 14): backup and restore (--load
import, validated), encrypted against unencrypted, side by side in one run
on one graph, with time, archive size and peak RSS, and the ratios
encrypted / unencrypted (targets: time within 3 %, size within 1 %, peak RSS
unchanged).

The issue's size is 1M nodes / 3M relationships; on the shared 2-core
machine the default is 200k / 600k (--nodes 1000000 for the full size). The
graph comes from benchlib's generator and loader (CSV, then
neo4j-admin import into the server), its measuring helper (run_tracked: the
process's own VmHWM) and its restore runner are reused, not copied.

For each of --runs rounds, both variants run, in alternating order (noise on
a shared machine hits both): first both neo4j-backup --create (zstd), each
into its own repository, of the same graph; then both neo4j-restore --load
import --validate of those backups back into the same server (a restore
renumbers the nodes, so the next round's archives differ a little in size
from this round's, but never between the two variants of a round). Medians
are compared.

  bench/bench_crypto.py [--nodes 200000] [--runs 3] [--build build-bench]
                        [--server crypt-bench] [--port 7796]

Results: stdout and bench/out/bench_crypto.json.
"""
import argparse
import json
import shutil
import statistics
import subprocess
from pathlib import Path

from benchlib import OUT, PASSWORD, REPO, counts, label, load_graph, restore, run_tracked, say, write_csv

VARIANTS = ("unencrypted", "encrypted")


def archive_bytes(storage, backup_id):
    manifest = json.loads((storage / backup_id / "manifest.json").read_text())
    return manifest["archive"]["size_compressed"]


def backup(binary, uri, storage, key_file, log_name):
    env = {"NEO4J_URI": uri, "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": PASSWORD, "BACKUP_STORAGE_PATH": str(storage),
           "BACKUP_COMPRESSION": "zstd", "BACKUP_MIN_FREE_PERCENT": "1"}
    if key_file:
        env["BACKUP_ENCRYPTION_KEY_FILE"] = str(key_file)
    seconds, peak_kb, _, status, output, load_average, cpu_seconds = run_tracked([binary, "--create"], env, log_name)
    if status != 0:
        say(output[-3000:])
        raise SystemExit("backup failed")
    backup_id = next(line.split("Backup ID: ", 1)[1].split()[0] for line in output.splitlines()
                     if "Backup ID: " in line)
    return backup_id, {"seconds": round(seconds, 2), "cpu_seconds": cpu_seconds, "peak_kb": peak_kb,
                       "load_average": load_average,
                       "archive_bytes": archive_bytes(storage, backup_id)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=200000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--build", default=str(REPO / "build-bench"))
    parser.add_argument("--server", default="crypt-bench")
    parser.add_argument("--port", type=int, default=7796)
    parser.add_argument("--work", default="/tmp/crypt-bench")
    args = parser.parse_args()

    build = Path(args.build)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    OUT.mkdir(parents=True, exist_ok=True)
    key_file = work / "bench.key"
    subprocess.run([build / "neo4j-backup", "--generate-key", key_file], check=True, capture_output=True)

    csv_seconds = write_csv(work / "csv", args.nodes)
    home, uri, import_seconds = load_graph(args.server, args.port, args.nodes, work / "csv")
    shutil.rmtree(work / "csv", ignore_errors=True)
    have = counts(uri)
    say(f"[{label(args.nodes)}] graph {have[0]} nodes / {have[1]} relationships "
        f"(CSV {csv_seconds:.0f} s, import {import_seconds:.0f} s)")

    results = {"nodes": args.nodes, "relationships": have[1], "runs": []}
    for round_number in range(args.runs):
        order = VARIANTS if round_number % 2 == 0 else tuple(reversed(VARIANTS))
        made = {}
        # Both backups first, of the same graph: a restore renumbers the nodes, which
        # changes how well the next archive compresses.
        for variant in order:
            storage = work / f"repo-{variant}"
            storage.mkdir(exist_ok=True)
            key = key_file if variant == "encrypted" else None
            tag = f"crypt_{label(args.nodes)}_{variant}_{round_number}"
            made[variant] = backup(build / "neo4j-backup", uri, storage, key, f"{tag}_backup.log")
        for variant in order:
            storage = work / f"repo-{variant}"
            key = key_file if variant == "encrypted" else None
            tag = f"crypt_{label(args.nodes)}_{variant}_{round_number}"
            backup_id, figures = made[variant]
            restored = restore(build / "neo4j-restore", backup_id, storage, uri, home, args.server, args.port,
                               "import", True, f"{tag}_restore.log",
                               extra_env={"BACKUP_ENCRYPTION_KEY_FILE": str(key)} if key else None)
            run = {"variant": variant, "round": round_number, "backup": figures, "restore": restored}
            results["runs"].append(run)
            say(f"[{label(args.nodes)}] round {round_number} {variant:11}: backup {figures['seconds']:.1f} s, "
                f"{figures['archive_bytes'] / 2**20:.3f} MiB, RSS {figures['peak_kb'] / 1024:.1f} MB | restore "
                f"{restored['seconds']:.1f} s, RSS {restored['peak_kb'] / 1024:.1f} MB "
                f"(load {figures['load_average'][0]}/{restored['load_average'][0]})")
            (OUT / "bench_crypto.json").write_text(json.dumps(results, indent=2) + "\n")

    def med(variant, phase, key):
        return statistics.median(run[phase][key] for run in results["runs"] if run["variant"] == variant)

    # CPU time (user + system of the process, the neo4j-admin JVM included for the
    # import restore) is what encryption adds to; wall time follows the machine's load.
    rows = [("backup time (s)", "backup", "seconds", 1), ("backup CPU (s)", "backup", "cpu_seconds", 1),
            ("backup peak RSS (MB)", "backup", "peak_kb", 1 / 1024),
            ("archive size (MiB)", "backup", "archive_bytes", 1 / 2**20),
            ("restore --load import time (s)", "restore", "seconds", 1),
            ("restore CPU, with neo4j-admin (s)", "restore", "cpu_seconds", 1),
            ("restore peak RSS (MB)", "restore", "peak_kb", 1 / 1024)]
    summary = {}
    print(f"\n{label(args.nodes)} nodes / {have[1]} relationships, median of {args.runs} runs each")
    print(f"{'':32} {'unencrypted':>12} {'encrypted':>12} {'ratio':>8}")
    for title, phase, key, scale in rows:
        plain, secret = med("unencrypted", phase, key), med("encrypted", phase, key)
        summary[title] = {"unencrypted": plain, "encrypted": secret, "ratio": secret / plain if plain else None}
        print(f"{title:32} {plain * scale:12.2f} {secret * scale:12.2f} {secret / plain:8.4f}")
    results["summary"] = summary
    (OUT / "bench_crypto.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
