#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Python venv with the project and its dev
# extras, then the local control-plane binaries (built offline into the cache when
# they are not found anywhere else). Fast when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV=.venv
say() { printf '[ekswin setup] %s\n' "$*" >&2; }

stamp="$VENV/.ekswin-installed"
if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv $VENV"
    "$PY" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing Python packages (pip install -e .[dev])"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
    # compat editable mode: a plain .pth instead of an import hook, so every Python start
    # (each exec of the CNI plugin) is ~10 ms cheaper.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]' \
        --config-settings editable_mode=compat >&2
    touch "$stamp"
else
    say "Python packages up to date"
fi

# EKSWIN_SETUP_K8S=0: Python packages only (lint and unit jobs need no control plane).
if [ "${EKSWIN_SETUP_K8S:-1}" = 0 ]; then
    say "EKSWIN_SETUP_K8S=0: control-plane binaries and kubectl not checked"
    exit 0
fi

# Control-plane binaries: resolved one by one (EKSWIN_K8S_BIN, KUBEBUILDER_ASSETS, PATH,
# cache). Build only when something is missing everywhere.
# Binaries from the cache are re-checked against the build recipe (fast when current).
if ! "$VENV/bin/python" -m harness.binaries --check >&2 \
    || "$VENV/bin/python" -m harness.binaries --uses-cache; then
    bash scripts/build-k8s.sh
    "$VENV/bin/python" -m harness.binaries --check >&2
fi

# kubectl: the tests and the README use it. Debian's kubernetes-client matches the
# local control plane (1.20); any kubectl already on PATH is kept.
if ! command -v kubectl >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing kubectl (apt-get install kubernetes-client)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            kubernetes-client >&2 || {
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends kubernetes-client >&2
        }
    else
        say "kubectl not found: install it (Debian/Ubuntu: apt-get install kubernetes-client)"
    fi
fi
