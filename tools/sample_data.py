#!/usr/bin/env python3
"""Loads a sample graph into a Neo4j database with the official Python driver.

Used by the demo, the end-to-end tests and the benchmarks, so that the data our
tools back up is written by an implementation none of us wrote.

  tools/sample_data.py --uri bolt://127.0.0.1:7687 --password PW \
      --nodes 1500 --relationships 3200 [--all-types] [--schema] [--wipe]
"""
import argparse
import datetime
import math
import os
import random
import sys

import neo4j
from neo4j.spatial import CartesianPoint, WGS84Point
from neo4j.time import Date, DateTime, Duration, Time

LABELS = ["Person", "Company", "Product", "City"]
TYPES = ["KNOWS", "WORKS_AT", "BOUGHT", "LIVES_IN"]


def quote(name):
    """A name inside backticks: backticks are doubled."""
    return name.replace("`", "``")


def every_type_properties():
    """Scalar properties of every PackStream type, extremes included; the
    temporal and spatial ones are built by Cypher (TEMPORAL_CYPHER)."""
    return {
        "bool_true": True,
        "bool_false": False,
        "int_min": -(2**63),
        "int_max": 2**63 - 1,
        "int_small": -17,
        "float_nan": float("nan"),
        "float_neg_zero": -0.0,
        "float_inf": float("inf"),
        "float_neg_inf": float("-inf"),
        "float_pi": math.pi,
        "string_empty": "",
        "string_unicode": "grüße 👋 中文 \u0000 nul `back`tick`",
        "string_long": "x" * 100000,
        "bytes": bytearray(b"\x00\x01\xfe\xff"),
        "bytes_empty": bytearray(),
        "list_ints": [1, -2, 2**40],
        "list_strings": ["a", "", "ü"],
        "list_floats": [0.5, -0.0],
        "list_empty": [],
    }


# Every temporal and spatial type, with offsets, zone ids, negative parts and
# the ends of the calendar.
TEMPORAL_CYPHER = """
SET n.date_min = date('0001-01-01'), n.date_max = date('9999-12-31'),
    n.time_offset = time('23:59:59.999999999+05:30'), n.time_negative = time('00:00:00-12:00'),
    n.local_time = localtime('00:00:00.000000001'),
    n.datetime_offset = datetime('2024-02-29T12:30:15.123456789+05:30'),
    n.datetime_zone = datetime('2025-03-30T03:30:00[Europe/Berlin]'),
    n.datetime_utc = datetime('1969-12-31T23:59:59.999999999Z'),
    n.datetime_max = datetime('9999-12-31T23:59:59.999999999Z'),
    n.local_datetime = localdatetime('0001-01-01T00:00:00'),
    n.duration = duration({months: -14, days: 3, seconds: -7200, nanoseconds: 5}),
    n.duration_zero = duration('PT0S'),
    n.point_cartesian_2d = point({x: 1.5, y: -2.25}),
    n.point_cartesian_3d = point({x: 1.0, y: 2.0, z: -0.0}),
    n.point_wgs84_2d = point({longitude: 13.4, latitude: 52.5}),
    n.point_wgs84_3d = point({longitude: 13.4, latitude: 52.5, height: 34.0}),
    n.list_dates = [date('2020-01-01'), date('2020-01-02')],
    n.list_points = [point({x: 1, y: 2}), point({x: 3, y: 4})]
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"))
    parser.add_argument("--user", default=os.environ.get("NEO4J_USER", "neo4j"))
    parser.add_argument("--password", default=os.environ.get("NEO4J_PASSWORD", "backup-test-pw"))
    parser.add_argument("--database", default=os.environ.get("NEO4J_DATABASE", "neo4j"))
    parser.add_argument("--nodes", type=int, default=1500)
    parser.add_argument("--relationships", type=int, default=3200)
    parser.add_argument("--all-types", action="store_true", help="add nodes holding every value type")
    parser.add_argument("--schema", action="store_true", help="create constraints and indexes")
    parser.add_argument("--wipe", action="store_true", help="delete everything first")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch", type=int, default=10000)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    with neo4j.GraphDatabase.driver(args.uri, auth=(args.user, args.password)) as driver:
        def run(query, **params):
            driver.execute_query(query, params, database_=args.database)

        if args.wipe:
            with driver.session(database=args.database) as session:  # needs an implicit transaction
                session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
            records, _, _ = driver.execute_query("SHOW CONSTRAINTS YIELD name", database_=args.database)
            for record in records:
                run(f"DROP CONSTRAINT `{quote(record['name'])}`")
            records, _, _ = driver.execute_query(
                "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP'", database_=args.database)
            for record in records:
                run(f"DROP INDEX `{quote(record['name'])}` IF EXISTS")
        if args.schema:
            run("CREATE CONSTRAINT person_uid IF NOT EXISTS FOR (p:Person) REQUIRE p.uid IS UNIQUE")
            run("CREATE INDEX company_name IF NOT EXISTS FOR (c:Company) ON (c.name)")
            run("CREATE TEXT INDEX product_title IF NOT EXISTS FOR (p:Product) ON (p.title)")
            run("CREATE POINT INDEX city_location IF NOT EXISTS FOR (c:City) ON (c.location)")
            run("CREATE FULLTEXT INDEX person_bio IF NOT EXISTS FOR (p:Person) ON EACH [p.bio]")
            run("CREATE INDEX knows_since IF NOT EXISTS FOR ()-[k:KNOWS]-() ON (k.since)")

        # Nodes get a dense 'uid' so that relationships can be created by uid.
        for start in range(0, args.nodes, args.batch):
            rows = []
            for uid in range(start, min(start + args.batch, args.nodes)):
                label = LABELS[uid % len(LABELS)]
                rows.append({
                    "label": label,
                    "props": {
                        "uid": uid,
                        "name": f"{label.lower()}-{uid}",
                        "score": rng.random() * 100,
                        "active": uid % 3 == 0,
                        "tags": [f"t{uid % 7}", f"t{uid % 11}"],
                        "bio": "sample biography text " * (1 + uid % 3),
                        "title": f"title {uid}",
                        "location": CartesianPoint((uid % 100, uid // 100)) if label == "City" else None,
                    },
                })
            run("UNWIND $rows AS row CREATE (n:$(row.label)) SET n = row.props, n:Sample", rows=rows)
        # The uid lookup needs an index while relationships are created.
        run("CREATE INDEX sample_uid IF NOT EXISTS FOR (n:Sample) ON (n.uid)")
        run("CALL db.awaitIndexes(300)")
        for start in range(0, args.relationships, args.batch):
            rows = []
            for index in range(start, min(start + args.batch, args.relationships)):
                source = rng.randrange(args.nodes) if args.nodes else 0
                target = rng.randrange(args.nodes) if args.nodes else 0
                rows.append({"s": source, "t": target, "type": TYPES[index % len(TYPES)],
                             "props": {"since": 1990 + index % 35, "weight": rng.random()}})
            if args.nodes:
                run("UNWIND $rows AS row MATCH (a:Sample {uid: row.s}) MATCH (b:Sample {uid: row.t}) "
                    "CREATE (a)-[r:$(row.type)]->(b) SET r = row.props", rows=rows)
        if args.all_types:
            props = every_type_properties()
            run("CREATE (n:AllTypes:`Label with spaces`:`back``tick`:`ünïcödé`:`:colon`) SET n = $props "
                + TEMPORAL_CYPHER +
                " CREATE (n)-[:`SELF LOOP`]->(n) CREATE (n)-[:PARALLEL {i: 1}]->(m:AllTypes {i: 2}) "
                "CREATE (n)-[:PARALLEL {i: 1}]->(m) "
                "CREATE (n)-[:`type with spaces ``and`` ticks` {`key with spaces`: 1, `ключ`: 'unicode key'}]->(m)",
                props=props)
            run("CREATE ()")  # a node without labels or properties
    print(f"loaded {args.nodes} nodes, {args.relationships} relationships into {args.uri}", file=sys.stderr)


if __name__ == "__main__":
    main()
