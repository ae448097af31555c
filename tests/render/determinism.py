#!/usr/bin/python3
"""Determinism of `sbx render kubernetes`: two runs give the same bytes; a copy of the project in
another directory gives the same bytes; --out writes the same documents, one file each.

usage: determinism.py SBX REPO_DIR
"""
import pathlib
import shutil
import subprocess
import sys
import tempfile

sbx, repo = sys.argv[1], pathlib.Path(sys.argv[2])
args = ["render", "kubernetes", "--admission", "--git-url", "https://git.example.com/t/hello.git",
        "--image", "registry.example.com/sbx/busybox:1"]


def render(project, extra=()):
    r = subprocess.run([sbx, *args, *extra, str(project)], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        sys.exit(f"render of {project} failed: {r.stderr}")
    return r.stdout


with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    first = render(repo / "examples/hello")
    if render(repo / "examples/hello") != first:
        sys.exit("two renders of examples/hello differ")
    copy = tmp / "elsewhere" / "deeper" / "hello"
    shutil.copytree(repo / "examples/hello", copy)
    if render(copy) != first:
        sys.exit("a copy of examples/hello in another directory renders differently")
    out = tmp / "out"
    r = subprocess.run([sbx, *args, "--out", str(out), str(copy)], capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or r.stdout:
        sys.exit(f"--out failed: {r.returncode} {r.stdout} {r.stderr}")
    files = sorted(out.iterdir())
    header_end = first.index("---\n")
    header, docs = first[:header_end], first[header_end + 4:].split("---\n")
    if len(files) != len(docs):
        sys.exit(f"--out wrote {len(files)} files for {len(docs)} documents")
    for f, d in zip(files, docs):
        if f.read_text() != header + d:
            sys.exit(f"{f.name} differs from its document on stdout")
print(f"{len(docs)} documents, byte-identical across runs, checkouts and --out")
