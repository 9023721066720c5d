#!/usr/bin/env bash
# The GPU proof on a bare GPU machine, in one call: `scripts/gpu-check.sh [bench options]`.
#
# Run `scripts/gpu-wheels.sh` in the checkout first (the machine has no network; the wheels it
# lacks travel in .whl/). This script never touches the network: it installs those wheels into
# a private folder, puts the checkout on PYTHONPATH (no pip install of the project), and runs
#     python3 -m dfl_tui bench gpu --json $OUT/gpu.json
# with its log in $OUT/gpu-check.log ($OUT: the device tool's output folder; else ./gpu-results).
# A global `timeout` ends it by GPU_CHECK_LIMIT seconds (default 400) whatever happens; the bench
# itself stops starting sections after GPU_CHECK_BUDGET seconds (default 330) and the JSON is
# rewritten after every section, so a stop keeps what was measured.
# Extra arguments go to the bench: e.g. `scripts/gpu-check.sh --quick` (no torch.compile, ~3 min).
set -uo pipefail
cd "$(dirname "$0")/.."

export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
LIMIT="${GPU_CHECK_LIMIT:-400}"
BUDGET="${GPU_CHECK_BUDGET:-330}"
OUTDIR="${OUT:-$PWD/gpu-results}"
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu-check.log"
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!

echo "gpu-check: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), $(nproc) cores, in $PWD"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu \
    --format=csv,noheader 2>&1 || echo "gpu-check: nvidia-smi failed"

SITE=/tmp/dfl-tui-site
export PYTHONPATH="$PWD"
if compgen -G ".whl/*.whl" > /dev/null; then
    if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl; then
        export PYTHONPATH="$SITE:$PWD"
    else
        echo "gpu-check: installing the wheels in .whl/ failed; the sections that need them will say so"
    fi
else
    echo "gpu-check: no .whl/ here (run scripts/gpu-wheels.sh first); extraction and merge may fail"
fi
if [ -f .whl/commit.txt ]; then
    DFL_TUI_COMMIT="$(cat .whl/commit.txt)"
    export DFL_TUI_COMMIT
fi
"$PY" -c 'import sys, torch; print("gpu-check: python", sys.version.split()[0], "torch", torch.__version__,
      "cuda", torch.version.cuda, "available", torch.cuda.is_available())' || echo "gpu-check: torch import failed"

timeout -k 15 "$LIMIT" "$PY" -m dfl_tui bench gpu --json "$OUTDIR/gpu.json" --budget "$BUDGET" "$@"
code=$?
[ "$code" = 124 ] && echo "gpu-check: stopped by the ${LIMIT} s timeout; $OUTDIR/gpu.json holds the sections that ended"
echo "gpu-check: exit code $code; results in $OUTDIR/gpu.json, log in $LOG"
exec 1>&- 2>&-
wait "$TEE_PID" 2>/dev/null  # the log is complete before the call returns
exit "$code"
