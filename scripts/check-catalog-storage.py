#!/usr/bin/env python3
"""Checks that the catalog opens no file except through src/storage/ (issue 12):
no .c file under src/catalog/ calls a system file function (open, stat,
opendir, rename, mkdir, unlink, flock...), a lock of common/lock.h, or a
function of common/fsutil.h. Comments and string literals are ignored. Lists
every call found and exits 1. Run by ctest (catalog_files_through_storage).

One exception: fsPathJoin. It only joins two strings into a buffer and reports
an overflow, touching no file; the catalog uses it for the paths it still hands
to callers outside it (catBackupPath, catBackupDirPath, the archive path of
catChecksumVerify) and for naming posix files in messages exactly as before.

Usage: python3 scripts/check-catalog-storage.py [catalog source dir, default: src/catalog]
"""
import pathlib
import re
import sys

SYSTEM_CALLS = [
    "open", "openat", "fopen", "freopen", "opendir", "fdopendir", "readdir", "scandir", "nftw", "ftw",
    "stat", "lstat", "fstat", "fstatat", "statx", "access", "faccessat", "realpath",
    "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "unlink", "unlinkat", "remove",
    "link", "symlink", "truncate", "flock", "lockf", "fsync", "fdatasync", "statvfs", "utimes",
]
LOCK_CALLS = ["lockAcquire", "lockIsHeld", "lockRelease", "lockReadHolder", "lockMode", "lockPath"]
ALLOWED = {"fsPathJoin"}

# A call: the name as a whole word, not a member (x.open( or x->open(), then "(".
CALL = re.compile(r"(?<![\w.>])(" + "|".join(SYSTEM_CALLS + LOCK_CALLS) + r"|fs[A-Z]\w*)\s*\(")


def strip_comments_and_strings(text):
    """Blanks comments, string and character literals, keeping line numbers."""
    pattern = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
    return pattern.sub(lambda match: re.sub(r"[^\n]", " ", match.group(0)), text)


root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1
                    else pathlib.Path(__file__).resolve().parent.parent / "src" / "catalog")
sources = sorted(root.glob("*.c"))
if not sources:
    print(f"{root}: no .c files (wrong directory?)")
    sys.exit(1)
found = []
for path in sources:
    code = strip_comments_and_strings(path.read_text(errors="replace"))
    for number, line in enumerate(code.splitlines(), 1):
        for match in CALL.finditer(line):
            if match.group(1) not in ALLOWED:
                found.append(f"{path}:{number}: calls {match.group(1)}() directly; go through src/storage/ "
                             "(the catalog opens no file itself)")
for line in found:
    print(line)
sys.exit(1 if found else 0)
