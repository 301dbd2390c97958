#!/usr/bin/env bash
# Installs every build and test dependency of the project on a Debian machine,
# idempotently: when everything is already there it touches no network and
# takes about a second. Runs as root (no sudo); as another user it uses sudo
# for apt only if sudo exists.
#
#   bash scripts/setup.sh
#
# Environment:
#   NBK_SETUP_SKIP_NEO4J=1   don't pre-fetch the default Neo4j into .cache/neo4j
#   PYTHON=python3.x         the interpreter the tests run with (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}

note() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# ---- Debian packages -------------------------------------------------------
packages=(
    build-essential cmake pkg-config
    libssl-dev zlib1g-dev libzstd-dev zstd libcurl4-openssl-dev libjson-c-dev
    libcmocka-dev libmicrohttpd-dev
    libxml2-dev
    libsodium-dev
    clang libclang-rt-14-dev valgrind gcovr
    maven ca-certificates openssl
    chromium prometheus
)
# The tests' interpreter needs pip; Debian's python3 gets it from a package.
if ! command -v "$python" >/dev/null || ! "$python" -m pip --version >/dev/null 2>&1; then
    packages+=(python3 python3-pip)
fi

# Neo4j 5.26 needs Java 17..21; only install one when none is there.
java_ok=0
for candidate in "${JAVA_HOME:-/nonexistent}/bin/java" "$(command -v java || true)" \
        /usr/lib/jvm/*/bin/java; do
    [ -x "$candidate" ] || continue
    major=$("$candidate" -XshowSettings:properties -version 2>&1 |
            sed -n 's/^ *java\.specification\.version = //p')
    if [ -n "$major" ] && [ "$major" -ge 17 ] && [ "$major" -le 21 ]; then
        java_ok=1
        break
    fi
done
[ "$java_ok" = 1 ] || packages+=(openjdk-17-jre-headless)

missing=()
for package in "${packages[@]}"; do
    # "install ok installed" is the only state in which a package is usable.
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
            grep -q '^install ok installed$'; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    as_root=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
        as_root=(sudo)
    fi
    note "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine has no (or stale) package lists; update once per run.
    "${as_root[@]}" apt-get update -qq || die "apt-get update failed"
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install failed for: ${missing[*]}"
fi

command -v cmake >/dev/null || die "cmake missing after install"
command -v mvn >/dev/null || die "maven missing after install"
command -v openssl >/dev/null || die "openssl missing after install"
command -v gcovr >/dev/null || die "gcovr missing after install"

# ---- Python test dependencies ----------------------------------------------
command -v "$python" >/dev/null || die "$python not found"
if ! "$python" - <<'EOF' 2>/dev/null
# Fast path: exit 0 only when every requirement is installed at a fitting version.
import re, sys
from importlib.metadata import version, PackageNotFoundError
def parts(text):
    return tuple(int(piece) for piece in re.findall(r"\d+", text)[:3])
for line in open("requirements-test.txt"):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name = re.match(r"[A-Za-z0-9_.-]+", line).group(0)
    try:
        have = parts(version(name))
    except PackageNotFoundError:
        sys.exit(1)
    for op, bound in re.findall(r"(>=|<|==)\s*([0-9.]+)", line):
        want = parts(bound)
        ok = {">=": have >= want, "<": have < want, "==": have[:len(want)] == want}[op]
        if not ok:
            sys.exit(1)
EOF
then
    note "installing Python test requirements into $($python -c 'import sys; print(sys.prefix)')"
    pip_log=$(mktemp)
    trap 'rm -f "$pip_log"' EXIT
    pip_install() {
        "$python" -m pip install -q --disable-pip-version-check "$@" \
            -r requirements-test.txt >"$pip_log" 2>&1
    }
    if ! pip_install; then
        # Debian's own python3 refuses pip by default (PEP 668); this is a
        # throwaway test machine, so install next to the system packages.
        if ! grep -q externally-managed-environment "$pip_log" ||
                ! pip_install --break-system-packages; then
            cat "$pip_log" >&2
            die "pip install -r requirements-test.txt failed"
        fi
    fi
fi
"$python" -c 'import neo4j, pytest, aiosmtpd, boto3, moto' || die "Python test modules not importable by $python"

# ---- Neo4j jars (Maven Central), so the first e2e test doesn't pay for it ----
if [ "${NBK_SETUP_SKIP_NEO4J:-0}" != 1 ]; then
    "$python" tools/neo4j-local fetch >/dev/null || die "could not fetch Neo4j from Maven Central"
    # S3Proxy for the S3 storage tests (tools/s3-local), from Maven Central too.
    "$python" tools/s3-local fetch >/dev/null || die "could not fetch S3Proxy from Maven Central"
fi

note "all build and test dependencies present"
