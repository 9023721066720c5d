#!/usr/bin/env bash
# Run HERE (in the checkout that travels to the GPU machine) before `scripts/gpu-check.sh` runs there.
#
# The GPU machine has no network. Its python3 (3.12, torch, numpy, OpenCV, scikit-image, SciPy,
# matplotlib, safetensors, numba, tqdm, pillow...) lacks only these of what `dfl-tui bench gpu`
# imports: PyWavelets (the merge step's watermark) and face-alignment (the S3FD/FAN networks).
# This downloads their py3.12 manylinux x86_64 wheels, without dependencies, at the versions
# pinned in constraints.txt, into .whl/ (ignored by git; name it in the run's `carry`), and
# records the commit in .whl/commit.txt so the results name it.
set -euo pipefail
cd "$(dirname "$0")/.."

exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"

pin() {  # the version constraints.txt pins for a package (case and -/_ insensitive)
    local v
    v="$(grep -iE "^$(echo "$1" | sed 's/[-_]/[-_]/g')==" constraints.txt | head -1 | cut -d= -f3)"
    [ -n "$v" ] || { echo "gpu-wheels: $1 is not pinned in constraints.txt" >&2; exit 1; }
    echo "$1==$v"
}
PACKAGES=("$(pin PyWavelets)" "$(pin face-alignment)")

rm -rf .whl
mkdir -p .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${PACKAGES[@]}"

state=""
git diff --quiet HEAD -- 2>/dev/null || state=" dirty"
echo "$(git rev-parse HEAD)$state" > .whl/commit.txt
ls -l .whl
echo "gpu-wheels: ${PACKAGES[*]} in .whl/ ($(du -sh .whl | cut -f1)); commit $(cat .whl/commit.txt)"
