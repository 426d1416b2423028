#!/usr/bin/env python3
"""Re-run the command that made an artifact, from its <artifact>.manifest.json (make rerun MANIFEST=...).

The manifest's "argv" is the command as typed ([tool, args...]); it is run again with the tool from --bin,
from the current directory (make targets run from the repository root). Inputs recorded with a sha256 are
checked first: a changed or missing input is reported (the rerun still happens unless --strict). Extra
arguments after "--" are appended (flags given twice: the last wins, e.g. "-o other/path").
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default=".build/release", help="directory of the pp-* executables")
    p.add_argument("--strict", action="store_true", help="refuse to run when an input changed")
    p.add_argument("--dry-run", action="store_true", help="print the command only")
    p.add_argument("manifest")
    p.add_argument("extra", nargs="*")
    a = p.parse_args()
    try:
        with open(a.manifest, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"error: {a.manifest}: cannot read the manifest: {e}")
    argv = m.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(x, str) for x in argv):
        sys.exit(f"error: {a.manifest}: no \"argv\" list of strings (not a pp-* manifest?)")
    changed = []
    for i in m.get("inputs") or []:
        path, digest = i.get("path"), i.get("sha256")
        if not path or path == "-" or not digest:
            continue
        if not os.path.exists(path):
            changed.append(f"{path}: missing")
        elif sha256(path) != digest:
            changed.append(f"{path}: sha256 differs from the manifest")
    for c in changed:
        print(f"rerun: input changed: {c}", file=sys.stderr)
    if changed and a.strict:
        sys.exit(f"error: {a.manifest}: {len(changed)} input(s) changed (--strict)")
    tool = os.path.join(a.bin, os.path.basename(argv[0]))
    if not os.access(tool, os.X_OK):
        sys.exit(f"error: {tool}: not built (make build)")
    cmd = [tool] + argv[1:] + a.extra
    print("rerun: " + " ".join(cmd), file=sys.stderr)
    if a.dry_run:
        return 0
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
