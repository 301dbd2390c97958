#!/usr/bin/env python3
"""The restore operators write by hand, as the baseline of the restore
benchmark: the official Python driver loads bench/export_csv.py's CSV files
with batched `UNWIND $rows AS row CREATE ...` (10,000 rows per batch), nodes
first, then relationships whose ends are matched by the indexed `id`.

  bench/py_load.py --uri bolt://127.0.0.1:7782 --dir /tmp/bench-csv [--batch 10000]

Wipes the target database first (not timed). Prints "seconds=S" for the load.
"""
import argparse
import csv
import datetime
import os
import re
import sys
import time

import neo4j
from neo4j.spatial import CartesianPoint

POINT = re.compile(r"\{x:([^,]+),y:([^,]+),crs:cartesian\}")


def batches(rows, size):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def node_rows(path):
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for (node_id, labels, name, score, active, tags, weights, born, loc) in reader:
            x, y = POINT.fullmatch(loc).groups()
            yield labels, {"id": int(node_id), "name": name, "score": float(score), "active": active == "true",
                           "tags": tags.split(";"), "weights": [float(w) for w in weights.split(";")],
                           "born": datetime.date.fromisoformat(born),
                           "loc": CartesianPoint((float(x), float(y)))}


def rel_rows(path):
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for (start, end, rel_type, weight, since, primary, note) in reader:
            yield rel_type, {"s": int(start), "e": int(end),
                             "p": {"weight": float(weight), "since": int(since),
                                   "primary": primary == "true", "note": note}}


def load_grouped(session, rows, size, query_for_key):
    """Sends each batch split by its key (label set or type): Cypher cannot
    take a label or type from a parameter."""
    count = 0
    for batch in batches(rows, size):
        groups = {}
        for key, row in batch:
            groups.setdefault(key, []).append(row)
        for key, group in groups.items():
            session.execute_write(lambda tx, q=query_for_key(key), g=group: tx.run(q, rows=g).consume())
        count += len(batch)
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7782"))
    parser.add_argument("--user", default="neo4j")
    parser.add_argument("--password", default=os.environ.get("NEO4J_PASSWORD", "backup-test-pw"))
    parser.add_argument("--dir", required=True)
    parser.add_argument("--batch", type=int, default=10000)
    args = parser.parse_args()

    with neo4j.GraphDatabase.driver(args.uri, auth=(args.user, args.password)) as driver:
        with driver.session(database="neo4j") as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
            for index in session.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"):
                session.run(f"DROP INDEX `{index['name']}`").consume()
            started = time.monotonic()
            session.run("CREATE INDEX bench_id IF NOT EXISTS FOR (n:Bench) ON (n.id)").consume()
            session.run("CALL db.awaitIndexes(600)").consume()
            nodes = load_grouped(session, node_rows(os.path.join(args.dir, "nodes.csv")), args.batch,
                                 lambda labels: "UNWIND $rows AS row CREATE (n:"
                                 + ":".join(f"`{label}`" for label in labels.split(";")) + ") SET n = row")
            node_seconds = time.monotonic() - started
            session.run("CALL db.awaitIndexes(600)").consume()
            rels = load_grouped(session, rel_rows(os.path.join(args.dir, "rels.csv")), args.batch,
                                lambda rel_type: "UNWIND $rows AS row MATCH (a:Bench {id: row.s}) "
                                "MATCH (b:Bench {id: row.e}) CREATE (a)-[r:`" + rel_type + "`]->(b) SET r = row.p")
            seconds = time.monotonic() - started
    print(f"nodes={nodes} relationships={rels} node_seconds={node_seconds:.3f} seconds={seconds:.3f}")


if __name__ == "__main__":
    main()
