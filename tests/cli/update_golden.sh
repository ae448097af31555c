#!/usr/bin/env bash
# Regenerate sandboxfile-spec/examples/invalid/*/expected.txt from a built sbx; review the diff!
#   tests/cli/update_golden.sh [build/bin/sbx]
set -euo pipefail
cd "$(dirname "$0")/../.."
sbx=$(realpath "${1:-build/bin/sbx}")
for case in sandboxfile-spec/examples/invalid/*/; do
  (cd "$case" && "$sbx" validate >/dev/null 2>expected.txt || true)
done
git diff --stat -- sandboxfile-spec/examples/invalid
