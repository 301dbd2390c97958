#!/usr/bin/env bash
# Dump method vs logical method (issue 6): backup time, downtime, restore time,
# sizes, and whether compressing a dump again pays.
#
#   bench/dump_bench.sh [--nodes N] [--runs R] [--keep-servers] [--reuse-graph]
#
#   --nodes N       nodes of the benchmark graph (default 100000; 3N relationships,
#                   bench/gen_graph.py)
#   --runs R        repetitions of each backup (default 1); restores run once
#   --keep-servers  leave the two servers running at the end
#   --reuse-graph   keep a graph whose counts already match
#
# Servers: bench-dump-src and bench-dump-dst of tools/neo4j-local on BOLT ports
# DUMP_BENCH_SRC_PORT (7811) and DUMP_BENCH_DST_PORT (7812); heap
# NEO4J_LOCAL_HEAP (1g), page cache NEO4J_LOCAL_PAGECACHE (512m).
# Build: DUMP_BENCH_BUILD (default <repo>/build-dump-bench, Release).
# Output: a Markdown table on stdout and bench/out/dump_<label>.json.
# Never fails on speed; fails only when a step fails.
set -euo pipefail

NODES=100000
RUNS=1
KEEP=0
REUSE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) NODES="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --keep-servers) KEEP=1; shift ;;
        --reuse-graph) REUSE=1; shift ;;
        *) echo "usage: bench/dump_bench.sh [--nodes N] [--runs R] [--keep-servers] [--reuse-graph]" >&2; exit 2 ;;
    esac
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${DUMP_BENCH_BUILD:-$REPO/build-dump-bench}"
LOCAL="$REPO/tools/neo4j-local"
SRC=bench-dump-src
DST=bench-dump-dst
SRC_PORT="${DUMP_BENCH_SRC_PORT:-7811}"
DST_PORT="${DUMP_BENCH_DST_PORT:-7812}"
PASSWORD=backup-test-pw
export NEO4J_LOCAL_HEAP="${NEO4J_LOCAL_HEAP:-1g}" NEO4J_LOCAL_PAGECACHE="${NEO4J_LOCAL_PAGECACHE:-512m}"
WORK="$(mktemp -d /tmp/dump-bench-XXXXXX)"
STORAGE="$WORK/backups"
LABEL="$(( NODES / 1000 ))k"
OUT="$REPO/bench/out"
mkdir -p "$OUT" "$STORAGE"

say() { echo "dump_bench: $*" >&2; }
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.1f}')"; }
field() { python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'m': m}))" "$@"; }

cleanup() {
    rm -rf "$WORK"
    if [ "$KEEP" = 0 ]; then
        "$LOCAL" stop "$SRC" >/dev/null 2>&1 || true
        "$LOCAL" stop "$DST" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

say "build (Release) into $BUILD"
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target neo4j-backup neo4j-restore >/dev/null

say "servers"
SRC_URI=$("$LOCAL" start "$SRC" --bolt-port "$SRC_PORT")
DST_URI=$("$LOCAL" start "$DST" --bolt-port "$DST_PORT")
SRC_HOME=$("$LOCAL" home "$SRC")
DST_HOME=$("$LOCAL" home "$DST")

have=$(python3 - "$SRC_URI" 2>/dev/null <<'EOF'
import sys, neo4j
with neo4j.GraphDatabase.driver(sys.argv[1], auth=("neo4j", "backup-test-pw")) as driver:
    records, _, _ = driver.execute_query("MATCH (n) WITH count(n) AS n OPTIONAL MATCH ()-[r]->() RETURN n, count(r) AS r")
    print(records[0]["n"], records[0]["r"])
EOF
)
if [ "$REUSE" = 1 ] && [ "$have" = "$NODES $(( 3 * NODES ))" ]; then
    say "reusing the graph on $SRC ($have)"
else
    say "graph: $NODES nodes, $(( 3 * NODES )) relationships on $SRC"
    python3 "$REPO/bench/gen_graph.py" --uri "$SRC_URI" --nodes "$NODES" >/dev/null
fi

cat > "$WORK/bench.conf" <<EOF
BACKUP_STORAGE_PATH=$STORAGE
BACKUP_MIN_FREE_PERCENT=0
NEO4J_URI=$SRC_URI
NEO4J_PASSWORD=$PASSWORD
NEO4J_HOME=$SRC_HOME
NEO4J_STOP_COMMAND=$LOCAL stop $SRC
NEO4J_START_COMMAND=$LOCAL start $SRC --bolt-port $SRC_PORT
[instance $DST]
URI=$DST_URI
PASSWORD=$PASSWORD
NEO4J_HOME=$DST_HOME
STOP_COMMAND=$LOCAL stop $DST
START_COMMAND=$LOCAL start $DST --bolt-port $DST_PORT
EOF
chmod 600 "$WORK/bench.conf"

backup() {  # METHOD -> prints "<id> <seconds>"
    local started output id
    started=$(now)
    output=$("$BUILD/neo4j-backup" --config "$WORK/bench.conf" --create --method "$1" 2>&1) || {
        echo "$output" >&2; exit 1; }
    id=$(echo "$output" | sed -n 's/^INFO: Backup ID: //p')
    echo "$id $(elapsed "$started" "$(now)")"
}

restore() {  # ID -> prints seconds
    local started output
    started=$(now)
    output=$("$BUILD/neo4j-restore" --config "$WORK/bench.conf" --backup-id "$1" --target "$DST" 2>&1) || {
        echo "$output" >&2; exit 1; }
    echo "$output" | grep -q "SUCCESS: Restore completed and validated" || { echo "$output" >&2; exit 1; }
    elapsed "$started" "$(now)"
}

LOGICAL_TIMES=()
DUMP_TIMES=()
DOWNTIMES=()
for run in $(seq 1 "$RUNS"); do
    result=$(backup logical)
    read -r LOGICAL_ID seconds <<< "$result"
    LOGICAL_TIMES+=("$seconds")
    say "logical backup #$run: $seconds s ($LOGICAL_ID)"
    result=$(backup dump)
    read -r DUMP_ID seconds <<< "$result"
    DUMP_TIMES+=("$seconds")
    downtime=$(field "$STORAGE/$DUMP_ID/manifest.json" "round(m['downtime_seconds'], 1)")
    DOWNTIMES+=("$downtime")
    say "dump backup #$run: $seconds s, downtime $downtime s ($DUMP_ID)"
done

LOGICAL_RESTORE=$(restore "$LOGICAL_ID")
say "logical restore: $LOGICAL_RESTORE s"
DUMP_RESTORE=$(restore "$DUMP_ID")
say "dump restore: $DUMP_RESTORE s"

DUMP_FILE="$STORAGE/$DUMP_ID/neo4j.dump"
LOGICAL_FILE=$(ls "$STORAGE/$LOGICAL_ID"/graph.nbk* | head -1)
DUMP_BYTES=$(stat -c %s "$DUMP_FILE")
LOGICAL_BYTES=$(stat -c %s "$LOGICAL_FILE")
STORE_BYTES=$(du -sb "$SRC_HOME/data/databases/neo4j" | cut -f1)
ZSTD_BYTES=$(zstd -3 -q -c "$DUMP_FILE" | wc -c)
GZIP_BYTES=$(gzip -6 -c "$DUMP_FILE" | wc -c)
started=$(now); zstd -3 -q -c "$DUMP_FILE" >/dev/null; ZSTD_SECONDS=$(elapsed "$started" "$(now)")

join() { local IFS=,; echo "$*"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
LOGICAL_MEDIAN=$(median "${LOGICAL_TIMES[@]}")
DUMP_MEDIAN=$(median "${DUMP_TIMES[@]}")
DOWNTIME_MEDIAN=$(median "${DOWNTIMES[@]}")

python3 - "$OUT/dump_$LABEL.json" <<EOF
import json, sys
json.dump({"nodes": $NODES, "relationships": 3 * $NODES, "runs": $RUNS,
           "logical_backup_seconds": [$(join "${LOGICAL_TIMES[@]}")], "dump_backup_seconds": [$(join "${DUMP_TIMES[@]}")],
           "dump_downtime_seconds": [$(join "${DOWNTIMES[@]}")],
           "logical_restore_seconds": $LOGICAL_RESTORE, "dump_restore_seconds": $DUMP_RESTORE,
           "store_bytes": $STORE_BYTES, "dump_bytes": $DUMP_BYTES, "logical_archive_bytes": $LOGICAL_BYTES,
           "dump_zstd3_bytes": $ZSTD_BYTES, "dump_gzip6_bytes": $GZIP_BYTES, "dump_zstd3_seconds": $ZSTD_SECONDS},
          open(sys.argv[1], "w"), indent=2)
EOF

cat <<EOF
### Dump vs logical, $NODES nodes / $(( 3 * NODES )) relationships (median of $RUNS)

| | logical (online) | dump (neo4j-admin) |
|---|---|---|
| backup wall time | $LOGICAL_MEDIAN s | $DUMP_MEDIAN s |
| database offline | 0 s | $DOWNTIME_MEDIAN s |
| restore + health checks | $LOGICAL_RESTORE s | $DUMP_RESTORE s |
| archive size | $LOGICAL_BYTES B | $DUMP_BYTES B |

Store on disk: $STORE_BYTES B. The dump compressed again: zstd -3 $ZSTD_BYTES B
($ZSTD_SECONDS s), gzip -6 $GZIP_BYTES B.
EOF
