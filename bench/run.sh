#!/usr/bin/env bash
# Runs every benchmark and prints the figures (never fails on speed).
#
#   bench/run.sh [--scale N] [--reuse-graph] [--keep-servers] [--no-python-at-scale]
#
#   --scale N        nodes of the big graph (default 1000000; 3N relationships)
#   --no-python-at-scale  skip the Python UNWIND restore baseline at N nodes
#                    (about 5 min at 1M on a quiet 2-core machine; it always runs at 100k)
#   --reuse-graph    do not regenerate a graph whose counts already match
#   --keep-servers   leave bench-src/bench-dst running at the end
#
# Servers: bench-src (bolt 7781) and bench-dst (bolt 7782), Neo4j 5.26 via
# tools/neo4j-local, heap NEO4J_LOCAL_HEAP (2g), page cache NEO4J_LOCAL_PAGECACHE (1g).
# Results: bench/out/*.json and stdout; bench/RESULTS.md is written by hand from them.
# BENCH_RUNS (3) repetitions of the stream/backup runs; BENCH_RESTORE_RUNS (1) of restores.
set -euo pipefail

SCALE=1000000
REUSE=0
KEEP=0
PYTHON_AT_SCALE=1
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) SCALE="$2"; shift 2 ;;
        --reuse-graph) REUSE=1; shift ;;
        --keep-servers) KEEP=1; shift ;;
        --no-python-at-scale) PYTHON_AT_SCALE=0; shift ;;
        --python-at-scale) PYTHON_AT_SCALE=1; shift ;;  # the default; kept for old command lines
        *) echo "usage: bench/run.sh [--scale N] [--reuse-graph] [--keep-servers] [--no-python-at-scale]" >&2; exit 2 ;;
    esac
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BENCH_BUILD:-$REPO/build-bench}"
LOCAL="$REPO/tools/neo4j-local"
export NEO4J_LOCAL_HEAP="${NEO4J_LOCAL_HEAP:-2g}" NEO4J_LOCAL_PAGECACHE="${NEO4J_LOCAL_PAGECACHE:-1g}"
export BENCH_BUILD="$BUILD"
SMALL=100000
label() { if [ "$1" -ge 1000000 ] && [ $(( $1 % 1000000 )) -eq 0 ]; then echo "$(( $1 / 1000000 ))M"; else echo "$(( $1 / 1000 ))k"; fi; }

echo "== build (Release) and the Java reference client" >&2
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bolt_query neo4j-backup neo4j-restore >/dev/null
(cd "$REPO/bench/java" && mvn -q package dependency:copy-dependencies -DoutputDirectory=target/lib)

echo "== servers" >&2
SRC_URI=$("$LOCAL" start bench-src --bolt-port 7781)
DST_URI=$("$LOCAL" start bench-dst --bolt-port 7782)
export BENCH_SRC_URI="$SRC_URI" BENCH_DST_URI="$DST_URI"

generate() {  # URI NODES
    if [ "$REUSE" = 1 ]; then
        have=$(python3 -c "import sys; sys.path.insert(0, '$REPO/bench'); import benchlib; print(*benchlib.counts('$1'))")
        if [ "$have" = "$2 $(( 3 * $2 ))" ]; then echo "reusing graph at $1 ($have)" >&2; return; fi
    fi
    python3 "$REPO/bench/gen_graph.py" --uri "$1" --nodes "$2"
}

echo "== backup at $(label $SMALL) (on bench-dst, before it serves as restore target)" >&2
generate "$DST_URI" "$SMALL"
python3 "$REPO/bench/bench_backup.py" --server bench-dst --label "$(label $SMALL)"

echo "== 3. restore at $(label $SMALL), with the Python and neo4j-admin import baselines" >&2
# The CSV files are exported from bench-dst after our restore put the backup back into it.
rm -rf /tmp/bench-csv-small
python3 "$REPO/bench/bench_restore.py" --label "$(label $SMALL)" --csv /tmp/bench-csv-small --export-uri "$DST_URI"

echo "== graph of $SCALE nodes on bench-src" >&2
generate "$SRC_URI" "$SCALE"

echo "== 1. Bolt streaming" >&2
python3 "$REPO/bench/bench_stream.py" --uri "$SRC_URI"

echo "== 2. backup" >&2
python3 "$REPO/bench/bench_backup.py" --server bench-src --label "$(label "$SCALE")"

echo "== 3. restore at $(label "$SCALE")" >&2
rm -rf /tmp/bench-csv
PYTHON_FLAG=--skip-python
[ "$PYTHON_AT_SCALE" = 1 ] && PYTHON_FLAG=
python3 "$REPO/bench/bench_restore.py" --label "$(label "$SCALE")" $PYTHON_FLAG

echo "== 9. object storage (S3Proxy) against a local path, its own servers sb-src/sb-dst/sb-s3" >&2
python3 "$REPO/bench/bench_s3.py" --nodes "$SCALE" --build "$BUILD" $([ "$KEEP" = 1 ] && echo --keep-servers)

if [ "$KEEP" = 0 ]; then
    "$LOCAL" stop bench-src
    "$LOCAL" stop bench-dst
    rm -rf /tmp/bench-backups /tmp/bench-csv /tmp/bench-csv-small
fi
