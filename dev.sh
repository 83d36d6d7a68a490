#!/usr/bin/env bash
# One entry point for a fresh machine (Python 3.11 or newer + pip): set up, run the demo, run the tests.
#   ./dev.sh demo   - install everything, start the sandbox + embedded MongoDB, back up the demo schemas,
#                     then restore deleted objects and one schema into a new key, and verify both
#   ./dev.sh test   - install everything, lint and type-check, run the whole test suite (starts its own services)
#   ./dev.sh fast   - the inner loop: lint, type-check and the tests that are neither end-to-end nor slow,
#                     stopping at the first failure (a few minutes)
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
# `./dev.sh fast`: everything but the end-to-end tests (whole Airflow stacks, the demo) and the slow ones.
FAST_SELECTION="not e2e and not slow"

# Succeed when "$1" runs and is Python 3.11 or newer (a pyenv shim of an uninstalled version does not run).
supported_python() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

# The Python to build the venv with: $PYTHON if set, else the first supported one on the PATH.
find_python() {
    if [ -n "${PYTHON:-}" ]; then
        if ! supported_python "$PYTHON"; then
            echo "PYTHON=$PYTHON is not a runnable Python 3.11 or newer" >&2
            exit 1
        fi
        echo "$PYTHON"
        return
    fi
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && supported_python "$candidate"; then
            echo "$candidate"
            return
        fi
    done
    echo "no supported Python found: none of python3.11, python3.12, python3.13 runs, and python3 is missing" \
        "or older than 3.11. Install Python 3.11-3.13, or point PYTHON at one:" \
        "PYTHON=/path/to/python3.12 ./dev.sh test" >&2
    exit 1
}

# The browser test (tests/integration/test_standalone_ui.py) drives Debian's chromium; Playwright's own browser
# downloads cannot be had. Install it when missing and we may (root, apt); otherwise that test skips itself.
install_chromium() {
    if [ -x /usr/bin/chromium ] || [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        return 0
    fi
    echo "installing Debian's chromium for the browser test..." >&2
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be missing or stale: refresh them only when the plain install fails.
    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 \
            && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } \
        || echo "could not install chromium: the browser test will be skipped" >&2
}

# What the venv was last installed from: the lock file and the package's metadata.
install_inputs_hash() {
    cat requirements-lock.txt pyproject.toml | "$VENV/bin/python" -c \
        'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        python=$(find_python)
        echo "creating .venv with $python..." >&2
        "$python" -m venv "$VENV"
    fi
    # An install that succeeded records what it installed: the same inputs again install nothing (16 s saved).
    stamp="$VENV/.airflow-assets-installed"
    wanted=$(install_inputs_hash)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        return 0
    fi
    rm -f "$stamp"
    echo "installing the locked dependencies into .venv (about a minute the first time)..." >&2
    # A venv made by uv has no pip of its own.
    "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$VENV/bin/python" -m ensurepip --upgrade >/dev/null
    # uv installs the locked set in seconds; plain pip is the fallback when uv cannot be had.
    if "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv 2>/dev/null; then
        "$VENV/bin/python" -m uv pip install --quiet --compile-bytecode -p "$VENV/bin/python" -r requirements-lock.txt
        "$VENV/bin/python" -m uv pip install --quiet --compile-bytecode -p "$VENV/bin/python" --no-deps -e .
    else
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
    fi
    echo "$wanted" > "$stamp"
    echo "installed." >&2
}

lint() {
    "$VENV/bin/ruff" check airflow_assets tests benchmarks
    "$VENV/bin/ruff" format --check airflow_assets tests benchmarks
    "$VENV/bin/mypy"
    # The layer rules ([tool.importlinter] in pyproject.toml); --no-cache: CI starts from a clean clone anyway.
    "$VENV/bin/lint-imports" --no-cache
}

run_tests() {
    set +e
    "$VENV/bin/python" -m pytest "$@"
    status=$?
    set -e
    if [ "$status" -eq 5 ]; then
        echo "pytest collected no tests: treating that as a failure" >&2
        exit 1
    fi
    exit "$status"
}

command=${1:-}
shift || true
case "$command" in
    setup) setup ;;
    demo) setup; exec "$VENV/bin/airflow-assets" demo "$@" ;;
    test) setup; install_chromium; lint; run_tests "$@" ;;
    fast) setup; lint; run_tests -m "$FAST_SELECTION" -x "$@" ;;
    *) echo "usage: ./dev.sh demo | test [pytest args] | fast [pytest args] | setup" >&2; exit 2 ;;
esac
