#!/usr/bin/env bash
# The main job on an embedded default, from a fresh machine: installs what is
# needed, builds, starts a local Neo4j 5.26 with sample data ("demo") and a
# second one as the test instance ("demo-test"), then backs up, lists,
# validates and restores with every health check, over Bolt and then with
# the import load (neo4j-admin database import on the stopped test instance).
#
#   bash scripts/demo.sh            # run it all
#   bash scripts/demo.sh --stop     # stop the two demo servers afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${1:-}" = --stop ]; then
    tools/neo4j-local stop demo || true
    tools/neo4j-local stop demo-test || true
    exit 0
fi

step() { printf '\n\033[1m==== %s\033[0m\n' "$*"; }

step "Installing dependencies and building"
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
export PATH="$root/build:$PATH"

step "Starting local Neo4j servers (production: demo, test instance: demo-test)"
password=demo-password
production_uri=$(tools/neo4j-local start demo --bolt-port 7701 --password "$password")
test_uri=$(tools/neo4j-local start demo-test --bolt-port 7702 --password "$password")
echo "production: $production_uri   test instance: $test_uri"

step "Loading sample data with the official Python driver"
python3 tools/sample_data.py --uri "$production_uri" --password "$password" \
    --nodes 1500 --relationships 3200 --all-types --schema --wipe

export NEO4J_URI="$production_uri" NEO4J_USER=neo4j NEO4J_PASSWORD="$password"
export TEST_NEO4J_URI="$test_uri" TEST_NEO4J_USER=neo4j TEST_NEO4J_PASSWORD="$password"
export BACKUP_STORAGE_PATH="$root/demo-backups"
# The demo writes a few hundred kilobytes; don't let a busy shared disk below
# the production default of 20% free stop it.
export BACKUP_MIN_FREE_PERCENT=5

step "neo4j-backup --check"
neo4j-backup --check

step "neo4j-backup --create"
neo4j-backup --create | tee /tmp/nbk-demo-create.log
backup_id=$(sed -n 's/^INFO: Backup ID: //p' /tmp/nbk-demo-create.log)

step "neo4j-backup --list"
neo4j-backup --list

step "neo4j-backup --validate $backup_id"
neo4j-backup --validate "$backup_id"

step "neo4j-restore --backup-id $backup_id  (into the test instance, with health checks)"
neo4j-restore --backup-id "$backup_id"

step "neo4j-restore --backup-id $backup_id --load import  (neo4j-admin import on the stopped test instance)"
TEST_NEO4J_HOME="$(tools/neo4j-local home demo-test)" \
TEST_NEO4J_STOP_COMMAND="$root/tools/neo4j-local stop demo-test" \
TEST_NEO4J_START_COMMAND="$root/tools/neo4j-local start demo-test --bolt-port 7702 --password $password" \
    neo4j-restore --backup-id "$backup_id" --load import

step "neo4j-restore --status"
neo4j-restore --status

printf '\nDone. Backups are in %s; the servers keep running (bash scripts/demo.sh --stop).\n' "$BACKUP_STORAGE_PATH"
