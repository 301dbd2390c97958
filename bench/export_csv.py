#!/usr/bin/env python3
"""Exports the benchmark graph (bench/gen_graph.py) with the official Python
driver into CSV files in the format of `neo4j-admin database import full`:

  DIR/nodes.csv   id:ID,:LABEL,name,score:double,active:boolean,tags:string[],
                  weights:double[],born:date,loc:point
  DIR/rels.csv    :START_ID,:END_ID,:TYPE,weight:double,since:long,primary:boolean,note

Node ids are the `id` property (import with --id-type=integer so `id` stays a
long). The same files feed bench/py_load.py, the hand-written restore.

  bench/export_csv.py --uri bolt://127.0.0.1:7781 --dir /tmp/bench-csv
"""
import argparse
import csv
import os
import sys
import time

import neo4j

NODE_HEADER = ["id:ID", ":LABEL", "name", "score:double", "active:boolean", "tags:string[]",
               "weights:double[]", "born:date", "loc:point"]
REL_HEADER = [":START_ID", ":END_ID", ":TYPE", "weight:double", "since:long", "primary:boolean", "note"]


def boolText(value):
    return "true" if value else "false"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7781"))
    parser.add_argument("--user", default="neo4j")
    parser.add_argument("--password", default=os.environ.get("NEO4J_PASSWORD", "backup-test-pw"))
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    started = time.monotonic()
    with neo4j.GraphDatabase.driver(args.uri, auth=(args.user, args.password)) as driver:
        with driver.session(database="neo4j") as session:
            with open(os.path.join(args.dir, "nodes.csv"), "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(NODE_HEADER)
                result = session.run("MATCH (n:Bench) RETURN n.id, labels(n), n.name, n.score, n.active, "
                                     "n.tags, n.weights, toString(n.born), n.loc.x, n.loc.y")
                for (node_id, labels, name, score, active, tags, weights, born, x, y) in result:
                    writer.writerow([node_id, ";".join(sorted(labels)), name, repr(score), boolText(active),
                                     ";".join(tags), ";".join(repr(w) for w in weights), born,
                                     f"{{x:{x!r},y:{y!r},crs:cartesian}}"])
            with open(os.path.join(args.dir, "rels.csv"), "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(REL_HEADER)
                result = session.run("MATCH (a:Bench)-[r]->(b:Bench) RETURN a.id, b.id, type(r), "
                                     "r.weight, r.since, r.primary, r.note")
                for (start, end, rel_type, weight, since, primary, note) in result:
                    writer.writerow([start, end, rel_type, repr(weight), since, boolText(primary), note])
    print(f"exported in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
