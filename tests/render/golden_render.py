#!/usr/bin/python3
"""Golden test of one `sbx render kubernetes` case.

usage: golden_render.py SBX REPO_DIR CASE_DIR [--update]

CASE_DIR/case.json: {"dir": folder under REPO_DIR to run in, "path": the PATH argument (optional),
"args": [options]}. Exit 0 must print CASE_DIR/expected.yaml byte for byte on stdout; a case with
expected.txt must exit with "exit" (default 1; 2 for usage errors) and print exactly that on stderr. HOME is fixed, so `~` mounts resolve alike
everywhere. --update rewrites the expectation from the current output.
"""
import json
import os
import pathlib
import subprocess
import sys


def run(sbx, repo, case_dir):
    case = json.loads((case_dir / "case.json").read_text())
    # One proxy image for every case (the default is a short name the user builds and pushes).
    argv = [sbx, "render", "kubernetes", "--proxy-image", "registry.example.com/sbx/proxy:0.1.0", *case.get("args", [])]
    if "path" in case:
        argv.append(case["path"])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/home/sbx-golden", "SBX_LOG": "warn"}
    return subprocess.run(argv, cwd=repo / case["dir"], env=env, capture_output=True, text=True, timeout=60)


def main():
    sbx, repo, case_dir = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    update = "--update" in sys.argv[4:]
    r = run(sbx, repo, case_dir)
    yaml_file, txt_file = case_dir / "expected.yaml", case_dir / "expected.txt"
    if update:
        (yaml_file if r.returncode == 0 else txt_file).write_text(r.stdout if r.returncode == 0 else r.stderr)
        (txt_file if r.returncode == 0 else yaml_file).unlink(missing_ok=True)
        return 0
    if yaml_file.exists():
        if r.returncode != 0:
            sys.exit(f"exit {r.returncode}, expected 0\nstderr:\n{r.stderr}")
        if r.stdout != yaml_file.read_text():
            sys.exit(f"stdout differs from {yaml_file}\n--- actual\n{r.stdout}")
    else:
        want = json.loads((case_dir / "case.json").read_text()).get("exit", 1)
        if r.returncode != want:
            sys.exit(f"exit {r.returncode}, expected {want}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        if r.stdout:
            sys.exit(f"printed on stdout:\n{r.stdout}")
        if r.stderr != txt_file.read_text():
            sys.exit(f"stderr differs from {txt_file}\n--- actual\n{r.stderr}")
    return 0


sys.exit(main())
