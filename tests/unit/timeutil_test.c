/* Time helpers: UTC formats, ISO-8601 parsing, backup ids, ISO weeks (checked
 * against the C library's %G/%V), months, and clock injection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Runs first: NBK_NOW is read on the first timeNow() of the process. */
static void testEnvironmentClockStartsAtNbkNow(void **state)
{
    (void)state;
    setenv("NBK_NOW", "2025-12-27T15:30:00Z", 1);
    int64_t now = timeNow();
    int64_t start = timeFromParts(2025, 12, 27, 15, 30, 0);
#ifdef NBK_TEST_HOOKS
    assert_true(now >= start && now <= start + 5);
    unsetenv("NBK_NOW");
    /* Still injected after the variable is gone: the offset was fixed. */
    assert_true(timeNow() < start + 60);
#else
    /* A build without NBK_TEST_HOOKS ignores the hook: the system clock. */
    unsetenv("NBK_NOW");
    struct timespec system;
    clock_gettime(CLOCK_REALTIME, &system);
    assert_true(now > start + 60 && now >= (int64_t)system.tv_sec - 5 && now <= (int64_t)system.tv_sec);
#endif
}

static int64_t fixedClock(void *payload) { return *(const int64_t *)payload; }

static void testSettableClock(void **state)
{
    (void)state;
    int64_t fixed = 1234567890;
    timeSetClock(fixedClock, &fixed);
    assert_int_equal(timeNow(), 1234567890);
    fixed = 42;
    assert_int_equal(timeNow(), 42);
    timeSetClock(NULL, NULL);
    assert_int_not_equal(timeNow(), 42);
}

static void testFromPartsMatchesTimegm(void **state)
{
    (void)state;
    assert_int_equal(timeFromParts(2025, 12, 27, 15, 30, 0), 1766849400);
    assert_int_equal(timeFromParts(1970, 1, 1, 0, 0, 0), 0);
    /* Normalization like timegm: month 13 is January of the next year. */
    assert_int_equal(timeFromParts(2025, 13, 1, 0, 0, 0), timeFromParts(2026, 1, 1, 0, 0, 0));
    assert_int_equal(timeFromParts(2026, 1, 0, 0, 0, 0), timeFromParts(2025, 12, 31, 0, 0, 0));
    for (int64_t seconds = -5000000000LL; seconds < 5000000000LL; seconds += 86399 * 37) {
        time_t value = (time_t)seconds;
        struct tm parts;
        gmtime_r(&value, &parts);
        assert_int_equal(timeFromParts(parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
                                       parts.tm_min, parts.tm_sec),
                         seconds);
        int year, month, day, hour, minute, second;
        timeToParts(seconds, &year, &month, &day, &hour, &minute, &second);
        assert_int_equal(year, parts.tm_year + 1900);
        assert_int_equal(month, parts.tm_mon + 1);
        assert_int_equal(day, parts.tm_mday);
        assert_int_equal(hour * 3600 + minute * 60 + second, parts.tm_hour * 3600 + parts.tm_min * 60 + parts.tm_sec);
    }
}

static void testFormats(void **state)
{
    (void)state;
    char text[TIME_TEXT_SIZE];
    int64_t moment = timeFromParts(2025, 12, 27, 15, 30, 0);
    timeFormatDisplay(moment, text);
    assert_string_equal(text, "2025-12-27 15:30:00 UTC");
    timeFormatIso(moment, text);
    assert_string_equal(text, "2025-12-27T15:30:00Z");
    timeBackupId(moment, text);
    assert_string_equal(text, "neo4j-20251227-153000");
    timeFormatIso(timeFromParts(1969, 12, 31, 23, 59, 59), text);
    assert_string_equal(text, "1969-12-31T23:59:59Z");
}

static void testParseIso(void **state)
{
    (void)state;
    int64_t expected = timeFromParts(2025, 12, 27, 15, 30, 0);
    int64_t parsed = 0;
    assert_true(timeParseIso("2025-12-27T15:30:00Z", &parsed));
    assert_int_equal(parsed, expected);
    assert_true(timeParseIso("2025-12-27T15:30:00.123456Z", &parsed));
    assert_int_equal(parsed, expected);
    assert_true(timeParseIso("2025-12-27T16:30:00+01:00", &parsed));
    assert_int_equal(parsed, expected);
    assert_true(timeParseIso("2025-12-27T10:00:00-0530", &parsed));
    assert_int_equal(parsed, expected);
    assert_true(timeParseIso("2025-12-27 15:30:00 UTC", &parsed));
    assert_int_equal(parsed, expected);
    assert_true(timeParseIso("2024-02-29T00:00:00Z", &parsed));

    static const char *const rejected[] = {
        "", "2025-12-27", "2025-12-27T15:30:00", "2025-12-27T15:30:00Zjunk", "2025-02-29T00:00:00Z",
        "2025-02-30T00:00:00Z", "2025-13-01T00:00:00Z", "2025-12-27T24:00:00Z", "2025-12-27T15:60:00Z",
        "2025-12-27T15:30:00.Z", "2025-12-27 15:30:00", "25-12-27T15:30:00Z", "2025-12-27T15:30:00+1:00",
        "2025-12-27X15:30:00Z", "1900-02-29T00:00:00Z",
    };
    for (size_t index = 0; index < sizeof(rejected) / sizeof(rejected[0]); index++) {
        if (timeParseIso(rejected[index], &parsed))
            fail_msg("accepted '%s'", rejected[index]);
    }
    assert_false(timeParseIso(NULL, &parsed));
}

static void testBackupIdRoundTrip(void **state)
{
    (void)state;
    int64_t moment = timeFromParts(2026, 1, 3, 2, 0, 59);
    char id[TIME_TEXT_SIZE];
    timeBackupId(moment, id);
    int64_t parsed = 0;
    assert_true(timeParseBackupId(id, &parsed));
    assert_int_equal(parsed, moment);
    assert_true(timeParseBackupId("neo4j-20260103-020059-2", &parsed));
    assert_int_equal(parsed, moment);
    assert_false(timeParseBackupId("neo4j-20260103-0200", &parsed));
    assert_false(timeParseBackupId("neo4j-20260103-020059x", &parsed));
    assert_false(timeParseBackupId("neo4j-20260230-020059", &parsed));
    assert_false(timeParseBackupId("backup-20260103-020059", &parsed));
    assert_false(timeParseBackupId(NULL, &parsed));
}

static void testIsoWeekEdges(void **state)
{
    (void)state;
    static const struct {
        int year, month, day, isoYear, isoWeek;
    } cases[] = {
        {2021, 1, 1, 2020, 53}, {2020, 12, 31, 2020, 53}, {2025, 12, 29, 2026, 1}, {2024, 12, 30, 2025, 1},
        {2026, 1, 15, 2026, 3}, {2027, 1, 1, 2026, 53},  {2026, 12, 31, 2026, 53}, {2021, 1, 4, 2021, 1},
    };
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        int isoYear, isoWeek;
        timeIsoWeek(timeFromParts(cases[index].year, cases[index].month, cases[index].day, 12, 0, 0), &isoYear,
                    &isoWeek);
        assert_int_equal(isoYear, cases[index].isoYear);
        assert_int_equal(isoWeek, cases[index].isoWeek);
    }
}

static void testIsoWeekMatchesLibc(void **state)
{
    (void)state;
    int64_t start = timeFromParts(1995, 1, 1, 6, 0, 0);
    for (int64_t day = 0; day < 365 * 40; day++) {
        int64_t moment = start + day * TIME_SECONDS_PER_DAY;
        time_t value = (time_t)moment;
        struct tm parts;
        gmtime_r(&value, &parts);
        char expected[16];
        strftime(expected, sizeof(expected), "%G-%V", &parts);
        int isoYear, isoWeek;
        timeIsoWeek(moment, &isoYear, &isoWeek);
        char actual[16];
        snprintf(actual, sizeof(actual), "%d-%02d", isoYear, isoWeek);
        assert_string_equal(actual, expected);
        /* The week index starts on Monday 00:00 and spans the moment. */
        int64_t weekStart = timeWeekStart(timeWeekIndex(moment));
        assert_true(weekStart <= moment && moment < weekStart + 7 * TIME_SECONDS_PER_DAY);
        time_t mondayValue = (time_t)weekStart;
        gmtime_r(&mondayValue, &parts);
        assert_int_equal(parts.tm_wday, 1);
        assert_int_equal(parts.tm_hour, 0);
    }
}

static void testMonthsAndDays(void **state)
{
    (void)state;
    int64_t december = timeFromParts(2025, 12, 31, 23, 59, 59);
    int64_t january = timeFromParts(2026, 1, 1, 0, 0, 0);
    assert_int_equal(timeMonthIndex(january) - timeMonthIndex(december), 1);
    assert_int_equal(timeMonthIndex(january), 2026 * 12);
    assert_int_equal(timeMonthStart(timeMonthIndex(december)), timeFromParts(2025, 12, 1, 0, 0, 0));
    assert_int_equal(timeMonthStart(timeMonthIndex(december) + 3), timeFromParts(2026, 3, 1, 0, 0, 0));
    assert_int_equal(timeDaysBetween(december, january), 0);
    assert_int_equal(timeDaysBetween(january - 7 * 86400, january), 7);
    assert_int_equal(timeDaysBetween(january, january - 1), -1);
    assert_int_equal(timeDayIndex(-1), -1);
}

static void testMonotonicMovesForward(void **state)
{
    (void)state;
    double first = timeMonotonic();
    double second = timeMonotonic();
    assert_true(second >= first);
    assert_true(first > 0);
    /* The millisecond form reads the same clock. */
    int64_t before = (int64_t)(timeMonotonic() * 1000) - 1;
    int64_t milliseconds = timeMonotonicMs();
    int64_t after = (int64_t)(timeMonotonic() * 1000) + 1;
    assert_true(milliseconds >= before && milliseconds <= after);
}

/* The one civil-date algorithm: known days, far years, and every day of a
 * long span round-trips (it serves cron weekdays, Bolt dates and CSV dates). */
static void testCivilDays(void **state)
{
    (void)state;
    assert_int_equal(timeDaysFromCivil(1970, 1, 1), 0);
    assert_int_equal(timeDaysFromCivil(2000, 3, 1), 11017);
    assert_int_equal(timeDaysFromCivil(2024, 2, 29), 19782);
    assert_int_equal(timeDaysFromCivil(1, 1, 1), -719162);
    assert_int_equal(timeDaysFromCivil(0, 3, 1), -719468);
    int64_t year;
    int month, day;
    timeCivilFromDays(-1, &year, &month, &day);
    assert_true(year == 1969 && month == 12 && day == 31);
    timeCivilFromDays(-719469, &year, &month, &day); /* the day before 0000-03-01 */
    assert_true(year == 0 && month == 2 && day == 29);
    timeCivilFromDays(INT64_C(365000000000), &year, &month, &day);
    assert_int_equal(timeDaysFromCivil(year, month, day), INT64_C(365000000000));
    timeCivilFromDays(INT64_C(-365000000000), &year, &month, &day);
    assert_true(year < 0);
    assert_int_equal(timeDaysFromCivil(year, month, day), INT64_C(-365000000000));
    int64_t previousYear = -1000;
    int previousMonth = 0, previousDay = 0;
    for (int64_t days = timeDaysFromCivil(-1000, 1, 1); days < timeDaysFromCivil(3000, 1, 1); days++) {
        timeCivilFromDays(days, &year, &month, &day);
        assert_int_equal(timeDaysFromCivil(year, month, day), days);
        /* Consecutive days: next day of the month, or day 1 of the next month. */
        if (previousMonth)
            assert_true((year == previousYear && month == previousMonth && day == previousDay + 1) ||
                        (day == 1 && ((year == previousYear && month == previousMonth + 1) ||
                                      (year == previousYear + 1 && month == 1 && previousMonth == 12))));
        previousYear = year;
        previousMonth = month;
        previousDay = day;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testEnvironmentClockStartsAtNbkNow),
        cmocka_unit_test(testSettableClock),
        cmocka_unit_test(testFromPartsMatchesTimegm),
        cmocka_unit_test(testFormats),
        cmocka_unit_test(testParseIso),
        cmocka_unit_test(testBackupIdRoundTrip),
        cmocka_unit_test(testIsoWeekEdges),
        cmocka_unit_test(testIsoWeekMatchesLibc),
        cmocka_unit_test(testMonthsAndDays),
        cmocka_unit_test(testMonotonicMovesForward),
        cmocka_unit_test(testCivilDays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
