/* Restore's pure text helpers: identifier quoting for any label or type,
 * server version parsing, and the retry classification of server codes. */
#include "restore/restore_text.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static char quoted[256];

static const char *quote(const char *name, size_t length)
{
    Buffer buffer;
    bufferInit(&buffer);
    restoreQuoteName(&buffer, name, length);
    assert_true(buffer.length < sizeof(quoted));
    memcpy(quoted, buffer.data, buffer.length);
    quoted[buffer.length] = '\0';
    bufferFree(&buffer);
    return quoted;
}

static void testQuotePlainAndSpaces(void **state)
{
    (void)state;
    assert_string_equal(quote("Person", 6), "`Person`");
    assert_string_equal(quote("two words", 9), "`two words`");
    assert_string_equal(quote("", 0), "``");
}

static void testQuoteDoublesBackticks(void **state)
{
    (void)state;
    assert_string_equal(quote("a`b", 3), "`a``b`");
    assert_string_equal(quote("`", 1), "````");
    assert_string_equal(quote("``x``", 5), "`````x`````");
    /* A label that tries to close the quote and inject Cypher stays one name. */
    assert_string_equal(quote("x`) DETACH DELETE (n", 20), "`x``) DETACH DELETE (n`");
}

static void testQuoteUnicodeAndEscapesVerbatim(void **state)
{
    (void)state;
    assert_string_equal(quote("Ünïcødé 日本", strlen("Ünïcødé 日本")), "`Ünïcødé 日本`");
    /* The lexer decodes \uXXXX even inside backticks: a backslash is sent
     * as its own escape, so the name's text reaches the server unchanged. */
    assert_string_equal(quote("a\\u0060b", 8), "`a\\u005Cu0060b`");
    assert_string_equal(quote("\\", 1), "`\\u005C`");
    assert_string_equal(quote("x\\`", 3), "`x\\u005C```");
    const char withNul[] = {'a', '\0', 'b'};
    Buffer buffer;
    bufferInit(&buffer);
    restoreQuoteName(&buffer, withNul, sizeof(withNul));
    assert_int_equal(buffer.length, 5);
    assert_memory_equal(buffer.data, "`a\0b`", 5);
    bufferFree(&buffer);
}

static void testAppendLabels(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    Buffer buffer;
    bufferInit(&buffer);

    BoltValue empty = boltList(arena, 0);
    restoreAppendLabels(&buffer, &empty);
    assert_int_equal(buffer.length, 0);

    BoltValue labels = boltList(arena, 3);
    labels.as.list.items[0] = boltString(arena, "A");
    labels.as.list.items[1] = boltString(arena, "with space");
    labels.as.list.items[2] = boltString(arena, "b`q");
    restoreAppendLabels(&buffer, &labels);
    bufferAppendByte(&buffer, 0);
    assert_string_equal((const char *)buffer.data, ":`A`:`with space`:`b``q`");

    bufferFree(&buffer);
    arenaFree(arena);
}

static void testServerAgent(void **state)
{
    (void)state;
    RestoreServerVersion version;
    assert_true(restoreParseServerAgent("Neo4j/5.26.3", &version));
    assert_int_equal(version.major, 5);
    assert_int_equal(version.minor, 26);
    assert_int_equal(version.patch, 3);
    assert_true(restoreVersionAtLeast(&version, 5, 26));
    assert_false(restoreVersionAtLeast(&version, 5, 27));
    assert_false(restoreVersionAtLeast(&version, 2025, 6));

    assert_true(restoreParseServerAgent("Neo4j/2025.06.0", &version));
    assert_true(restoreVersionAtLeast(&version, 2025, 6));
    assert_true(restoreVersionAtLeast(&version, 5, 26));
    assert_false(restoreVersionAtLeast(&version, 2025, 7));

    assert_true(restoreParseServerAgent("Neo4j/5.23.0-aura", &version));
    assert_int_equal(version.minor, 23);
    assert_true(restoreParseServerAgent("Neo4j/2026.01", &version));
    assert_int_equal(version.patch, 0);

    assert_false(restoreParseServerAgent(NULL, &version));
    assert_false(restoreParseServerAgent("Neo4j/", &version));
    assert_false(restoreParseServerAgent("Neo4j/five", &version));
    assert_false(restoreParseServerAgent("Neo4j/5", &version));
}

static void testErrorClassification(void **state)
{
    (void)state;
    assert_true(restoreIsTransientCode("Neo.TransientError.Transaction.DeadlockDetected"));
    assert_true(restoreIsTransientCode("Neo.TransientError.General.DatabaseUnavailable"));
    assert_false(restoreIsTransientCode("Neo.ClientError.Statement.SyntaxError"));
    assert_false(restoreIsTransientCode("Neo.ClientError.Transaction.Terminated"));
    assert_false(restoreIsTransientCode(""));
    assert_false(restoreIsTransientCode(NULL));
    /* Memory limits are handled by splitting, not by resending as is. */
    assert_false(restoreIsTransientCode("Neo.TransientError.General.MemoryPoolOutOfMemoryError"));
    assert_true(restoreIsMemoryLimitCode("Neo.TransientError.General.MemoryPoolOutOfMemoryError"));
    assert_true(restoreIsMemoryLimitCode("Neo.TransientError.General.TransactionMemoryLimit"));
    assert_true(restoreIsMemoryLimitCode("Neo.ClientError.General.TransactionOutOfMemoryError"));
    assert_false(restoreIsMemoryLimitCode("Neo.TransientError.Transaction.DeadlockDetected"));
}

static void testCypherPrefix(void **state)
{
    (void)state;
    assert_string_equal(restoreCypherPrefix("Neo4j/2026.08.1"), "CYPHER 5 ");
    assert_string_equal(restoreCypherPrefix("Neo4j/2025.06.0"), "CYPHER 5 ");
    assert_string_equal(restoreCypherPrefix("Neo4j/2025.05.0"), "");
    assert_string_equal(restoreCypherPrefix("Neo4j/5.26.30"), "");
    assert_string_equal(restoreCypherPrefix("not a server"), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testCypherPrefix),
        cmocka_unit_test(testQuotePlainAndSpaces),
        cmocka_unit_test(testQuoteDoublesBackticks),
        cmocka_unit_test(testQuoteUnicodeAndEscapesVerbatim),
        cmocka_unit_test(testAppendLabels),
        cmocka_unit_test(testServerAgent),
        cmocka_unit_test(testErrorClassification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
