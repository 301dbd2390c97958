#!/usr/bin/env python3
"""Object storage benchmark (issue 13): S3 against a local path, side by side
in one run, on the graph of restore_memory.py (N :Bench nodes, 3N
relationships, loaded with neo4j-admin import from generated CSV).

  a. neo4j-backup --create to S3Proxy (tools/s3-local) against the same
     backup to a local path; target: S3 <= 1.15x local;
  b. the finished archive uploaded with boto3 (upload_file, default
     TransferConfig) against `neo4j-backup --copy <id>` of the same backup
     to an s3:// second location (BACKUP_COPY_PATH); target: ours <= 1.0x
     boto3. Skipped ("skipped: --copy not available") when the binary has
     no --copy;
  c. neo4j-restore --load import --validate from S3 against the same
     restore from the local path, into a second (target) server;
  d. the peak RSS of each: the process's own VmHWM (benchlib.run_tracked),
     the neo4j-admin JVM of the import load excluded.

Pairs run back to back, in alternating order from one round to the next
(part a after one untimed warm-up backup), so both sides see the same load;
the load average is sampled every second of every run and printed with it
(the table: the lowest run mean .. the highest sample).

  bench/bench_s3.py [--nodes 1000000] [--parts a,b,c] [--runs 3] [--upload-runs 5]
                    [--build build-rel] [--reuse-graph] [--keep-servers]

Servers: sb-src (source, bolt --src-port 7841), sb-dst (restore target,
--dst-port 7842), sb-s3 (S3Proxy, --s3-port 9181); Neo4j heap/page cache
from NEO4J_LOCAL_HEAP / NEO4J_LOCAL_PAGECACHE (default 2g / 1g). --parts b
alone reuses the newest local backup of an earlier run (else creates one,
untimed). Results: stdout and bench/out/bench_s3.json (merged by part, so a
later `--parts b` run keeps the a/c figures). Never fails on speed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

os.environ.setdefault("NEO4J_LOCAL_HEAP", "2g")
os.environ.setdefault("NEO4J_LOCAL_PAGECACHE", "1g")

from benchlib import (OUT, PASSWORD, REPO, counts, label, load_graph, median, neo4j_local, restore,  # noqa: E402
                      run_tracked, say, write_csv)

S3_LOCAL = REPO / "tools" / "s3-local"
ARCHIVE = "graph.nbk.zst"
TARGET_BACKUP = 1.15
TARGET_UPLOAD = 1.0

# The boto3 side of part b, run as its own process so that its peak RSS is its
# own; prints the seconds of the upload_file call alone (client made before).
BOTO3_UPLOAD = textwrap.dedent("""\
    import sys, time
    import boto3
    from botocore.config import Config
    endpoint, bucket, path, key = sys.argv[1:]
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))
    started = time.monotonic()
    client.upload_file(path, bucket, key)
    print(f"upload_file_seconds={time.monotonic() - started:.3f}")
    """)


class S3:
    """The S3Proxy server of tools/s3-local, and the settings the tools need
    for s3://bucket/prefix on it."""

    def __init__(self, name, port):
        started = subprocess.run([str(S3_LOCAL), "start", name, "--kind", "s3proxy", "--port", str(port)],
                                 capture_output=True, text=True)
        if started.returncode != 0:
            raise SystemExit(f"tools/s3-local start {name} failed: {started.stderr[-2000:]}")
        access = dict(line.split("=", 1) for line in started.stdout.split())
        self.name = name
        self.endpoint = access["endpoint"]
        self.bucket = access["bucket"]
        self.credentials = {"AWS_ACCESS_KEY_ID": access["access_key"],
                            "AWS_SECRET_ACCESS_KEY": access["secret_key"]}

    def environment(self, state_dir):
        return {**self.credentials, "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": "us-east-1",
                "BACKUP_S3_URI_STYLE": "path", "BACKUP_STATE_DIR": str(state_dir)}

    def url(self, prefix):
        return f"s3://{self.bucket}/{prefix}"


def has_copy(binary):
    shown = subprocess.run([str(binary), "--help"], capture_output=True, text=True).stdout
    return any(line.lstrip().startswith("--copy") for line in shown.splitlines())


def backup_id_of(output):
    return next(line.split("Backup ID: ", 1)[1].split()[0] for line in output.splitlines() if "Backup ID: " in line)


def tracked(name, command, env, log_name):
    """One timed run; its figures as a dict (raises on failure)."""
    seconds, peak_kb, tree_kb, status, output, load_average, cpu_seconds = run_tracked(command, env, log_name)
    if status != 0:
        say(output[-3000:])
        raise SystemExit(f"{name} failed ({status}): {' '.join(map(str, command))}")
    say(f"  {name:28} {seconds:7.1f} s  CPU {cpu_seconds:6.1f} s  peak RSS {peak_kb / 1024:6.1f} MiB  "
        f"load {load_average[0]} (max {load_average[1]})")
    return {"seconds": round(seconds, 2), "cpu_seconds": cpu_seconds, "peak_kb": peak_kb, "tree_kb": tree_kb,
            "load_average": load_average, "output": output}


def newest_backup(binary, env):
    """The id of the newest COMPLETE backup of the storage in env, or None."""
    listed = subprocess.run([str(binary), "--list", "--json"], env={**os.environ, **env}, capture_output=True,
                            text=True)
    if listed.returncode != 0:
        return None
    backups = [entry for entry in json.loads(listed.stdout).get("backups", [])
               if str(entry.get("status", "")).upper() == "COMPLETE"]
    return max((entry["id"] for entry in backups), default=None)


def ratio(ours, base):
    return ours / base if base else float("nan")


def part_a(args, binary, env_local, env_s3):
    # The first backup after the server started reads a cold page cache and
    # JIT: one untimed run, so that round 1 is not skewed towards its first side.
    say("[a] warm-up: one untimed --create to local")
    tracked("--create (warm-up)", [binary, "--create"], env_local, "bench_s3_a_warmup.log")
    rounds = []
    for number in range(args.runs):
        order = ("local", "s3") if number % 2 == 0 else ("s3", "local")
        say(f"[a] round {number + 1}/{args.runs}: {' then '.join(order)}")
        entry = {}
        for side in order:
            env = env_local if side == "local" else env_s3
            run = tracked(f"--create to {side}", [binary, "--create"], env, f"bench_s3_a_{side}_{number}.log")
            run["backup_id"] = backup_id_of(run.pop("output"))
            entry[side] = run
        rounds.append(entry)
    return summarise(rounds, "local", "s3")


def part_b(args, binary, env_local, s3, state_dir, backup_id, storage):
    if not has_copy(binary):
        print("skipped: --copy not available")
        return {"skipped": "--copy not available"}
    archive = Path(storage) / backup_id / ARCHIVE
    size = archive.stat().st_size
    sides = ["boto3", "copy"] + [f"copy-pif{n}" for n in args.copy_parts_in_flight]
    rounds = []
    for number in range(args.upload_runs):
        shift = number % len(sides)
        order = sides[shift:] + sides[:shift]
        say(f"[b] round {number + 1}/{args.upload_runs}: {' then '.join(order)} ({size / 2**20:.1f} MiB)")
        entry = {}
        for side in order:
            prefix = f"bench-b-{side}-{uuid.uuid4().hex[:8]}"
            if side == "boto3":
                env = {**s3.credentials, "AWS_EC2_METADATA_DISABLED": "true"}
                run = tracked("boto3 upload_file", [sys.executable, "-c", BOTO3_UPLOAD, s3.endpoint, s3.bucket,
                                                    archive, f"{prefix}/{ARCHIVE}"], env,
                              f"bench_s3_b_boto3_{number}.log")
                call = [line for line in run.pop("output").splitlines() if "upload_file_seconds=" in line]
                run["call_seconds"] = float(call[-1].split("=", 1)[1]) if call else None
            else:
                env = {**env_local, **s3.environment(state_dir), "BACKUP_COPY_PATH": s3.url(prefix)}
                if side != "copy":
                    env["BACKUP_S3_PARTS_IN_FLIGHT"] = side.rsplit("pif", 1)[1]
                run = tracked(f"--copy to s3 ({side})", [binary, "--copy", backup_id], env,
                              f"bench_s3_b_{side}_{number}.log")
                run.pop("output")
            entry[side] = run
        rounds.append(entry)
    result = summarise(rounds, "boto3", "copy")
    result["archive_bytes"] = size
    calls = [entry["boto3"]["call_seconds"] for entry in rounds if entry["boto3"]["call_seconds"] is not None]
    result["boto3_call_median"] = round(median(calls), 2) if calls else None
    result["call_round_ratios"] = [round(ratio(entry["copy"]["seconds"], entry["boto3"]["call_seconds"]), 3)
                                   for entry in rounds if entry["boto3"]["call_seconds"]]
    result["variants"] = {}
    for side in sides[2:]:
        times = [entry[side]["seconds"] for entry in rounds]
        result["variants"][side] = {
            "median": round(median(times), 2), "peak_kb": max(entry[side]["peak_kb"] for entry in rounds),
            "cpu_median": round(median([entry[side]["cpu_seconds"] for entry in rounds]), 2),
            "ratio": round(ratio(median(times), result["boto3_median"]), 3),
            "call_ratio": round(ratio(median(times), result["boto3_call_median"] or 0), 3)}
    return result


def part_c(args, binary_restore, target, backups):
    home = neo4j_local("home", target, "--bolt-port", str(args.dst_port)).stdout.strip()
    uri = neo4j_local("start", target, "--bolt-port", str(args.dst_port)).stdout.strip()
    rounds = []
    for number in range(args.restore_runs):
        runs = {}
        for side in (("local", "s3") if number % 2 == 0 else ("s3", "local")):
            storage, backup_id, extra = backups[side]
            say(f"[c] round {number + 1}/{args.restore_runs}: restore --load import --validate of {backup_id} "
                f"from {side}")
            run = restore(binary_restore, backup_id, storage, uri, home, target, args.dst_port, "import", True,
                          f"bench_s3_c_{side}_{number}.log", extra)
            run["backup_id"] = backup_id
            say(f"  restore from {side:14} {run['seconds']:7.1f} s  CPU {run['cpu_seconds']:6.1f} s  peak RSS "
                f"{run['peak_kb'] / 1024:6.1f} MiB  load {run['load_average'][0]} (max {run['load_average'][1]})  "
                f"health checks {run['health_seconds']} s")
            runs[side] = run
        rounds.append(runs)
    have = counts(uri)
    say(f"[c] target holds {have[0]} nodes / {have[1]} relationships")
    result = summarise(rounds, "local", "s3")
    result["target_counts"] = have
    return result


def summarise(rounds, base, ours):
    """Medians of both sides, their ratio, and every round's ratio."""
    result = {"rounds": rounds}
    for side in (base, ours):
        result[f"{side}_median"] = round(median([entry[side]["seconds"] for entry in rounds]), 2)
        result[f"{side}_peak_kb"] = max(entry[side]["peak_kb"] for entry in rounds)
        cpu = [entry[side].get("cpu_seconds") for entry in rounds]
        result[f"{side}_cpu_median"] = round(median(cpu), 2) if None not in cpu else None
    result["ratio"] = round(ratio(result[f"{ours}_median"], result[f"{base}_median"]), 3)
    result["round_ratios"] = [round(ratio(entry[ours]["seconds"], entry[base]["seconds"]), 3) for entry in rounds]
    result["rss_ratio"] = round(ratio(result[f"{ours}_peak_kb"], result[f"{base}_peak_kb"]), 3)
    return result


def loads_of(rounds):
    values = [side["load_average"] for entry in rounds for side in entry.values()]
    return (min(v[0] for v in values), max(v[1] for v in values)) if values else None


def report(nodes, results):
    print(f"\nObject storage against a local path, {label(nodes)} nodes / {label(3 * nodes)} relationships "
          f"(medians; peak RSS = the process's own VmHWM, MiB)")
    print(f"{'part':34} {'local/base':>11} {'S3/ours':>9} {'ratio':>7} {'RSS base':>9} {'RSS ours':>9} "
          f"{'RSS x':>6}  {'load mean..max':21} verdict")

    def row(name, result, base, ours, base_s, ours_s, target):
        load = loads_of(result["rounds"])
        verdict = "" if target is None else ("met" if result["ratio"] <= target else "NOT met")
        if target is not None:
            verdict += f" (<= {target}x)"
        print(f"{name:34} {base_s:10.2f}s {ours_s:8.2f}s {result['ratio']:6.3f}x "
              f"{result[base] / 1024:8.1f} {result[ours] / 1024:8.1f} {result['rss_ratio']:5.2f}x  "
              f"{load[0]:>5} .. {load[1]:<13} {verdict}")

    if "a" in results:
        r = results["a"]
        row("a. --create: local / S3Proxy", r, "local_peak_kb", "s3_peak_kb", r["local_median"], r["s3_median"],
            TARGET_BACKUP)
        print(f"   per round (S3/local): {', '.join(f'{x:.3f}' for x in r['round_ratios'])}; "
              f"CPU seconds (median): local {r.get('local_cpu_median')}, S3 {r.get('s3_cpu_median')}")
    if "b" in results:
        r = results["b"]
        if "skipped" in r:
            print("b. upload: skipped: --copy not available")
        else:
            row("b. upload: boto3 / --copy", r, "boto3_peak_kb", "copy_peak_kb", r["boto3_median"],
                r["copy_median"], TARGET_UPLOAD)
            print(f"   per round (copy/boto3): {', '.join(f'{x:.3f}' for x in r['round_ratios'])}; "
                  f"boto3's upload_file call alone (no interpreter start, import, client): "
                  f"{r['boto3_call_median']} s, copy/call = "
                  f"{ratio(r['copy_median'], r['boto3_call_median'] or 0):.3f}x; archive "
                  f"{r['archive_bytes'] / 2**20:.1f} MiB; CPU seconds (median): boto3 "
                  f"{r.get('boto3_cpu_median')}, copy {r.get('copy_cpu_median')}")
            print(f"   per round (copy/upload_file call): {', '.join(f'{x:.3f}' for x in r.get('call_round_ratios', []))}")
            for side, variant in r.get("variants", {}).items():
                print(f"   {side}: median {variant['median']} s, /boto3 {variant['ratio']}x, /call "
                      f"{variant['call_ratio']}x, peak RSS {variant['peak_kb'] / 1024:.1f} MiB, "
                      f"CPU {variant['cpu_median']} s")
    if "c" in results:
        r = results["c"]
        row("c. restore --load import --validate", r, "local_peak_kb", "s3_peak_kb", r["local_median"],
            r["s3_median"], None)
        for number, runs in enumerate(r["rounds"]):
            print(f"   round {number + 1}: local {runs['local']['seconds']} s (health checks "
                  f"{runs['local']['health_seconds']} s, CPU with the neo4j-admin JVM {runs['local'].get('cpu_seconds')} s), "
                  f"S3 {runs['s3']['seconds']} s ({runs['s3']['health_seconds']} s, {runs['s3'].get('cpu_seconds')} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000000)
    parser.add_argument("--parts", default="a,b,c", help="any of a,b,c (d, peak RSS, comes with each)")
    parser.add_argument("--runs", type=int, default=3, help="rounds of part a")
    parser.add_argument("--upload-runs", type=int, default=5, help="rounds of part b")
    parser.add_argument("--copy-parts-in-flight", type=lambda text: [int(n) for n in text.split(",") if n],
                        default=[], help="part b: also --copy with BACKUP_S3_PARTS_IN_FLIGHT=N (comma list)")
    parser.add_argument("--restore-runs", type=int, default=1, help="rounds of part c (order alternates)")
    parser.add_argument("--build", default=str(REPO / "build-rel"))
    parser.add_argument("--server", default="sb-src")
    parser.add_argument("--src-port", type=int, default=7841)
    parser.add_argument("--target", default="sb-dst")
    parser.add_argument("--dst-port", type=int, default=7842)
    parser.add_argument("--s3", default="sb-s3")
    parser.add_argument("--s3-port", type=int, default=9181)
    parser.add_argument("--work", default="/tmp/sb-bench", help="local storage, state and CSV directory")
    parser.add_argument("--reuse-graph", action="store_true", help="keep a source graph whose counts match")
    parser.add_argument("--keep-servers", action="store_true")
    args = parser.parse_args()

    parts = [part for part in args.parts.split(",") if part]
    build = Path(args.build)
    backup_bin, restore_bin = build / "neo4j-backup", build / "neo4j-restore"
    work = Path(args.work)
    storage, state_dir, csv_dir = work / "backups", work / "state", work / "csv"
    OUT.mkdir(parents=True, exist_ok=True)
    results_path = OUT / "bench_s3.json"
    saved = json.loads(results_path.read_text()) if results_path.exists() else {}
    if saved.get("nodes") != args.nodes:
        saved = {"nodes": args.nodes}
    if "a" in parts and storage.exists():
        shutil.rmtree(storage)
    storage.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)

    s3 = S3(args.s3, args.s3_port)
    say(f"S3Proxy {args.s3} at {s3.endpoint}, bucket {s3.bucket}")
    uri = neo4j_local("start", args.server, "--bolt-port", str(args.src_port)).stdout.strip()
    have = counts(uri)
    if args.reuse_graph and have == [args.nodes, 3 * args.nodes]:
        say(f"reusing the graph on {args.server}: {have[0]} nodes / {have[1]} relationships")
    else:
        if args.reuse_graph:
            say(f"{args.server} holds {have[0]} nodes / {have[1]} relationships: loading the graph again")
        shutil.rmtree(csv_dir, ignore_errors=True)
        csv_seconds = write_csv(csv_dir, args.nodes)
        _, uri, import_seconds = load_graph(args.server, args.src_port, args.nodes, csv_dir)
        shutil.rmtree(csv_dir, ignore_errors=True)
        have = counts(uri)
        say(f"graph {have[0]} nodes / {have[1]} relationships (CSV {csv_seconds:.0f} s, import {import_seconds:.0f} s)")
        saved["graph"] = {"csv_seconds": round(csv_seconds, 1), "import_seconds": round(import_seconds, 1)}

    common = {"NEO4J_URI": uri, "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": PASSWORD, "BACKUP_COMPRESSION": "zstd",
              "BACKUP_MIN_FREE_PERCENT": "1"}
    env_local = {**common, "BACKUP_STORAGE_PATH": str(storage)}
    s3_prefix = f"bench-a-{time.strftime('%Y%m%d%H%M%S')}"
    env_s3 = {**common, **s3.environment(state_dir), "BACKUP_STORAGE_PATH": s3.url(s3_prefix)}
    saved["binary"] = str(build)

    if "a" in parts:
        saved["a"] = part_a(args, backup_bin, env_local, env_s3)
        last = saved["a"]["rounds"][-1]
        saved["backups"] = {"local": last["local"]["backup_id"], "s3": last["s3"]["backup_id"],
                            "s3_prefix": s3_prefix}
    backups = saved.get("backups", {})
    if "b" in parts or "c" in parts:
        local_id = backups.get("local") or newest_backup(backup_bin, env_local)
        if not local_id or not (storage / local_id).exists():
            say("[b/c] no local backup: creating one (untimed)")
            local_id = backup_id_of(tracked("--create to local", [backup_bin, "--create"], env_local,
                                            "bench_s3_local_setup.log")["output"])
        backups["local"] = local_id
    if "c" in parts and not backups.get("s3"):
        say("[c] no S3 backup: creating one (untimed)")
        backups["s3"] = backup_id_of(tracked("--create to s3", [backup_bin, "--create"], env_s3,
                                             "bench_s3_s3_setup.log")["output"])
        backups["s3_prefix"] = s3_prefix
    saved["backups"] = backups
    if "b" in parts:
        saved["b"] = part_b(args, backup_bin, env_local, s3, state_dir, backups["local"], storage)
    if "c" in parts:
        env_s3_restore = {**s3.environment(state_dir)}
        saved["c"] = part_c(args, restore_bin, args.target, {
            "local": (storage, backups["local"], None),
            "s3": (s3.url(backups["s3_prefix"]), backups["s3"], env_s3_restore)})
    saved["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    results_path.write_text(json.dumps(saved, indent=2) + "\n")
    say(f"wrote {results_path}")
    report(args.nodes, {part: saved[part] for part in ("a", "b", "c") if part in saved})

    if not args.keep_servers:
        neo4j_local("stop", args.server, check=False)
        neo4j_local("stop", args.target, check=False)
        subprocess.run([str(S3_LOCAL), "stop", args.s3], capture_output=True)


if __name__ == "__main__":
    main()
