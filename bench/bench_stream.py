#!/usr/bin/env python3
"""Benchmark 1 (issue 2): Bolt streaming throughput.

Streams every :Bench node of the source server with three clients and
reports records/second (median of BENCH_RUNS runs), the ratios against the
official drivers, and the peak RSS of our client:
  ours    build-bench/bolt_query --count-only QUERY
  java    bench/java (org.neo4j.driver:neo4j-java-driver)
  python  bench/py_stream.py (pip package neo4j)
Each client's time is its own in-process measurement from connect to the last
record (so JVM/interpreter start-up is excluded); the process wall time is
kept in the JSON as well.

  bench/bench_stream.py [--uri bolt://127.0.0.1:7781]
"""
import argparse
import os
import re

from benchlib import (BUILD, JAVA_CP, PASSWORD, RUNS, SRC_URI, BENCH, measure, median, mb, save, say,
                      spread)

QUERIES = {
    "props": "MATCH (n:Bench) RETURN n.id, n.name, n.score",
    "node": "MATCH (n:Bench) RETURN n",
}
OURS_TIME = re.compile(r"(\d+) rows in ([0-9.]+) s")
PY_NODE_RUNS = int(os.environ.get("BENCH_PY_NODE_RUNS", "1"))
DRIVER_TIME = re.compile(r"rows=(\d+) seconds=([0-9.]+)")


def client_command(client, uri, query):
    if client == "ours":
        return [BUILD / "bolt_query", "--uri", uri, "--password", PASSWORD, "--count-only", query]
    if client == "java":
        return ["java", "-cp", JAVA_CP, "bench.JavaDriverBench", uri, "neo4j", PASSWORD, "stream", query]
    return ["python3", BENCH / "py_stream.py", "--uri", uri, "--password", PASSWORD, query]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", default=SRC_URI)
    parser.add_argument("--queries", default=",".join(QUERIES), help="subset of: " + ",".join(QUERIES))
    parser.add_argument("--clients", default="ours,java,python")
    parser.add_argument("--name", default="stream", help="name of the JSON file in bench/out")
    args = parser.parse_args()
    queries = {name: QUERIES[name] for name in args.queries.split(",")}
    clients = args.clients.split(",")

    results = {}
    for query_name, query in queries.items():
        for client in clients:
            runs = []
            # The Python driver takes minutes for whole nodes: one run there.
            repetitions = PY_NODE_RUNS if (client, query_name) == ("python", "node") else RUNS
            for attempt in range(repetitions):
                run = measure(client_command(client, args.uri, query))
                pattern = OURS_TIME if client == "ours" else DRIVER_TIME
                found = pattern.search(run.stderr if client == "ours" else run.stdout)
                rows, seconds = int(found.group(1)), float(found.group(2))
                runs.append({"rows": rows, "seconds": seconds, "wall": run.seconds, "rss_kb": run.rss_kb})
                say(f"stream {query_name} {client} #{attempt + 1}: {rows} rows in {seconds:.2f} s "
                    f"({rows / seconds:,.0f}/s, wall {run.seconds:.2f} s, RSS {mb(run.rss_kb):.1f} MB)")
            seconds = [run["seconds"] for run in runs]
            results[f"{query_name}/{client}"] = {
                "query": query, "runs": runs, "rows": runs[0]["rows"],
                "median_seconds": median(seconds), "spread": spread(seconds),
                "records_per_second": runs[0]["rows"] / median(seconds),
                "max_rss_kb": max(run["rss_kb"] for run in runs),
            }
    print(f"{'query':6} {'client':7} {'rows':>9} {'median s':>9} {'records/s':>11} {'spread':>7} {'peak RSS MB':>12}")
    for key, entry in results.items():
        query_name, client = key.split("/")
        print(f"{query_name:6} {client:7} {entry['rows']:>9} {entry['median_seconds']:>9.2f} "
              f"{entry['records_per_second']:>11,.0f} {entry['spread']:>7.0%} {mb(entry['max_rss_kb']):>12.1f}")
    for query_name in queries:
        if f"{query_name}/ours" not in results:
            continue
        ours = results[f"{query_name}/ours"]["records_per_second"]
        rss = mb(results[f"{query_name}/ours"]["max_rss_kb"])
        line = f"{query_name}: our peak RSS {rss:.1f} MB (target < 32: {'met' if rss < 32 else 'NOT met'})"
        if f"{query_name}/java" in results:
            java = results[f"{query_name}/java"]["records_per_second"]
            line += f", ours/java = {ours / java:.2f} (target >= 1.0: {'met' if ours >= java else 'NOT met'})"
        if f"{query_name}/python" in results:
            python = results[f"{query_name}/python"]["records_per_second"]
            line += f", ours/python = {ours / python:.2f} (target >= 2: {'met' if ours >= 2 * python else 'NOT met'})"
        print(line)
    save(args.name, results)


if __name__ == "__main__":
    main()
