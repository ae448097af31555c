#!/usr/bin/python3
"""Every spec example is accepted or rejected identically by the JSON Schema and by the loader.

usage: schema_conformance.py SBX_BINARY SPEC_DIR

A valid example must pass both. An invalid example must fail both, except where its case folder
holds `loader-only.txt`: the rule it breaks is one the schema cannot express (SPEC.md, "What only
the loader checks"); then the schema must accept it (so the marker never hides a schema gap that
could be closed) and the loader must still reject it.
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
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        return False, "; ".join(f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message[:120]}" for e in errors)
    return True, ""


def loader_accepts(sbx, path):
    r = subprocess.run([sbx, "validate", str(path)], capture_output=True, text=True, timeout=30)
    if r.returncode not in (0, 1):
        raise SystemExit(f"{path}: sbx validate exited {r.returncode}: {r.stderr}")
    return r.returncode == 0, r.stderr


def main():
    sbx, spec = sys.argv[1], pathlib.Path(sys.argv[2])
    schema = json.loads((spec / "sandboxfile.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures, checked = [], 0
    for path in sorted((spec / "examples" / "valid").glob("*.toml")):
        checked += 1
        ok, why = schema_accepts(validator, path)
        if not ok:
            failures.append(f"{path}: valid example rejected by the schema: {why}")
        ok, why = loader_accepts(sbx, path)
        if not ok:
            failures.append(f"{path}: valid example rejected by the loader:\n{why}")
    for case in sorted(p for p in (spec / "examples" / "invalid").iterdir() if p.is_dir()):
        checked += 1
        path = case / "Sandboxfile"
        loader_only = (case / "loader-only.txt").exists()
        ok, why = schema_accepts(validator, path)
        if loader_only and not ok:
            failures.append(f"{case}: marked loader-only but the schema rejects it ({why}); remove loader-only.txt")
        if not loader_only and ok:
            failures.append(f"{case}: invalid example accepted by the schema")
        ok, _ = loader_accepts(sbx, path)
        if ok:
            failures.append(f"{case}: invalid example accepted by the loader")
    for f in failures:
        print("FAIL", f)
    print(f"{checked} examples checked, {len(failures)} disagreements")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
