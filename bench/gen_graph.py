#!/usr/bin/env python3
"""Generates the benchmark graph server-side, fast: N :Bench nodes and 3N
relationships with mixed property types, built by Cypher `CALL {} IN
TRANSACTIONS` sent through the official Python driver (tools/sample_data.py
sends every row from the client and is too slow at this size).

  bench/gen_graph.py --uri bolt://127.0.0.1:7781 --nodes 1000000 [--rels-per-node 3]

Nodes: (:Bench {id int, name string, score float, active bool, tags [string],
weights [float], born date, loc point}); every 10th node also has :Hub.
Relationships: each node i links to 3 pseudo-random targets with types
LINKS/KNOWS/LIKES and {weight float, since int, primary bool, note string}.
Wipes the database first. Prints the timings to stderr.
"""
import argparse
import os
import sys
import time

import neo4j

NODE_CYPHER = """
UNWIND range($first, $last) AS i
CALL (i) {
  CREATE (n:Bench {id: i, name: 'node-' + toString(i), score: i * 0.25 + 0.125,
                   active: i % 2 = 0, tags: ['tag' + toString(i % 10), 'bench'],
                   weights: [toFloat(i % 7), 0.5], born: date('1970-01-01') + duration({days: i % 20000}),
                   loc: point({x: toFloat(i % 1000), y: toFloat(i / 1000)})})
  FOREACH (_ IN CASE WHEN i % 10 = 0 THEN [1] ELSE [] END | SET n:Hub)
} IN TRANSACTIONS OF 50000 ROWS
"""

# Targets are pseudo-random but deterministic (multiplicative hashing mod N).
REL_CYPHER = """
UNWIND range($first, $last) AS i
CALL (i) {
  MATCH (a:Bench {id: i})
  MATCH (b:Bench {id: (i * 7919 + 13) % $n})
  MATCH (c:Bench {id: (i * 104729 + 7) % $n})
  MATCH (d:Bench {id: (i * 1299709 + 3) % $n})
  CREATE (a)-[:LINKS {weight: i * 0.5, since: 2000 + i % 25, primary: true, note: 'l' + toString(i % 100)}]->(b)
  CREATE (a)-[:KNOWS {weight: i * 0.75, since: 1990 + i % 30, primary: false, note: 'k'}]->(c)
  CREATE (a)-[:LIKES {weight: 1.5, since: i, primary: i % 3 = 0, note: 'x' + toString(i % 7)}]->(d)
} IN TRANSACTIONS OF 20000 ROWS
"""


def run(session, query, **params):
    session.run(query, **params).consume()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7781"))
    parser.add_argument("--user", default="neo4j")
    parser.add_argument("--password", default=os.environ.get("NEO4J_PASSWORD", "backup-test-pw"))
    parser.add_argument("--nodes", type=int, default=1_000_000)
    args = parser.parse_args()

    with neo4j.GraphDatabase.driver(args.uri, auth=(args.user, args.password)) as driver:
        with driver.session(database="neo4j") as session:
            started = time.monotonic()
            run(session, "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
            run(session, "CREATE INDEX bench_id IF NOT EXISTS FOR (n:Bench) ON (n.id)")
            run(session, "CALL db.awaitIndexes(600)")
            print(f"wiped in {time.monotonic() - started:.1f} s", file=sys.stderr)

            started = time.monotonic()
            run(session, NODE_CYPHER, first=0, last=args.nodes - 1)
            print(f"{args.nodes} nodes in {time.monotonic() - started:.1f} s", file=sys.stderr)
            run(session, "CALL db.awaitIndexes(600)")

            started = time.monotonic()
            run(session, REL_CYPHER, first=0, last=args.nodes - 1, n=args.nodes)
            print(f"{3 * args.nodes} relationships in {time.monotonic() - started:.1f} s", file=sys.stderr)

            counts = session.run("MATCH (n) WITH count(n) AS nodes "
                                 "MATCH ()-[r]->() RETURN nodes, count(r) AS rels").single()
            print(f"nodes={counts['nodes']} relationships={counts['rels']}")


if __name__ == "__main__":
    main()
