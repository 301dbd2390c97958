/* The error registry: names, statuses, lookups, and that docs/exit-codes.md
 * documents every code with its exit status (so the page cannot drift). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void testNamesAndStatuses(void **state)
{
    (void)state;
    assert_string_equal(errName(BACKUP_CORRUPTED), "BACKUP_CORRUPTED");
    assert_int_equal(errExitStatus(ERR_OK), 0);
    assert_int_equal(errExitStatus(ERR_USAGE), 2);
    assert_int_equal(errFromName("NEO4J_UNREACHABLE"), NEO4J_UNREACHABLE);
    assert_int_equal(errFromName("NO_SUCH_CODE"), ERR_COUNT_);
    /* Every status is distinct, so a script can tell codes apart. */
    for (int left = 0; left < ERR_COUNT_; left++)
        for (int right = left + 1; right < ERR_COUNT_; right++)
            assert_int_not_equal(errExitStatus((ErrCode)left), errExitStatus((ErrCode)right));
}

static void testDetail(void **state)
{
    (void)state;
    assert_int_equal(errSet(BACKUP_NOT_FOUND, "backup %s", "x"), BACKUP_NOT_FOUND);
    errAddContext("while deleting");
    assert_string_equal(errLast()->reason, "while deleting: backup x");
    assert_string_equal(errLast()->action, "");
    errSetAction("run %s", "--list");
    assert_string_equal(errLast()->action, "run --list");
    errClear();
    assert_int_equal(errLast()->code, ERR_OK);
}

/* Wrapping the last reason in a new one ("...: %s", errLast()->reason)
 * keeps the old text whole. */
static void testWrapLastReason(void **state)
{
    (void)state;
    errSet(NEO4J_PROTOCOL_ERROR, "PackStream: reserved marker 0xC4 at byte offset 7");
    errSet(BACKUP_CORRUPTED, "a record of /tmp/x.nbk does not decode: %s", errLast()->reason);
    assert_string_equal(errLast()->reason,
                        "a record of /tmp/x.nbk does not decode: PackStream: reserved marker 0xC4 at byte offset 7");
}

/* A saved error survives cleanup that fails with another one. */
static void testSaveAndRestore(void **state)
{
    (void)state;
    errSet(BACKUP_NO_SPACE, "only %d MB left", 50);
    errSetAction("free some space");
    errSetDetails("Required: 524 MB | Available: 50 MB");
    errSetServerCode("Neo.Some.Code");
    ErrDetail saved = errSave();
    errSet(BACKUP_IO_FAILED, "cannot remove the temporary directory");
    assert_int_equal(errLast()->code, BACKUP_IO_FAILED);
    assert_int_equal(errRestore(&saved), BACKUP_NO_SPACE);
    assert_string_equal(errLast()->reason, "only 50 MB left");
    assert_string_equal(errLast()->action, "free some space");
    assert_string_equal(errLast()->details, "Required: 524 MB | Available: 50 MB");
    assert_string_equal(errLast()->serverCode, "Neo.Some.Code");
    assert_int_equal(errRestore(errLast()), BACKUP_NO_SPACE); /* restoring itself changes nothing */
    assert_string_equal(errLast()->reason, "only 50 MB left");
    errClear();
}

static void testDocsListEveryCode(void **state)
{
    (void)state;
    FILE *docs = fopen(NBK_SOURCE_DIR "/docs/exit-codes.md", "r");
    assert_non_null(docs);
    static char text[65536];
    size_t length = fread(text, 1, sizeof(text) - 1, docs);
    fclose(docs);
    text[length] = '\0';
    for (int code = 0; code < ERR_COUNT_; code++) {
        char row[160];
        snprintf(row, sizeof(row), "| %d | `%s` |", errExitStatus((ErrCode)code),
                 errName((ErrCode)code));
        if (!strstr(text, row))
            fail_msg("docs/exit-codes.md lacks the row %s", row);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testNamesAndStatuses),
        cmocka_unit_test(testDetail),
        cmocka_unit_test(testWrapLastReason),
        cmocka_unit_test(testSaveAndRestore),
        cmocka_unit_test(testDocsListEveryCode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
