#!/usr/bin/env bash
# Regenerate the policy golden files from a built sbx; review the diff!
#   tests/policy/update_golden.sh [build/bin/sbx]
set -euo pipefail
cd "$(dirname "$0")/../.."
sbx=$(realpath "${1:-build/bin/sbx}")
for case in sandboxfile-spec/policies/invalid/*/; do
  (cd "$case" && "$sbx" policy validate policy.toml >/dev/null 2>expected.txt || true)
done
for case in tests/policy/golden/*/; do
  dir=$(realpath "$case")
  none="$dir/.no-such-dir"
  (cd "$case" && env HOME="$dir/home" SBX_POLICY_PATH=policy.toml SBX_SYSTEM_CONFIG_DIR="$none" \
     SBX_CONFIG_DIR="$none/config" SBX_STATE_DIR="$none/state" SBX_DATA_DIR="$none/data" SBX_CACHE_DIR="$none/cache" \
     "$sbx" policy check 2>/dev/null | sed "s|$dir|<case>|g" >expected.txt || true)
done
git status --short -- sandboxfile-spec/policies/invalid tests/policy/golden
