/* The lock object's record as read back from a bucket: fields found in any
 * order, truncated to their size, control characters neutralised, and an
 * expiry honoured only when it is a plain number, so a damaged or foreign
 * record is treated as held instead of taken over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "storage/s3_lock_record.h"

#include <string.h>

static void parse(const char *text, S3LockRecord *out)
{
    s3LockRecordParse(text, strlen(text), out);
}

static void testRecordWeWrite(void **state)
{
    (void)state;
    S3LockRecord record;
    parse("owner=neo4j-backup --create\nhost=db1\npid=4242\nexpires=1767225600\n", &record);
    assert_string_equal(record.owner, "neo4j-backup --create");
    assert_string_equal(record.host, "db1");
    assert_string_equal(record.pid, "4242");
    assert_true(record.hasExpires);
    assert_int_equal(record.expires, 1767225600);
    assert_false(s3LockRecordExpired(&record, 1767225600));
    assert_true(s3LockRecordExpired(&record, 1767225601));
}

static void testOrderCrlfAndFirstWins(void **state)
{
    (void)state;
    S3LockRecord record;
    parse("expires=10\r\nhost=a\r\nhost=b\r\nexpires=99999999999\r\nunknown=x\r\nno equals sign\r\n", &record);
    assert_string_equal(record.host, "a");
    assert_int_equal(record.expires, 10);
    assert_string_equal(record.owner, "");
    assert_string_equal(record.pid, "");
}

static void testExpiryMustBeAPlainNumber(void **state)
{
    (void)state;
    const char *refused[] = {"expires=\n", "expires=abc\n", "expires=12abc\n", "expires=-5\n",
                             "expires=+5\n", "expires= 5\n", "expires=1234567890123456789\n", "owner=x\n", ""};
    for (size_t index = 0; index < sizeof(refused) / sizeof(refused[0]); index++) {
        S3LockRecord record;
        parse(refused[index], &record);
        assert_false(record.hasExpires);
        /* a record we cannot judge is never expired: it stays held */
        assert_false(s3LockRecordExpired(&record, INT64_MAX));
    }
}

static void testHostileValuesStayInTheirFields(void **state)
{
    (void)state;
    char body[2048];
    memset(body, 'h', sizeof(body));
    memcpy(body, "host=", 5);
    S3LockRecord record;
    s3LockRecordParse(body, sizeof(body), &record); /* no terminator, no newline */
    assert_int_equal(strlen(record.host), sizeof(record.host) - 1);
    parse("owner=evil\x1b[2J\x07\nhost=a\tb\n", &record);
    assert_string_equal(record.owner, "evil [2J ");
    assert_string_equal(record.host, "a b");
    /* bytes after the given length are never read */
    s3LockRecordParse("pid=12", 5, &record);
    assert_string_equal(record.pid, "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testRecordWeWrite),
        cmocka_unit_test(testOrderCrlfAndFirstWins),
        cmocka_unit_test(testExpiryMustBeAPlainNumber),
        cmocka_unit_test(testHostileValuesStayInTheirFields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
