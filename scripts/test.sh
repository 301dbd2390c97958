#!/usr/bin/env bash
# The project's whole test suite, from a fresh machine: installs what it needs,
# builds with warnings as errors, runs the unit tests (plain and under
# ASan/UBSan), short fuzz runs, and the end-to-end tests against real Neo4j
# servers started by tools/neo4j-local, and measures the line coverage of src/
# that all of them reach. CI's .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The line coverage of src/ (percent) the unit and end-to-end tests together
# must reach, or the suite fails (CONTRIBUTING.md, Coverage). Raise it as
# coverage grows; lower it only with a reason in the commit message.
coverage_floor=80

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

e2e_build=build
if [ "${NBK_SKIP_COVERAGE:-0}" != 1 ]; then
    # A separate build: the -Werror build above stays optimised. Its unit tests
    # run here and the end-to-end tests drive its executables, so the .gcda
    # files count what the whole suite exercises. Atomic counters: the API
    # server and the jobs it runs are threads.
    step "Coverage build (--coverage -O0) and its unit tests"
    cmake -S . -B build-cov -DNBK_WERROR=ON -DNBK_TEST_HOOKS=ON -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_C_FLAGS="--coverage -O0 -fprofile-update=atomic" -DCMAKE_EXE_LINKER_FLAGS=--coverage >/dev/null
    cmake --build build-cov -j"$(nproc)"
    # Counts of an earlier run would add to this one's.
    find build-cov -name '*.gcda' -delete
    ctest --test-dir build-cov --output-on-failure -j"$(nproc)"
    e2e_build=build-cov
fi

step "End-to-end tests against real Neo4j servers"
export NBK_BUILD_DIR="$root/$e2e_build"
python3 -m pytest -q tests/e2e "$@"

if [ "${NBK_SKIP_COVERAGE:-0}" != 1 ]; then
    if [ "$#" -eq 0 ]; then
        step "Line coverage of src/ (unit + end-to-end tests; floor ${coverage_floor}%)"
        python3 scripts/coverage-report.py --floor "$coverage_floor" build-cov
    else
        # Arguments select some end-to-end tests: the floor is for the whole suite.
        step "Line coverage of src/ (some end-to-end tests selected: floor not applied)"
        python3 scripts/coverage-report.py build-cov
    fi
fi
