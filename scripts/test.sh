#!/usr/bin/env bash
# The project's whole test suite, from a fresh machine: installs what it needs,
# builds with warnings as errors, runs the unit tests (plain and under
# ASan/UBSan), short fuzz runs, and the end-to-end tests against real Neo4j
# servers started by tools/neo4j-local. CI's .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==== %s ====\n' "$*"; }

step "Installing dependencies"
bash scripts/setup.sh

step "Building (warnings are errors, test hooks compiled in)"
cmake -S . -B build -DNBK_WERROR=ON -DNBK_TEST_HOOKS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

step "Unit tests"
ctest --test-dir build --output-on-failure -j"$(nproc)"

if [ "${NBK_SKIP_SANITIZE:-0}" != 1 ]; then
    step "Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
    cmake -S . -B build-asan -DNBK_WERROR=ON -DNBK_SANITIZE=ON -DNBK_TEST_HOOKS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
    cmake --build build-asan -j"$(nproc)"
    ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j"$(nproc)"
fi

if [ "${NBK_SKIP_VALGRIND:-0}" != 1 ]; then
    step "Unit tests under valgrind (memcheck)"
    for test_binary in build/*_test; do
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            "$test_binary" >/dev/null 2>"$test_binary.valgrind.log" ||
            { cat "$test_binary.valgrind.log"; echo "valgrind: $test_binary failed"; exit 1; }
        echo "valgrind clean: $test_binary"
    done
fi

if [ "${NBK_SKIP_FUZZ:-0}" != 1 ] && [ -x tests/fuzz/run-short.sh ]; then
    step "Short fuzz runs"
    NBK_FUZZ_SECONDS="${NBK_FUZZ_SECONDS:-10}" bash tests/fuzz/run-short.sh
fi

step "End-to-end tests against real Neo4j servers"
export NBK_BUILD_DIR="$root/build"
python3 -m pytest -q tests/e2e "$@"
