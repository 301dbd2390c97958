/* Retention: the contract's "10 daily backups, RETENTION_DAYS=7 -> 7 remain",
 * grandfather-father-son across month, year and ISO-week-53 boundaries, the
 * keep flag, the newest valid backup, failed backups and expiry times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "catalog/retention.h"
#include "common/timeutil.h"

#include <stdlib.h>
#include <string.h>

#define DAY TIME_SECONDS_PER_DAY

static RetBackup validBackup(int64_t created)
{
    RetBackup backup = {created, true, false, false, 0};
    return backup;
}

static size_t keptCount(const RetDecision *decisions, size_t count)
{
    size_t kept = 0;
    for (size_t index = 0; index < count; index++)
        kept += decisions[index].keep;
    return kept;
}

static void testContractTenDailyBackups(void **state)
{
    (void)state;
    /* GIVEN BACKUP_RETENTION_DAYS=7 AND 10 daily backups (up to 10 days old). */
    int64_t now = timeFromParts(2025, 12, 27, 2, 2, 26);
    RetBackup backups[10];
    for (int age = 0; age < 10; age++)
        backups[age] = validBackup(timeFromParts(2025, 12, 27 - age, 2, 0, 0));
    RetPolicy policy = {7, 0, 0};
    RetDecision decisions[10];
    retEvaluate(backups, 10, &policy, now, decisions);
    /* THEN only the 7 most recent remain, the 3 oldest are deleted. */
    assert_int_equal(keptCount(decisions, 10), 7);
    for (int age = 0; age < 10; age++) {
        assert_int_equal(decisions[age].keep, age < 7);
        if (age < 7)
            assert_int_equal(decisions[age].reasons & RET_REASON_DAILY, RET_REASON_DAILY);
    }
    /* The contract's log: at 2025-12-27 02:02 the 2025-12-20 02:00 backup goes. */
    assert_false(decisions[7].keep);
    assert_int_equal(decisions[7].reasons, 0);
}

static void testContractExpiryIsCreatedPlusDays(void **state)
{
    (void)state;
    RetBackup backup = validBackup(timeFromParts(2025, 12, 27, 15, 30, 0));
    RetPolicy policy = {7, 0, 0};
    RetDecision decision;
    retEvaluate(&backup, 1, &policy, timeFromParts(2025, 12, 27, 16, 0, 0), &decision);
    char text[TIME_TEXT_SIZE];
    timeFormatDisplay(decision.expires, text);
    assert_string_equal(text, "2026-01-03 15:30:00 UTC");
}

static void testExactBoundaryIsExpired(void **state)
{
    (void)state;
    int64_t now = timeFromParts(2025, 6, 10, 12, 0, 0);
    RetBackup backups[3] = {validBackup(now), validBackup(now - 7 * DAY + 1), validBackup(now - 7 * DAY)};
    RetPolicy policy = {7, 0, 0};
    RetDecision decisions[3];
    retEvaluate(backups, 3, &policy, now, decisions);
    assert_true(decisions[1].keep);
    assert_false(decisions[2].keep); /* exactly 7 days old is no longer "younger than 7 days" */
}

/* Daily backups at 02:00 from 2025-11-01 to 2026-01-15; returns the count. */
static size_t dailySeries(RetBackup *backups, size_t capacity)
{
    size_t count = 0;
    int64_t first = timeFromParts(2025, 11, 1, 2, 0, 0);
    int64_t last = timeFromParts(2026, 1, 15, 2, 0, 0);
    for (int64_t created = first; created <= last && count < capacity; created += DAY)
        backups[count++] = validBackup(created);
    return count;
}

static bool sameDay(int64_t created, int year, int month, int day)
{
    return timeDayIndex(created) == timeDayIndex(timeFromParts(year, month, day, 0, 0, 0));
}

static void assertGfsSurvivors(const RetBackup *backups, const bool *kept, size_t count)
{
    /* 7 daily (Jan 9-15), weekly reps of 2026-W02 (Jan 11, already daily),
     * 2026-W01 (Sun Jan 4) and 2025-W52 (Sun Dec 28), monthly reps of
     * December (Dec 31, inside 2026-W01) and November (Nov 30). */
    static const int expected[][3] = {
        {2026, 1, 15}, {2026, 1, 14}, {2026, 1, 13}, {2026, 1, 12}, {2026, 1, 11}, {2026, 1, 10},
        {2026, 1, 9},  {2026, 1, 4},  {2025, 12, 31}, {2025, 12, 28}, {2025, 11, 30},
    };
    size_t expectedCount = sizeof(expected) / sizeof(expected[0]);
    size_t survivors = 0;
    for (size_t index = 0; index < count; index++) {
        bool wanted = false;
        for (size_t probe = 0; probe < expectedCount; probe++)
            wanted |= sameDay(backups[index].created, expected[probe][0], expected[probe][1], expected[probe][2]);
        if (kept[index] != wanted) {
            char text[TIME_TEXT_SIZE];
            timeFormatDisplay(backups[index].created, text);
            fail_msg("backup of %s: kept=%d, expected %d", text, kept[index], wanted);
        }
        survivors += kept[index];
    }
    assert_int_equal(survivors, expectedCount);
}

static void testGfsAcrossMonthAndYear(void **state)
{
    (void)state;
    RetBackup backups[120];
    size_t count = dailySeries(backups, 120);
    assert_int_equal(count, 76);
    RetPolicy policy = {7, 4, 3};
    int64_t now = timeFromParts(2026, 1, 15, 3, 0, 0);
    RetDecision decisions[120];
    retEvaluate(backups, count, &policy, now, decisions);
    bool kept[120] = {false};
    for (size_t index = 0; index < count; index++)
        kept[index] = decisions[index].keep;
    assertGfsSurvivors(backups, kept, count);

    /* Expiry rules: weekly rep of 2025-W52 until Monday of 2026-W04, monthly
     * rep of November until February 1st, newest until April 1st (monthly). */
    for (size_t index = 0; index < count; index++) {
        if (sameDay(backups[index].created, 2025, 12, 28)) {
            assert_int_equal(decisions[index].reasons, RET_REASON_WEEKLY);
            assert_int_equal(decisions[index].expires, timeFromParts(2026, 1, 19, 0, 0, 0));
        }
        if (sameDay(backups[index].created, 2025, 11, 30)) {
            assert_int_equal(decisions[index].reasons, RET_REASON_MONTHLY);
            assert_int_equal(decisions[index].expires, timeFromParts(2026, 2, 1, 0, 0, 0));
        }
        if (sameDay(backups[index].created, 2025, 12, 31)) {
            /* In 2026-W01 but not its newest (Jan 4 is): monthly only. */
            assert_int_equal(decisions[index].reasons, RET_REASON_MONTHLY);
        }
        if (sameDay(backups[index].created, 2026, 1, 15)) {
            assert_int_equal(decisions[index].reasons, RET_REASON_DAILY | RET_REASON_WEEKLY | RET_REASON_MONTHLY
                                                           | RET_REASON_NEWEST_VALID);
            assert_int_equal(decisions[index].expires, timeFromParts(2026, 4, 1, 0, 0, 0));
        }
    }
}

/* Running the policy every day while backups arrive ends with the same set as
 * evaluating the whole history once: deletions never change a later choice. */
static void testGfsDayByDayMatchesOneShot(void **state)
{
    (void)state;
    RetBackup all[120];
    size_t count = dailySeries(all, 120);
    RetPolicy policy = {7, 4, 3};
    bool present[120] = {false};
    RetBackup current[120];
    size_t mapping[120];
    RetDecision decisions[120];
    for (size_t day = 0; day < count; day++) {
        present[day] = true;
        int64_t now = all[day].created + 147; /* cleanup right after the backup */
        size_t currentCount = 0;
        for (size_t index = 0; index <= day; index++) {
            if (!present[index])
                continue;
            mapping[currentCount] = index;
            current[currentCount++] = all[index];
        }
        retEvaluate(current, currentCount, &policy, now, decisions);
        for (size_t index = 0; index < currentCount; index++)
            if (!decisions[index].keep)
                present[mapping[index]] = false;
    }
    assertGfsSurvivors(all, present, count);
}

static void testIsoWeek53(void **state)
{
    (void)state;
    /* 2020 has an ISO week 53: Mon 2020-12-28 .. Sun 2021-01-03. */
    RetBackup backups[4] = {
        validBackup(timeFromParts(2020, 12, 27, 12, 0, 0)), /* Sun, 2020-W52 */
        validBackup(timeFromParts(2020, 12, 31, 12, 0, 0)), /* Thu, 2020-W53 */
        validBackup(timeFromParts(2021, 1, 3, 12, 0, 0)),   /* Sun, 2020-W53 */
        validBackup(timeFromParts(2021, 1, 4, 12, 0, 0)),   /* Mon, 2021-W01 */
    };
    RetPolicy policy = {1, 3, 0};
    RetDecision decisions[4];
    retEvaluate(backups, 4, &policy, timeFromParts(2021, 1, 5, 12, 0, 0), decisions);
    assert_true(decisions[0].keep);
    assert_false(decisions[1].keep);
    assert_true(decisions[2].keep);
    assert_true(decisions[3].keep);
    assert_int_equal(decisions[2].reasons, RET_REASON_WEEKLY);
    /* 2020-W53 leaves the 3-week window on Monday of 2021-W03. */
    assert_int_equal(decisions[2].expires, timeFromParts(2021, 1, 18, 0, 0, 0));
    /* One week later only two weeks back are left: W52 drops out. */
    retEvaluate(backups, 4, &policy, timeFromParts(2021, 1, 11, 0, 0, 0), decisions);
    assert_false(decisions[0].keep);
    assert_true(decisions[2].keep);
}

static void testKeepFlagSurvivesAndNeverExpires(void **state)
{
    (void)state;
    int64_t now = timeFromParts(2025, 12, 27, 0, 0, 0);
    RetBackup backups[3] = {validBackup(now - DAY), validBackup(now - 400 * DAY), validBackup(now - 500 * DAY)};
    backups[2].keep = true;
    RetPolicy policy = {7, 4, 3};
    RetDecision decisions[3];
    retEvaluate(backups, 3, &policy, now, decisions);
    assert_false(decisions[1].keep);
    assert_true(decisions[2].keep);
    assert_int_equal(decisions[2].reasons, RET_REASON_KEEP_FLAG);
    assert_int_equal(decisions[2].expires, 0);
    assert_false(retExpiringSoon(&decisions[2], now));
}

static void testNewestValidNeverDeleted(void **state)
{
    (void)state;
    int64_t now = timeFromParts(2025, 12, 27, 0, 0, 0);
    /* Every backup is far beyond every window; the newest valid one stays,
     * even though a newer FAILED one exists. */
    RetBackup backups[4] = {
        validBackup(now - 100 * DAY),
        validBackup(now - 90 * DAY),
        {now - 80 * DAY, false, false, false, 0},
        validBackup(now - 95 * DAY),
    };
    RetPolicy policy = {7, 0, 0};
    RetDecision decisions[4];
    retEvaluate(backups, 4, &policy, now, decisions);
    assert_false(decisions[0].keep);
    assert_true(decisions[1].keep);
    assert_int_equal(decisions[1].reasons, RET_REASON_NEWEST_VALID);
    assert_true(decisions[1].expires < now); /* past its expiry, kept anyway */
    assert_false(decisions[2].keep);
    assert_false(decisions[3].keep);
    assert_int_equal(keptCount(decisions, 4), 1);
}

static void testFailedBackups(void **state)
{
    (void)state;
    int64_t now = timeFromParts(2025, 12, 27, 12, 0, 0);
    RetBackup backups[3] = {
        {now - 1 * DAY, false, false, false, 0}, /* recent failure: kept for diagnosis */
        validBackup(now - 2 * DAY),
        {now - 8 * DAY, false, false, false, 0}, /* old failure */
    };
    RetPolicy policy = {7, 4, 3};
    RetDecision decisions[3];
    retEvaluate(backups, 3, &policy, now, decisions);
    assert_true(decisions[0].keep);
    assert_int_equal(decisions[0].reasons, RET_REASON_DAILY); /* never weekly/monthly/newest */
    assert_true(decisions[1].keep);
    assert_true(decisions[1].reasons & RET_REASON_WEEKLY);
    assert_true(decisions[1].reasons & RET_REASON_NEWEST_VALID);
    assert_false(decisions[2].keep);
}

static void testInUseIsKept(void **state)
{
    (void)state;
    int64_t now = timeFromParts(2025, 12, 27, 12, 0, 0);
    RetBackup backups[2] = {validBackup(now), validBackup(now - 30 * DAY)};
    backups[1].inUse = true;
    RetPolicy policy = {7, 0, 0};
    RetDecision decisions[2];
    retEvaluate(backups, 2, &policy, now, decisions);
    assert_true(decisions[1].keep);
    assert_int_equal(decisions[1].reasons, RET_REASON_IN_USE);
}

static void testExpiringSoon(void **state)
{
    (void)state;
    int64_t now = timeFromParts(2025, 12, 27, 12, 0, 0);
    RetBackup backups[3] = {validBackup(now), validBackup(now - 5 * DAY - 60), validBackup(now - 4 * DAY)};
    RetPolicy policy = {7, 0, 0};
    RetDecision decisions[3];
    retEvaluate(backups, 3, &policy, now, decisions);
    assert_false(retExpiringSoon(&decisions[0], now));
    assert_true(retExpiringSoon(&decisions[1], now)); /* 2 days minus a minute left */
    assert_false(retExpiringSoon(&decisions[2], now)); /* 3 days left */
}

static void testOrderDoesNotMatter(void **state)
{
    (void)state;
    RetBackup backups[120];
    size_t count = dailySeries(backups, 120);
    RetPolicy policy = {7, 4, 3};
    int64_t now = timeFromParts(2026, 1, 15, 3, 0, 0);
    RetDecision sorted[120], shuffled[120];
    retEvaluate(backups, count, &policy, now, sorted);
    /* Reverse the order and compare decision by decision. */
    RetBackup reversed[120];
    for (size_t index = 0; index < count; index++)
        reversed[index] = backups[count - 1 - index];
    retEvaluate(reversed, count, &policy, now, shuffled);
    for (size_t index = 0; index < count; index++) {
        assert_int_equal(sorted[index].keep, shuffled[count - 1 - index].keep);
        assert_int_equal(sorted[index].expires, shuffled[count - 1 - index].expires);
    }
}

static void testEmptyAndZeroPolicy(void **state)
{
    (void)state;
    RetPolicy policy = {0, 0, 0};
    retEvaluate(NULL, 0, &policy, 0, NULL);
    int64_t now = timeFromParts(2025, 12, 27, 12, 0, 0);
    RetBackup backups[2] = {validBackup(now - 10), validBackup(now - 20)};
    RetDecision decisions[2];
    retEvaluate(backups, 2, &policy, now, decisions);
    /* Retention 0 keeps only the newest valid backup. */
    assert_true(decisions[0].keep);
    assert_false(decisions[1].keep);
}

static void testReasonText(void **state)
{
    (void)state;
    char text[64];
    assert_string_equal(retReasonText(0, text, sizeof(text)), "expired");
    assert_string_equal(retReasonText(RET_REASON_DAILY | RET_REASON_MONTHLY, text, sizeof(text)), "daily, monthly");
    assert_string_equal(retReasonText(RET_REASON_KEEP_FLAG, text, sizeof(text)), "keep flag");
    char small[6];
    retReasonText(RET_REASON_NEWEST_VALID, small, sizeof(small));
    assert_int_equal(strlen(small), 5);
}

/* Differential chains: every ancestor of a kept backup is kept, with the
 * latest expiry of its kept dependants; nothing of an expired chain is. */
static void testChainsKeptWhole(void **state)
{
    (void)state;
    int64_t now = timeFromParts(2025, 12, 27, 12, 0, 0);
    /* Newest first: 0..2 diffs of 3 (a full at 20 days), 4 a full at 30
     * days with its diff 5 (25 days) kept by the keep flag, 6 an old
     * chain: full 7 (40 days) and its diff 6 (39 days), both expired. */
    RetBackup backups[8] = {
        validBackup(now - 1 * DAY), validBackup(now - 2 * DAY), validBackup(now - 10 * DAY),
        validBackup(now - 20 * DAY), validBackup(now - 30 * DAY), validBackup(now - 25 * DAY),
        validBackup(now - 39 * DAY), validBackup(now - 40 * DAY),
    };
    backups[0].dependsOn = 2; /* -> 1 */
    backups[1].dependsOn = 3; /* -> 2 */
    backups[2].dependsOn = 4; /* -> 3 */
    backups[5].dependsOn = 5; /* -> 4 */
    backups[5].keep = true;
    backups[6].dependsOn = 8; /* -> 7 */
    RetPolicy policy = {7, 0, 0};
    RetDecision decisions[8];
    retEvaluate(backups, 8, &policy, now, decisions);
    assert_true(decisions[0].keep && decisions[1].keep);
    assert_true(decisions[2].keep);
    assert_int_equal(decisions[2].reasons, RET_REASON_CHAIN);
    assert_int_equal(decisions[3].reasons, RET_REASON_CHAIN);
    /* The ancestors of the newest daily one live as long as it does. */
    assert_int_equal(decisions[3].expires, decisions[0].expires);
    assert_int_equal(decisions[4].reasons, RET_REASON_CHAIN);
    assert_int_equal(decisions[4].expires, 0); /* its diff carries the keep flag */
    assert_true(decisions[5].keep);
    assert_false(decisions[6].keep);
    assert_false(decisions[7].keep);
    char text[64];
    assert_string_equal(retReasonText(RET_REASON_CHAIN, text, sizeof(text)), "chain of a kept backup");

    /* A cycle of parents (a hostile repository) ends. */
    RetBackup cycle[2] = {validBackup(now - DAY), validBackup(now - 2 * DAY)};
    cycle[0].dependsOn = 2;
    cycle[1].dependsOn = 1;
    retEvaluate(cycle, 2, &policy, now, decisions);
    assert_true(decisions[0].keep && decisions[1].keep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testContractTenDailyBackups),
        cmocka_unit_test(testContractExpiryIsCreatedPlusDays),
        cmocka_unit_test(testExactBoundaryIsExpired),
        cmocka_unit_test(testGfsAcrossMonthAndYear),
        cmocka_unit_test(testGfsDayByDayMatchesOneShot),
        cmocka_unit_test(testIsoWeek53),
        cmocka_unit_test(testKeepFlagSurvivesAndNeverExpires),
        cmocka_unit_test(testNewestValidNeverDeleted),
        cmocka_unit_test(testFailedBackups),
        cmocka_unit_test(testInUseIsKept),
        cmocka_unit_test(testExpiringSoon),
        cmocka_unit_test(testOrderDoesNotMatter),
        cmocka_unit_test(testEmptyAndZeroPolicy),
        cmocka_unit_test(testReasonText),
        cmocka_unit_test(testChainsKeptWhole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
