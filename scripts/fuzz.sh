#!/usr/bin/env bash
# The long fuzz run: the same suite as CI (tests/test_fuzz.py), with many more examples per
# operation and a seed of your choice. Knobs (environment):
#   FUZZ_EXAMPLES  examples per operation and generation mode (default 300; CI runs 25)
#   FUZZ_SEED      Hypothesis seed (default: a new one each run, printed; set it to replay)
#   FUZZ_TAGS      pytest -k expression over tags, e.g. "disputes or sync" (default: all)
# Usage: scripts/fuzz.sh [extra pytest args]   (or: make fuzz ARGS=…)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export FUZZ_EXAMPLES="${FUZZ_EXAMPLES:-300}"
export FUZZ_SEED="${FUZZ_SEED:-$(date +%s)}"
echo "fuzz: ${FUZZ_EXAMPLES} examples per operation and mode, seed ${FUZZ_SEED}" >&2
args=(tests/test_fuzz.py -p no:cacheprovider)
if [ -n "${FUZZ_TAGS:-}" ]; then args+=(-k "${FUZZ_TAGS}"); fi
exec "$ROOT/scripts/dev.sh" test "${args[@]}" "$@"
