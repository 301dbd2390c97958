/* Human-readable sizes, percentages and durations exactly as the contract
 * prints them ("314.5 MB (60%)", "2.2 GB", "145 seconds", "8 minutes 42 seconds"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/format.h"

#include <math.h>
#include <string.h>

static void testSizesLikeTheContract(void **state)
{
    (void)state;
    char text[FORMAT_TEXT_SIZE];
    assert_string_equal(fmtSize(text, sizeof(text), 314500000), "314.5 MB");
    assert_string_equal(fmtSize(text, sizeof(text), 524300000), "524.3 MB");
    assert_string_equal(fmtSize(text, sizeof(text), 2200000000ULL), "2.2 GB");
    assert_string_equal(fmtSize(text, sizeof(text), 0), "0 B");
    assert_string_equal(fmtSize(text, sizeof(text), 999), "999 B");
    assert_string_equal(fmtSize(text, sizeof(text), 1000), "1.0 KB");
    assert_string_equal(fmtSize(text, sizeof(text), 1500), "1.5 KB");
    /* Rounding never shows "1000.0 MB". */
    assert_string_equal(fmtSize(text, sizeof(text), 999960000), "1.0 GB");
    assert_string_equal(fmtSize(text, sizeof(text), 999940000), "999.9 MB");
    assert_string_equal(fmtSize(text, sizeof(text), UINT64_MAX), "18.4 EB");
    assert_string_equal(fmtSizeWhole(text, sizeof(text), 524300000), "524 MB");
    assert_string_equal(fmtSizeWhole(text, sizeof(text), 50000000), "50 MB");
    assert_string_equal(fmtSizeWhole(text, sizeof(text), 999600000), "1 GB");
}

static void testPercent(void **state)
{
    (void)state;
    char text[FORMAT_TEXT_SIZE];
    assert_string_equal(fmtPercent(text, sizeof(text), 314500000, 524300000), "60%");
    assert_string_equal(fmtPercent(text, sizeof(text), 1, 3), "33%");
    assert_string_equal(fmtPercent(text, sizeof(text), 5, 0), "0%");
    assert_string_equal(fmtPercent(text, sizeof(text), 150, 100), "150%");
}

static void testDurations(void **state)
{
    (void)state;
    char text[FORMAT_TEXT_SIZE];
    assert_string_equal(fmtDuration(text, sizeof(text), 145), "145 seconds");
    assert_string_equal(fmtDuration(text, sizeof(text), 522), "8 minutes 42 seconds");
    assert_string_equal(fmtDuration(text, sizeof(text), 1), "1 second");
    assert_string_equal(fmtDuration(text, sizeof(text), 0), "0 seconds");
    assert_string_equal(fmtDuration(text, sizeof(text), 0.4), "0.4 seconds");
    assert_string_equal(fmtDuration(text, sizeof(text), 2.02), "2 seconds");
    assert_string_equal(fmtDuration(text, sizeof(text), 299.6), "300 seconds");
    assert_string_equal(fmtDuration(text, sizeof(text), 300), "5 minutes");
    assert_string_equal(fmtDuration(text, sizeof(text), 3900), "1 hour 5 minutes");
    assert_string_equal(fmtDuration(text, sizeof(text), 2 * 86400 + 3 * 3600), "2 days 3 hours");
    assert_string_equal(fmtDuration(text, sizeof(text), -5), "0 seconds");
    assert_string_equal(fmtDuration(text, sizeof(text), NAN), "0 seconds");
    assert_string_equal(fmtSeconds(text, sizeof(text), 145.4), "145 seconds");
    assert_string_equal(fmtSeconds(text, sizeof(text), 600), "600 seconds");
    assert_string_equal(fmtSeconds(text, sizeof(text), 1), "1 second");
}

static void testTimeLeft(void **state)
{
    (void)state;
    char text[FORMAT_TEXT_SIZE];
    assert_string_equal(fmtTimeLeft(text, sizeof(text), 2 * 86400 + 5), "2 days");
    assert_string_equal(fmtTimeLeft(text, sizeof(text), 86400), "1 day");
    assert_string_equal(fmtTimeLeft(text, sizeof(text), 5 * 3600 + 59), "5 hours");
    assert_string_equal(fmtTimeLeft(text, sizeof(text), 3600), "1 hour");
    assert_string_equal(fmtTimeLeft(text, sizeof(text), 59), "less than an hour");
    assert_string_equal(fmtTimeLeft(text, sizeof(text), -10), "less than an hour");
}

static void testTruncationIsSafe(void **state)
{
    (void)state;
    char tiny[5];
    fmtSize(tiny, sizeof(tiny), 314500000);
    assert_int_equal(strlen(tiny), 4);
    fmtDuration(tiny, sizeof(tiny), 2 * 86400 + 3 * 3600 + 60 + 1);
    assert_true(strlen(tiny) <= 4);
}

/* Issue 11: repository text reaches the terminal only through fmtPrintable. */
static void testPrintable(void **state)
{
    (void)state;
    char text[128];
    assert_string_equal(fmtPrintable(text, sizeof(text), "COMPLETE, VALIDATED"), "COMPLETE, VALIDATED");
    assert_string_equal(fmtPrintable(text, sizeof(text), NULL), "");
    /* An escape sequence that would clear the screen and retitle the terminal. */
    assert_string_equal(fmtPrintable(text, sizeof(text), "COMPLETE\x1b[2J\x1b]0;pwned\x07"),
                        "COMPLETE\\x1B[2J\\x1B]0;pwned\\x07");
    assert_string_equal(fmtPrintable(text, sizeof(text), "a\rb\nc\td\x7f"), "a\\x0Db\\x0Ac\\x09d\\x7F");
    assert_string_equal(fmtPrintableEx(text, sizeof(text), "a\nb\tc\rd", 1), "a\nb\tc\\x0Dd");
    /* C1 controls (CSI is U+009B) and invalid UTF-8: lone continuation, truncated, overlong, surrogate. */
    assert_string_equal(fmtPrintable(text, sizeof(text), "x\xc2\x9b" "2J"), "x\\xC2\\x9B2J");
    assert_string_equal(fmtPrintable(text, sizeof(text), "\x80\xc3\xe2\x82\xc0\xaf\xed\xa0\x80."),
                        "\\x80\\xC3\\xE2\\x82\\xC0\\xAF\\xED\\xA0\\x80.");
    /* Valid text stays, including non-ASCII; bidi overrides are shown, not obeyed. */
    assert_string_equal(fmtPrintable(text, sizeof(text), "Grüße 日本 \xf0\x9f\x98\x80"), "Grüße 日本 \xf0\x9f\x98\x80");
    assert_string_equal(fmtPrintable(text, sizeof(text), "abc\xe2\x80\xae" "def"), "abc\\u202Edef");
    /* Truncation never splits a character or an escape. */
    char small[6];
    assert_string_equal(fmtPrintable(small, sizeof(small), "ab\x1b" "cd"), "ab");
    assert_string_equal(fmtPrintable(small, sizeof(small), "abcd\xc3\xa9"), "abcd");
    assert_string_equal(fmtPrintable(small, sizeof(small), "abc\xc3\xa9"), "abc\xc3\xa9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testSizesLikeTheContract),
        cmocka_unit_test(testPrintable),
        cmocka_unit_test(testPercent),
        cmocka_unit_test(testDurations),
        cmocka_unit_test(testTimeLeft),
        cmocka_unit_test(testTruncationIsSafe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
