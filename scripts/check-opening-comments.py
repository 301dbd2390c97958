#!/usr/bin/env python3
"""Checks that every .c file under src/ opens with a comment saying what it is
for (CONTRIBUTING.md): its first line starts a /* */ comment with some words in
it. Lists the files that do not and exits 1. Run by ctest (c_files_open_with_comment).

Usage: python3 scripts/check-opening-comments.py [source root, default: src]
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent / "src")
missing = []
for path in sorted(root.rglob("*.c")):
    text = path.read_text(errors="replace")
    match = re.match(r"/\*(.*?)\*/", text, re.S)
    words = re.findall(r"[A-Za-z]{2,}", match.group(1)) if match else []
    if len(words) < 3:
        missing.append(str(path))
for name in missing:
    print(f"{name}: does not open with a comment saying what the file is for")
sys.exit(1 if missing else 0)
