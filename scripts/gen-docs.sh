#!/usr/bin/env bash
# Regenerates the documents that are derived from code: the exit-code table,
# the configuration reference and the man pages.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NBK_BUILD_DIR:-build}
cmake --build "$build" --target gen_docs >/dev/null
python3 scripts/gen-exit-codes.py
"$build/gen_docs" > docs/configuration.md
mkdir -p docs/man
"$build/gen_docs" --man backup > docs/man/neo4j-backup.1
"$build/gen_docs" --man restore > docs/man/neo4j-restore.1
