#!/usr/bin/python3
"""Every policy example is accepted or rejected identically by policy.schema.json and the loader.

usage: policy_schema_conformance.py SBX_BINARY REPO_DIR

Valid: sandboxfile-spec/policies/valid/*.toml and the top-level policies/ (baseline, examples)
must pass both. Invalid: sandboxfile-spec/policies/invalid/<case>/policy.toml must fail both,
except where the case holds loader-only.txt (the schema must then accept it).
Uses Debian's python3-jsonschema and Python 3.11's tomllib (call /usr/bin/python3).
"""
import json
import pathlib
import subprocess
import sys
import tomllib

import jsonschema


def schema_accepts(validator, path):
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        return False, f"TOML: {e}"
    errors = list(validator.iter_errors(doc))
    return (not errors), "; ".join(f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message[:120]}" for e in errors)


def loader_accepts(sbx, path):
    r = subprocess.run([sbx, "policy", "validate", str(path)], capture_output=True, text=True, timeout=30)
    if r.returncode not in (0, 1):
        raise SystemExit(f"{path}: sbx policy validate exited {r.returncode}: {r.stderr}")
    return r.returncode == 0, r.stderr


def main():
    sbx, repo = sys.argv[1], pathlib.Path(sys.argv[2])
    spec = repo / "sandboxfile-spec"
    schema = json.loads((spec / "policy.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures, checked = [], 0
    valid = sorted((spec / "policies" / "valid").glob("*.toml")) + sorted((repo / "policies").glob("**/*.toml"))
    for path in valid:
        checked += 1
        ok, why = schema_accepts(validator, path)
        if not ok:
            failures.append(f"{path}: valid policy rejected by the schema: {why}")
        ok, why = loader_accepts(sbx, path)
        if not ok:
            failures.append(f"{path}: valid policy rejected by the loader:\n{why}")
    for case in sorted(p for p in (spec / "policies" / "invalid").iterdir() if p.is_dir()):
        checked += 1
        path = case / "policy.toml"
        loader_only = (case / "loader-only.txt").exists()
        ok, why = schema_accepts(validator, path)
        if loader_only and not ok:
            failures.append(f"{case}: marked loader-only but the schema rejects it ({why}); remove loader-only.txt")
        if not loader_only and ok:
            failures.append(f"{case}: invalid policy accepted by the schema")
        ok, _ = loader_accepts(sbx, path)
        if ok:
            failures.append(f"{case}: invalid policy accepted by the loader")
    for f in failures:
        print("FAIL", f)
    print(f"{checked} policies checked, {len(failures)} disagreements")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
