#!/bin/sh
# Builds the libFuzzer targets with clang and runs each *_fuzz binary briefly.
# Fails (non-zero exit) on the first crash, sanitizer report or build error.
#
#   NBK_FUZZ_SECONDS    seconds per fuzzer (default 20)
#   NBK_FUZZ_BUILD_DIR  build directory (default <repo>/build-fuzz)
#   NBK_FUZZ_CORPUS_DIR where corpora are kept between runs (default <build>/corpus)
set -eu

repo=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${NBK_FUZZ_SECONDS:-20}
build=${NBK_FUZZ_BUILD_DIR:-$repo/build-fuzz}
corpusRoot=${NBK_FUZZ_CORPUS_DIR:-$build/corpus}

if ! command -v clang >/dev/null 2>&1; then
    echo "run-short.sh: clang is required for libFuzzer targets" >&2
    exit 1
fi

CC=clang cmake -S "$repo" -B "$build" -DNBK_FUZZ=ON -DNBK_TESTS=OFF >/dev/null
cmake --build "$build" -j2

found=0
status=0
for fuzzer in "$build"/*_fuzz; do
    [ -x "$fuzzer" ] || continue
    found=1
    name=$(basename "$fuzzer")
    corpus="$corpusRoot/$name"
    mkdir -p "$corpus"
    echo "== $name for ${seconds}s (corpus $corpus)"
    # A crash makes libFuzzer exit non-zero and write crash-* next to the build.
    if ! "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
            -artifact_prefix="$build/$name-" "$corpus" >"$build/$name.log" 2>&1; then
        echo "FAILED: $name (log $build/$name.log)" >&2
        tail -n 40 "$build/$name.log" >&2
        status=1
        continue
    fi
    grep -E '^stat::number_of_executed_units' "$build/$name.log" || true
done

if [ "$found" -eq 0 ]; then
    echo "run-short.sh: no *_fuzz binaries were built in $build" >&2
    exit 1
fi
exit "$status"
