#!/usr/bin/env python3
"""Streams a query with the official Python driver (package `neo4j`) and
counts the records: the Python reference of the Bolt streaming benchmark.

  bench/py_stream.py --uri bolt://127.0.0.1:7781 [--password PW] QUERY

Prints "rows=N seconds=S" on stdout.
"""
import argparse
import os
import time

import neo4j


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7781"))
    parser.add_argument("--user", default="neo4j")
    parser.add_argument("--password", default=os.environ.get("NEO4J_PASSWORD", "backup-test-pw"))
    parser.add_argument("query")
    args = parser.parse_args()

    started = time.monotonic()
    rows = 0
    with neo4j.GraphDatabase.driver(args.uri, auth=(args.user, args.password)) as driver:
        with driver.session(database="neo4j") as session:
            for _record in session.run(args.query):
                rows += 1
    print(f"rows={rows} seconds={time.monotonic() - started:.3f}")


if __name__ == "__main__":
    main()
