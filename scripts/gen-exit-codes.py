#!/usr/bin/env python3
"""Regenerates docs/exit-codes.md from src/common/error.def (the single source)."""
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
rows = []
for line in (root / "src/common/error.def").read_text().splitlines():
    match = re.match(r'NBK_ERROR\((\w+), (\d+), "([^"]*)", "([^"]*)"\)', line)
    if match:
        ident, status, message, action = match.groups()
        rows.append(f"| {status} | `{ident}` | {message} | {action} |")

page = f"""# Exit statuses and error codes

Every failure prints the contract's `ERROR:` lines: a headline, `ERROR: Code: <CODE>`,
`ERROR: Reason: ...` and `ERROR: Action: ...`, and exits with the status of its code.
The statuses below are a public promise: they never change meaning and are never renumbered;
new codes only get new numbers. The table is generated from `src/common/error.def` by
`scripts/gen-exit-codes.py`; the unit test `tests/unit/error_test.c` fails when they disagree.

| Exit status | Code | Meaning | Default action |
|---|---|---|---|
{chr(10).join(rows)}

Codes named in the contract (`BACKUP_NO_SPACE`, `BACKUP_CORRUPTED`, `BACKUP_NOT_FOUND`,
`RESTORE_HEALTH_FAILED`, `NEO4J_UNREACHABLE`, `NEO4J_ADMIN_FAILED`) keep the contract's meaning;
the others extend it where an operator needs a distinct answer (a wrong password,
`NEO4J_AUTH_FAILED`, is not the same problem as a server that does not answer).

`BACKUP_KEY_REQUIRED` and `BACKUP_KEY_INVALID` belong to encrypted backups
([encryption.md](encryption.md)): a restore, `--validate` with a key, or `--rotate-key` checks the
key against the backup's wrapped data key before anything else, so the target instance is never
touched when the key is missing or wrong. A wrong passphrase is `BACKUP_KEY_INVALID` too; an
encrypted manifest whose protected fields were changed is `BACKUP_CORRUPTED` ("manifest
authentication failed").
"""
(root / "docs/exit-codes.md").write_text(page)
