#!/usr/bin/python3
"""Hostile strings in a Sandboxfile (quotes, newlines, a YAML document marker, `key: value`, line
separators, YAML 1.1 booleans) come out of the rendered YAML as exactly the same strings, read by
js-yaml (YAML 1.2) and, where installed, PyYAML (YAML 1.1): no value can inject a key, an object or
a document.

usage: yaml_strings.py SBX VALIDATOR_DIR
"""
import json
import pathlib
import subprocess
import sys
import tempfile

sbx, validator = sys.argv[1], pathlib.Path(sys.argv[2])
values = {
    "A_QUOTE": 'say "hi" \\ there',
    "A_DOC": "x\n---\napiVersion: v1\nkind: Secret",
    "A_KEY": "a: b\n  c: d",
    "A_BOOL": "yes",
    "A_NULL": "~",
    "A_NUM": "0x1F",
    "A_LS": "one\u2028two\u0085three",
    "A_TAB": "\tindent #not a comment",
    "A_EMOJI": "\U0001F600",
}


def toml(s):
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string for these values


with tempfile.TemporaryDirectory() as tmp:
    d = pathlib.Path(tmp)
    env = "\n".join(f"{k} = {toml(v)}" for k, v in values.items())
    (d / "Sandboxfile").write_text(
        f'version = 1\nname = "hostile"\n[agent]\ncommand = ["/bin/sh", "-c", {toml(values["A_DOC"])}]\n'
        f'[agent.env]\n{env}\n[image]\nref = "registry.example.com/a:1"\n')
    r = subprocess.run([sbx, "render", "kubernetes", str(d)], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        sys.exit(r.stderr)
    (d / "out.yaml").write_text(r.stdout)
    reader = ("import yaml from 'js-yaml'; import {readFileSync} from 'node:fs';"
              "console.log(JSON.stringify(yaml.loadAll(readFileSync(process.argv[1], 'utf8'))));")
    js = subprocess.run(["node", "--input-type=module", "-e", reader, str(d / "out.yaml")], cwd=validator,
                        capture_output=True, text=True, timeout=60)
    if js.returncode != 0:
        sys.exit(js.stderr)
    parsed = {"js-yaml": json.loads(js.stdout)}
    try:
        import yaml
        parsed["PyYAML"] = list(yaml.safe_load_all(r.stdout))
    except ImportError:
        pass
    for reader_name, docs in parsed.items():
        if [doc["kind"] for doc in docs] != ["ConfigMap", "NetworkPolicy", "Sandbox"]:
            sys.exit(f"{reader_name}: documents {[doc.get('kind') for doc in docs]}")
        agent = docs[2]["spec"]["podTemplate"]["spec"]["containers"][0]
        got = {e["name"]: e["value"] for e in agent["env"]}
        for k, v in values.items():
            if got.get(k) != v:
                sys.exit(f"{reader_name}: {k} came back as {got.get(k)!r}, not {v!r}")
        if agent["command"][2] != values["A_DOC"]:
            sys.exit(f"{reader_name}: the command came back as {agent['command']!r}")
    print(f"{len(values)} hostile strings round-trip through {', '.join(parsed)}")
