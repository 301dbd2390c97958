/* Unit tests for src/schedule/cron: parsing, next fire times, descriptions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "schedule/cron.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* "YYYY-MM-DD HH:MM:SS" in UTC -> time_t. */
static time_t utcTime(const char *text)
{
    struct tm fields = {0};
    int matched = sscanf(text, "%d-%d-%d %d:%d:%d", &fields.tm_year, &fields.tm_mon,
                         &fields.tm_mday, &fields.tm_hour, &fields.tm_min, &fields.tm_sec);
    assert_int_equal(matched, 6);
    fields.tm_year -= 1900;
    fields.tm_mon -= 1;
    return timegm(&fields);
}

static const char *utcText(time_t value, char *buf, size_t size)
{
    struct tm fields;
    gmtime_r(&value, &fields);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &fields);
    return buf;
}

/* Asserts that the first fire time of expr strictly after `after` is `expected`. */
static void assertNext(const char *expr, const char *after, const char *expected)
{
    CronSchedule schedule;
    ErrCode code = cronParse(expr, &schedule);
    if (code != ERR_OK)
        fail_msg("cronParse(\"%s\") failed: %s", expr, errLast()->reason);
    time_t next = 0;
    assert_int_equal(cronNext(&schedule, utcTime(after), &next), ERR_OK);
    char got[32];
    if (strcmp(utcText(next, got, sizeof(got)), expected) != 0)
        fail_msg("\"%s\" after %s: expected %s, got %s", expr, after, expected, got);
}

/* Asserts that expr is rejected with CONFIG_INVALID and a reason containing each
 * of the given fragments (NULL-terminated). */
static void assertInvalid(const char *expr, ...)
{
    CronSchedule schedule;
    errClear();
    ErrCode code = cronParse(expr, &schedule);
    if (code != CONFIG_INVALID)
        fail_msg("\"%s\" was accepted (code %d)", expr, (int)code);
    assert_int_equal(errLast()->code, CONFIG_INVALID);
    assert_true(strstr(errLast()->reason, "BACKUP_SCHEDULE") != NULL);
    va_list fragments;
    va_start(fragments, expr);
    for (const char *fragment = va_arg(fragments, const char *); fragment;
         fragment = va_arg(fragments, const char *))
        if (!strstr(errLast()->reason, fragment))
            fail_msg("\"%s\": reason '%s' lacks '%s'", expr, errLast()->reason, fragment);
    va_end(fragments);
}

static const char *describe(const char *expr)
{
    static char text[256];
    CronSchedule schedule;
    if (cronParse(expr, &schedule) != ERR_OK)
        fail_msg("cronParse(\"%s\") failed: %s", expr, errLast()->reason);
    return cronDescribe(&schedule, text, sizeof(text));
}

static void testDailyAndStrictlyAfter(void **state)
{
    (void)state;
    assertNext("0 2 * * *", "2025-12-27 15:30:00", "2025-12-28 02:00:00");
    assertNext("0 2 * * *", "2025-12-28 01:59:59", "2025-12-28 02:00:00");
    /* Exactly on a fire time: the next one, never the same second again. */
    assertNext("0 2 * * *", "2025-12-28 02:00:00", "2025-12-29 02:00:00");
    assertNext("  0 2 * * *\t", "2025-12-28 02:00:00", "2025-12-29 02:00:00");
}

static void testLists(void **state)
{
    (void)state;
    assertNext("0,30 9,17 * * *", "2025-06-01 09:00:00", "2025-06-01 09:30:00");
    assertNext("0,30 9,17 * * *", "2025-06-01 09:30:00", "2025-06-01 17:00:00");
    assertNext("0,30 9,17 * * *", "2025-06-01 17:30:00", "2025-06-02 09:00:00");
    assertNext("0 0 1,15 * *", "2025-06-02 00:00:00", "2025-06-15 00:00:00");
}

static void testRanges(void **state)
{
    (void)state;
    assertNext("0 9-17 * * *", "2025-06-01 12:10:00", "2025-06-01 13:00:00");
    assertNext("0 9-17 * * *", "2025-06-01 17:00:00", "2025-06-02 09:00:00");
    assertNext("10-12 0 * * *", "2025-06-01 00:11:00", "2025-06-01 00:12:00");
    assertNext("10-12 0 * * *", "2025-06-01 00:12:00", "2025-06-02 00:10:00");
}

static void testSteps(void **state)
{
    (void)state;
    assertNext("*/15 * * * *", "2025-06-01 10:07:00", "2025-06-01 10:15:00");
    assertNext("*/15 * * * *", "2025-06-01 10:45:00", "2025-06-01 11:00:00");
    /* 1-30/5 = 1,6,11,16,21,26 */
    assertNext("1-30/5 * * * *", "2025-06-01 10:01:00", "2025-06-01 10:06:00");
    assertNext("1-30/5 * * * *", "2025-06-01 10:26:00", "2025-06-01 11:01:00");
    /* 5/10 = 5,15,...,55 */
    assertNext("5/10 * * * *", "2025-06-01 10:50:00", "2025-06-01 10:55:00");
    assertNext("5/10 * * * *", "2025-06-01 10:55:00", "2025-06-01 11:05:00");
    assertNext("0 0 */10 * *", "2025-06-01 00:00:00", "2025-06-11 00:00:00");
    assertNext("0 0 */10 * *", "2025-06-21 00:00:00", "2025-07-01 00:00:00");
    CronSchedule schedule;
    assert_int_equal(cronParse("1-30/5 * * * *", &schedule), ERR_OK);
    uint64_t expected = 0;
    for (int minute = 1; minute <= 30; minute += 5)
        expected |= UINT64_C(1) << minute;
    assert_true(schedule.minutes == expected);
}

static void testNames(void **state)
{
    (void)state;
    CronSchedule byName;
    CronSchedule byNumber;
    assert_int_equal(cronParse("0 0 1 jan,Jul,DEC *", &byName), ERR_OK);
    assert_int_equal(cronParse("0 0 1 1,7,12 *", &byNumber), ERR_OK);
    assert_int_equal(byName.months, byNumber.months);
    assert_int_equal(cronParse("0 0 * * mon-FRI", &byName), ERR_OK);
    assert_int_equal(cronParse("0 0 * * 1-5", &byNumber), ERR_OK);
    assert_int_equal(byName.daysOfWeek, byNumber.daysOfWeek);
    /* Sunday closing a range wraps to day 7: Friday, Saturday, Sunday. */
    assert_int_equal(cronParse("0 0 * * FRI-SUN", &byName), ERR_OK);
    assert_int_equal(byName.daysOfWeek, (1 << 5) | (1 << 6) | (1 << 0));
    assert_int_equal(cronParse("0 0 * jun-AUG/2 *", &byName), ERR_OK);
    assert_int_equal(byName.months, (1 << 6) | (1 << 8));
    /* 2025-06-01 is a Sunday. */
    assertNext("0 3 * * Wed", "2025-06-01 00:00:00", "2025-06-04 03:00:00");
}

static void testSundayIsZeroAndSeven(void **state)
{
    (void)state;
    CronSchedule zero;
    CronSchedule seven;
    CronSchedule name;
    assert_int_equal(cronParse("0 0 * * 0", &zero), ERR_OK);
    assert_int_equal(cronParse("0 0 * * 7", &seven), ERR_OK);
    assert_int_equal(cronParse("0 0 * * sun", &name), ERR_OK);
    assert_int_equal(zero.daysOfWeek, 1);
    assert_int_equal(seven.daysOfWeek, 1);
    assert_int_equal(name.daysOfWeek, 1);
    assertNext("0 0 * * 7", "2025-06-02 00:00:00", "2025-06-08 00:00:00");
    assertNext("0 0 * * 5-7", "2025-06-02 00:00:00", "2025-06-06 00:00:00");
}

static void testDayOfMonthOrDayOfWeek(void **state)
{
    (void)state;
    /* Both restricted: the 13th OR any Friday. 2025-01-03 is a Friday. */
    assertNext("0 0 13 * 5", "2025-01-01 00:00:00", "2025-01-03 00:00:00");
    assertNext("0 0 13 * 5", "2025-01-10 00:00:00", "2025-01-13 00:00:00");
    assertNext("0 0 13 * 5", "2025-01-13 00:00:00", "2025-01-17 00:00:00");
    /* Day-of-week unrestricted: day-of-month alone decides. */
    assertNext("0 0 13 * *", "2025-01-01 00:00:00", "2025-01-13 00:00:00");
    /* A stepped star counts as unrestricted (Vixie cron), so both must hold:
     * odd days that are Mondays. 2025-01-06 is an even Monday, 2025-01-13 odd. */
    assertNext("0 0 */2 * 1", "2025-01-01 00:00:00", "2025-01-13 00:00:00");
    /* 30 February never exists, but Mondays in February rescue it. */
    assertNext("0 0 30 2 mon", "2025-01-01 00:00:00", "2025-02-03 00:00:00");
}

static void testLeapDay(void **state)
{
    (void)state;
    assertNext("0 0 29 2 *", "2025-03-01 00:00:00", "2028-02-29 00:00:00");
    assertNext("0 0 29 2 *", "2024-02-29 00:00:00", "2028-02-29 00:00:00");
    /* 2100 is not a leap year: eight years to the next 29 February. */
    assertNext("0 0 29 2 *", "2096-03-01 00:00:00", "2104-02-29 00:00:00");
    /* 2000 is. */
    assertNext("0 0 29 2 *", "1997-01-01 00:00:00", "2000-02-29 00:00:00");
}

static void testEndOfMonth(void **state)
{
    (void)state;
    assertNext("0 0 31 * *", "2025-01-31 00:00:00", "2025-03-31 00:00:00");
    assertNext("0 0 31 * *", "2025-05-31 00:00:00", "2025-07-31 00:00:00");
    assertNext("0 0 31 * *", "2025-08-31 00:00:00", "2025-10-31 00:00:00");
    assertNext("0 0 30 * *", "2025-01-30 00:00:00", "2025-03-30 00:00:00");
}

static void testYearBoundary(void **state)
{
    (void)state;
    assertNext("0 0 1 1 *", "2025-12-31 23:59:59", "2026-01-01 00:00:00");
    assertNext("59 23 31 12 *", "2025-12-31 23:59:00", "2026-12-31 23:59:00");
    assertNext("* * * * *", "2025-12-31 23:59:00", "2026-01-01 00:00:00");
    assertNext("0 12 * 3 *", "2025-03-31 12:00:00", "2026-03-01 12:00:00");
}

static void testSecondsField(void **state)
{
    (void)state;
    CronSchedule schedule;
    assert_int_equal(cronParse("*/5 * * * * *", &schedule), ERR_OK);
    assert_true(schedule.hasSeconds);
    assertNext("*/5 * * * * *", "2025-06-01 12:00:03", "2025-06-01 12:00:05");
    assertNext("*/5 * * * * *", "2025-06-01 12:00:55", "2025-06-01 12:01:00");
    assertNext("30 0 2 * * *", "2025-06-01 02:00:30", "2025-06-02 02:00:30");
    /* Five fields fire at second 0 only. */
    assert_int_equal(cronParse("* * * * *", &schedule), ERR_OK);
    assert_false(schedule.hasSeconds);
    assert_true(schedule.seconds == 1);
    assertNext("* * * * *", "2025-06-01 12:00:03", "2025-06-01 12:01:00");
    /* The seconds field is field 1: errors count from it. */
    assertInvalid("60 * * * * *", "second field (field 1, column 1)", "60 is out of range 0-59",
                  NULL);
    assertInvalid("0 0 25 * * *", "hour field (field 3, column 5)", NULL);
}

static void testShortcuts(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}, {"@DAILY", "0 0 * * *"},
    };
    for (size_t index = 0; index < sizeof(pairs) / sizeof(pairs[0]); index++) {
        CronSchedule shortcut;
        CronSchedule longForm;
        assert_int_equal(cronParse(pairs[index][0], &shortcut), ERR_OK);
        assert_int_equal(cronParse(pairs[index][1], &longForm), ERR_OK);
        assert_true(shortcut.seconds == longForm.seconds);
        assert_true(shortcut.minutes == longForm.minutes);
        assert_int_equal(shortcut.hours, longForm.hours);
        assert_int_equal(shortcut.daysOfMonth, longForm.daysOfMonth);
        assert_int_equal(shortcut.months, longForm.months);
        assert_int_equal(shortcut.daysOfWeek, longForm.daysOfWeek);
        assert_int_equal(shortcut.domUnrestricted, longForm.domUnrestricted);
        assert_int_equal(shortcut.dowUnrestricted, longForm.dowUnrestricted);
        assert_string_equal(shortcut.expression, pairs[index][0]);
    }
    assertNext("@hourly", "2025-06-01 12:00:00", "2025-06-01 13:00:00");
    assertNext("@weekly", "2025-06-01 00:00:00", "2025-06-08 00:00:00");
}

static void testNeverMatches(void **state)
{
    (void)state;
    assertInvalid("0 0 30 2 *", "never matches", NULL);
    assertInvalid("0 0 31 4,6,9,11 *", "never matches", NULL);
    assertInvalid("0 0 31 2-4/2 *", "never matches", NULL);

    /* cronNext itself terminates on an impossible schedule built by hand. */
    CronSchedule schedule;
    assert_int_equal(cronParse("0 0 30 * *", &schedule), ERR_OK);
    schedule.months = 1 << 2;
    time_t next = 0;
    clock_t started = clock();
    assert_int_equal(cronNext(&schedule, utcTime("2025-01-01 00:00:00"), &next), CONFIG_INVALID);
    assert_true(strstr(errLast()->reason, "never matches") != NULL);
    /* Field skipping, not a second-by-second scan of 400 years. */
    assert_true((double)(clock() - started) / CLOCKS_PER_SEC < 1.0);
}

static void testInvalidForms(void **state)
{
    (void)state;
    /* The brief's example, word for word. */
    assertInvalid("0 25 * * *",
                  "BACKUP_SCHEDULE \"0 25 * * *\": hour field (field 2, column 3): 25 is out of "
                  "range 0-23", NULL);
    assertInvalid("60 * * * *", "minute field (field 1, column 1)", "60 is out of range 0-59",
                  NULL);
    assertInvalid("0 0 0 * *", "day-of-month field (field 3, column 5)", "0 is out of range 1-31",
                  NULL);
    assertInvalid("0 0 32 * *", "32 is out of range 1-31", NULL);
    assertInvalid("0 0 * 13 *", "month field (field 4, column 7)", "13 is out of range 1-12", NULL);
    assertInvalid("0 0 * * 8", "day-of-week field (field 5, column 9)", "8 is out of range 0-7",
                  NULL);
    assertInvalid("0 0 * * 1,99999999999", "column 11", "99999999999 is out of range", NULL);
    /* Steps. */
    assertInvalid("*/0 * * * *", "column 3", "step 0 is out of range 1-59", NULL);
    assertInvalid("*/60 * * * *", "step 60 is out of range 1-59", NULL);
    assertInvalid("0 */24 * * *", "step 24 is out of range 1-23", NULL);
    assertInvalid("*/ * * * *", "column 3", "a step number must follow '/'", NULL);
    assertInvalid("*/x * * * *", "a step number must follow '/'", NULL);
    assertInvalid("1/2/3 * * * *", "unexpected character '/'", NULL);
    /* Ranges. */
    assertInvalid("0 5-1 * * *", "hour field (field 2, column 3)", "range 5-1 is reversed", NULL);
    assertInvalid("0 0 * DEC-JAN *", "range DEC-JAN is reversed", NULL);
    assertInvalid("1- * * * *", "column 3", "a value is missing", NULL);
    assertInvalid("-1 * * * *", "column 1", "unexpected character '-'", NULL);
    assertInvalid("1-2-3 * * * *", "unexpected character '-'", NULL);
    /* Empty list items. */
    assertInvalid("1,,2 * * * *", "column 3", "empty list item", NULL);
    assertInvalid(",1 * * * *", "column 1", "empty list item", NULL);
    assertInvalid("1, * * * *", "empty list item", NULL);
    /* Field counts. */
    assertInvalid("* * * *", "too few fields (4)", NULL);
    assertInvalid("* * * * * * *", "too many fields", "column 13", NULL);
    assertInvalid("", "empty", NULL);
    assertInvalid("   \t ", "empty", NULL);
    /* Garbage and names. */
    assertInvalid("abc", "too few fields (1)", NULL);
    assertInvalid("hello world foo bar baz", "minute field (field 1, column 1)",
                  "'hello' is not a number", NULL);
    assertInvalid("0 0 * FOO *", "'FOO' is not a month name (JAN-DEC)", NULL);
    assertInvalid("0 0 * * MONDAY", "'MONDAY' is not a day-of-week name (SUN-SAT)", NULL);
    assertInvalid("0 MON * * *", "hour field", "'MON' is not a number", NULL);
    assertInvalid("0 0 * * 1x", "column 10", "unexpected character 'x'", NULL);
    assertInvalid("** * * * *", "unexpected character '*'", NULL);
    assertInvalid("0 0 ? * *", "unexpected character '?'", NULL);
    assertInvalid("@reboot", "unknown shortcut", NULL);
    assertInvalid("@daily 5", "unknown shortcut", NULL);
    assertInvalid(NULL, "not set", NULL);
    char tooLong[400];
    memset(tooLong, '1', sizeof(tooLong) - 1);
    tooLong[sizeof(tooLong) - 1] = '\0';
    assertInvalid(tooLong, "too long", NULL);
    /* Every rejection carries an action for the operator. */
    CronSchedule schedule;
    assert_int_equal(cronParse("0 25 * * *", &schedule), CONFIG_INVALID);
    assert_true(strstr(errLast()->action, "minute hour day-of-month month day-of-week") != NULL);
}

static void testDescribe(void **state)
{
    (void)state;
    assert_string_equal(describe("0 2 * * *"), "Daily at 02:00 UTC");
    assert_string_equal(describe("@daily"), "Daily at 00:00 UTC");
    assert_string_equal(describe("*/15 * * * *"), "Every 15 minutes");
    assert_string_equal(describe("* * * * *"), "Every minute");
    assert_string_equal(describe("*/5 * * * * *"), "Every 5 seconds");
    assert_string_equal(describe("* * * * * *"), "Every second");
    assert_string_equal(describe("30 3 * * 0"), "Weekly on Sunday at 03:30 UTC");
    assert_string_equal(describe("30 3 * * SUN"), "Weekly on Sunday at 03:30 UTC");
    assert_string_equal(describe("@weekly"), "Weekly on Sunday at 00:00 UTC");
    assert_string_equal(describe("0 0 1 * *"), "Monthly on day 1 at 00:00 UTC");
    assert_string_equal(describe("@monthly"), "Monthly on day 1 at 00:00 UTC");
    assert_string_equal(describe("@yearly"), "Yearly on January 1 at 00:00 UTC");
    assert_string_equal(describe("@hourly"), "Hourly at minute 0");
    assert_string_equal(describe("0 */6 * * *"), "Every 6 hours at minute 0");
    assert_string_equal(describe("0 2,14 * * *"), "Daily at 02:00 and 14:00 UTC");
    assert_string_equal(describe("15 1,9,17 * * *"), "Daily at 01:15, 09:15 and 17:15 UTC");
    assert_string_equal(describe("30 0 2 * * *"), "Daily at 02:00:30 UTC");
    assert_string_equal(describe("0 1 * * 1-5"), "Weekdays (Monday to Friday) at 01:00 UTC");
    assert_string_equal(describe("0 1 * * 6,0"), "Weekends (Saturday and Sunday) at 01:00 UTC");
    assert_string_equal(describe("0 4 * * sun,WED,1"),
                        "Weekly on Monday, Wednesday and Sunday at 04:00 UTC");
    /* No simple wording: the expression itself. */
    assert_string_equal(describe("0 0 13 * 5"), "cron '0 0 13 * 5' (UTC)");
    assert_string_equal(describe("*/7 * * * *"), "cron '*/7 * * * *' (UTC)");
    assert_string_equal(describe("0 1-5 * * *"), "cron '0 1-5 * * *' (UTC)");
    assert_string_equal(describe("  0 0 1 1-6 *  "), "cron '0 0 1 1-6 *' (UTC)");
    /* Truncation keeps the buffer a valid string. */
    CronSchedule schedule;
    char small[8];
    assert_int_equal(cronParse("0 2 * * *", &schedule), ERR_OK);
    assert_string_equal(cronDescribe(&schedule, small, sizeof(small)), "Daily a");
}

/* Brute force, independent of cronNext's skipping: does this second match? */
static int bruteMatches(const CronSchedule *schedule, time_t value)
{
    struct tm fields;
    gmtime_r(&value, &fields);
    if (!((schedule->seconds >> fields.tm_sec) & 1) || !((schedule->minutes >> fields.tm_min) & 1) ||
        !((schedule->hours >> fields.tm_hour) & 1) || !((schedule->months >> (fields.tm_mon + 1)) & 1))
        return 0;
    int dom = (schedule->daysOfMonth >> fields.tm_mday) & 1;
    int dow = (schedule->daysOfWeek >> fields.tm_wday) & 1;
    return (schedule->domUnrestricted || schedule->dowUnrestricted) ? (dom && dow) : (dom || dow);
}

static void testAgreesWithBruteForce(void **state)
{
    (void)state;
    static const char *const expressions[] = {
        "*/7 1-3,22 * * *", "5/20 */5 10-20 * mon,fri", "0 0 13 * 5", "0 12 */3 2,3 *",
        "15,45 6 1-7 * 1",  "0 0 29 * *",                "30 */2 * * * *",
    };
    for (size_t index = 0; index < sizeof(expressions) / sizeof(expressions[0]); index++) {
        CronSchedule schedule;
        assert_int_equal(cronParse(expressions[index], &schedule), ERR_OK);
        time_t cursor = utcTime("2024-01-28 21:00:00");
        /* Fifty consecutive fire times, each checked second by second (bounded). */
        for (int fire = 0; fire < 50; fire++) {
            time_t next;
            assert_int_equal(cronNext(&schedule, cursor, &next), ERR_OK);
            assert_true(next > cursor);
            assert_true(bruteMatches(&schedule, next));
            /* Five-field schedules fire on whole minutes only: probe minutes. */
            time_t stride = schedule.hasSeconds ? 1 : 60;
            time_t firstProbe = schedule.hasSeconds ? cursor + 1 : (cursor / 60 + 1) * 60;
            if (next - cursor <= 3 * 86400) {
                for (time_t probe = firstProbe; probe < next; probe += stride)
                    if (bruteMatches(&schedule, probe))
                        fail_msg("\"%s\": %lld matches before %lld", expressions[index],
                                 (long long)probe, (long long)next);
            }
            cursor = next;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testDailyAndStrictlyAfter),
        cmocka_unit_test(testLists),
        cmocka_unit_test(testRanges),
        cmocka_unit_test(testSteps),
        cmocka_unit_test(testNames),
        cmocka_unit_test(testSundayIsZeroAndSeven),
        cmocka_unit_test(testDayOfMonthOrDayOfWeek),
        cmocka_unit_test(testLeapDay),
        cmocka_unit_test(testEndOfMonth),
        cmocka_unit_test(testYearBoundary),
        cmocka_unit_test(testSecondsField),
        cmocka_unit_test(testShortcuts),
        cmocka_unit_test(testNeverMatches),
        cmocka_unit_test(testInvalidForms),
        cmocka_unit_test(testDescribe),
        cmocka_unit_test(testAgreesWithBruteForce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
