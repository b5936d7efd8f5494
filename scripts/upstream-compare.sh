#!/usr/bin/env bash
# Run every shipped scenario with the upstream controller binary, then compare each with
# the Python controller (`ekswin scenario run --compare`), writing into OUT:
#   OUT/upstream/<scenario>.json   the upstream run's report (report v1)
#   OUT/compare/<scenario>.json    the comparison (summaries and differences)
#   OUT/compare/<scenario>.txt     its table and the run logs
#   OUT/summary.md                 one row per scenario (the CI job summary)
#
#   scripts/upstream-compare.sh BINARY OUT [SCENARIO.yaml ...]   (default: e2e/scenarios/*.yaml)
#
# A scenario that fails or differs is a result, not an error: this exits non-zero only
# when a run could not be made at all (exit 2: bad usage, missing binary or backend).
set -uo pipefail
BINARY="${1:?usage: upstream-compare.sh BINARY OUT [SCENARIO.yaml ...]}"
OUT="${2:?usage: upstream-compare.sh BINARY OUT [SCENARIO.yaml ...]}"
shift 2
cd "$(dirname "$0")/.."
EKSWIN="${EKSWIN:-.venv/bin/ekswin}"
if [ "$#" -eq 0 ]; then
    set -- e2e/scenarios/*.yaml
fi
mkdir -p "$OUT/upstream" "$OUT/compare"
status=0
{
    echo "### Upstream controller vs the Python model"
    echo
    echo "| scenario | upstream run | differences |"
    echo "|---|---|---|"
} > "$OUT/summary.md"
for file in "$@"; do
    name="$(basename "$file" .yaml)"
    "$EKSWIN" scenario run "$file" --controller upstream --controller-binary "$BINARY" \
        --json "$OUT/upstream/$name.json" 2> "$OUT/upstream/$name.log"
    up=$?
    "$EKSWIN" scenario run "$file" --compare --controller-binary "$BINARY" \
        --json "$OUT/compare/$name.json" 2> "$OUT/compare/$name.txt"
    cmp=$?
    if [ "$up" -ge 2 ] || [ "$cmp" -ge 2 ]; then
        status=1
    fi
    case "$up" in 0) held=holds ;; 1) held="fails" ;; *) held="error ($up)" ;; esac
    case "$cmp" in 0) diff=none ;; 1) diff="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["differences"]))' "$OUT/compare/$name.json" 2>/dev/null || echo '?')" ;; *) diff="error ($cmp)" ;; esac
    echo "| $name | $held | $diff |" >> "$OUT/summary.md"
done
exit "$status"
