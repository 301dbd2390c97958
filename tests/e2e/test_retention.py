"""Contract test "Scheduler Respects Retention", and the weekly/monthly
(grandfather-father-son) tiers across month and year boundaries, driven
through the real scheduler.

How backups are aged: each one is made for real with `neo4j-backup --create`
and NBK_NOW set to the day it should have been taken (the process clock starts
at that instant), so its id, its self-checksummed manifest and its expiry all
say that day; nothing is edited afterwards. The scheduler then runs with
NBK_NOW two seconds before its "0 H * * *" run, takes that backup, and applies
the policy at that moment. The database is (nearly) empty, so each backup
takes a fraction of a second.
"""

import re

from test_scheduler import (BACKUP_ID, EVENT, Scheduler, backup_dirs, create_backup_at, leftovers,
                            tool_env)
from test_scheduler import sched_server  # noqa: F401  (the fixture, shared with test_scheduler.py)


def _day(backup_id: str) -> str:
    """neo4j-20251217-030000 -> 20251217 (the second may differ on a busy machine)."""
    return backup_id.split("-")[1]


def test_scheduler_keeps_the_7_most_recent_of_10_daily_backups(backup_bin, sched_server, tmp_path):
    storage = tmp_path / "store"
    env = tool_env(sched_server, storage, BACKUP_RETENTION_DAYS=7, BACKUP_SCHEDULE="0 2 * * *")
    # GIVEN 10 daily backups, the oldest ten days old: 2025-12-17 .. 2025-12-26
    # at 03:00 UTC. The scheduler cleans up on 2025-12-27 just after 02:00,
    # so the seven from 2025-12-20 on are younger than 7 days (by an hour).
    days = [f"2025-12-{day:02d}" for day in range(17, 27)]
    created = {day.replace("-", ""): create_backup_at(backup_bin, env, f"{day}T03:00:00Z") for day in days}
    assert len(backup_dirs(storage)) == 10

    # WHEN the scheduler runs (its backup, then its cleanup).
    with Scheduler(backup_bin, {**env, "NBK_NOW": "2025-12-27T01:59:58Z"}, tmp_path) as scheduler:
        scheduler.wait_for(EVENT + r"NEXT_BACKUP: 2025-12-28 02:00:00 UTC$")
        assert scheduler.stop() == 0, scheduler.report()
    out = scheduler.stdout

    # THEN the 3 oldest are deleted and the 7 most recent remain (beside the
    # scheduler's own new backup).
    oldest = [created[day] for day in ("20251217", "20251218", "20251219")]
    newest = [created[day.replace("-", "")] for day in days[3:]]
    new_backup = re.search(EVENT + rf"BACKUP_SUCCESS: ({BACKUP_ID}) ", out, re.M).group(1)
    assert _day(new_backup) == "20251227"
    assert re.search(EVENT + r"CLEANUP_START: Remove backups older than 7 days$", out, re.M)
    line = re.search(EVENT + r"CLEANUP_SUCCESS: Deleted 3 backups \((.*)\)$", out, re.M)
    assert line, out
    assert sorted(line.group(1).split(", ")) == sorted(oldest)
    assert backup_dirs(storage) == sorted(newest + [new_backup])
    assert leftovers(storage) == []


# Weekly and monthly tiers. The scheduler runs on Sunday 2026-01-11 at 03:00
# with BACKUP_RETENTION_DAYS=7, BACKUP_KEEP_WEEKLY=4, BACKUP_KEEP_MONTHLY=3.
# Windows at that moment:
#   daily    younger than 7 days: after 2026-01-04 03:00
#   weekly   ISO weeks starting 2026-01-05, 2025-12-29 (2026-W01, which spans
#            the new year), 2025-12-22, 2025-12-15: the newest backup of each
#   monthly  2026-01, 2025-12, 2025-11: the newest backup of each
# Day -> (kept?, why), for backups taken at 02:00 UTC.
GFS_BACKUPS = {
    "2025-10-31": (False, "October is outside the 3 months"),
    "2025-11-10": (False, "not the newest of November"),
    "2025-11-28": (False, "not the newest of November"),
    "2025-11-30": (True, "monthly: newest of November"),
    "2025-12-14": (False, "its week (from 12-08) is outside the 4 weeks; not the newest of December"),
    "2025-12-15": (False, "not the newest of its week"),
    "2025-12-19": (False, "not the newest of its week"),
    "2025-12-21": (True, "weekly: newest of the week from 12-15"),
    "2025-12-24": (False, "not the newest of its week"),
    "2025-12-28": (True, "weekly: newest of the week from 12-22"),
    "2025-12-29": (False, "not the newest of 2026-W01 nor of December"),
    "2025-12-31": (True, "monthly: newest of December (crossing the year)"),
    "2026-01-01": (False, "not the newest of 2026-W01; January's newest is the scheduler's"),
    "2026-01-04": (True, "weekly: newest of 2026-W01 (7 days and 1 hour old: not daily)"),
    "2026-01-05": (True, "daily"),
    "2026-01-08": (True, "daily"),
    "2026-01-10": (True, "daily"),
}


def test_scheduler_applies_weekly_and_monthly_tiers_across_month_and_year(backup_bin, sched_server, tmp_path):
    storage = tmp_path / "store"
    env = tool_env(sched_server, storage, BACKUP_RETENTION_DAYS=7, BACKUP_KEEP_WEEKLY=4, BACKUP_KEEP_MONTHLY=3,
                   BACKUP_SCHEDULE="0 3 * * *")
    created = {day: create_backup_at(backup_bin, env, f"{day}T02:00:00Z") for day in GFS_BACKUPS}

    with Scheduler(backup_bin, {**env, "NBK_NOW": "2026-01-11T02:59:58Z"}, tmp_path) as scheduler:
        scheduler.wait_for(EVENT + r"NEXT_BACKUP: 2026-01-12 03:00:00 UTC$")
        assert scheduler.stop() == 0, scheduler.report()
    out = scheduler.stdout
    assert re.search(EVENT + r"CLEANUP_START: Remove backups older than 7 days \(keeping 4 weekly, 3 monthly\)$",
                     out, re.M)
    new_backup = re.search(EVENT + rf"BACKUP_SUCCESS: ({BACKUP_ID}) ", out, re.M).group(1)
    assert _day(new_backup) == "20260111"

    expected_kept = sorted([created[day] for day, (kept, _) in GFS_BACKUPS.items() if kept] + [new_backup])
    expected_deleted = sorted(created[day] for day, (kept, _) in GFS_BACKUPS.items() if not kept)
    remaining = backup_dirs(storage)
    wrong = {day: why for day, (kept, why) in GFS_BACKUPS.items() if (created[day] in remaining) != kept}
    assert not wrong, f"kept/deleted wrongly: {wrong}"
    assert remaining == expected_kept
    line = re.search(EVENT + r"CLEANUP_SUCCESS: Deleted 9 backups \((.*)\)$", out, re.M)
    assert line, out
    assert sorted(line.group(1).split(", ")) == expected_deleted
