#!/bin/sh
# Rewrite every render golden expectation from the current build after an intended change:
#   tests/render/update_golden.sh build/bin/sbx     (then review the diff)
set -eu
sbx=$(realpath "$1")
repo=$(cd "$(dirname "$0")/../.." && pwd)
for c in "$repo"/tests/render/cases/*/; do
  /usr/bin/python3 "$repo/tests/render/golden_render.py" "$sbx" "$repo" "$c" --update
done
