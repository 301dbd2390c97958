/* Pure helpers of the restore engine: Cypher name quoting, server version
 * parsing, and the classification of server error codes. No I/O, so they are
 * unit-tested without a server (tests/unit/restore_text_test.c). */
#ifndef NBK_RESTORE_RESTORE_TEXT_H
#define NBK_RESTORE_RESTORE_TEXT_H

#include "bolt/value.h"
#include "common/buffer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Appends name as a backtick-quoted Cypher identifier for any bytes: every
 * backtick doubled ("a`b" -> "`a``b`"), and every backslash written as the
 * escape \u005C, because the Cypher lexer decodes \uXXXX escapes even inside
 * backticks (measured on 5.26: `a\u0060b` is a syntax error, and a name
 * holding "\u0060" would otherwise close the quote). */
void restoreQuoteName(Buffer *out, const char *name, size_t length);
/* Appends ":`A`:`B`" for a list of label strings; nothing for an empty list.
 * Non-string items are skipped (records.h has validated the list already). */
void restoreAppendLabels(Buffer *out, const BoltValue *labels);

/* Server version from a Bolt server agent ("Neo4j/5.26.3", "Neo4j/2025.06.0",
 * "Neo4j/5.26.0-aura"); false when it does not look like one. */
typedef struct {
    int major;
    int minor;
    int patch;
} RestoreServerVersion;

bool restoreParseServerAgent(const char *agent, RestoreServerVersion *out);
/* true when version >= major.minor. */
bool restoreVersionAtLeast(const RestoreServerVersion *version, int major, int minor);

/* "CYPHER 5 " for a server (by its Bolt agent) whose default language may
 * be Cypher 25 (2025.06+), so that 5.x statements keep parsing; "" otherwise. */
const char *restoreCypherPrefix(const char *serverAgent);

/* Transient server failures worth retrying the same batch for:
 * Neo.TransientError.* (deadlocks, lock timeouts, database unavailable...).
 * Memory limits are transient too but better served by smaller batches,
 * see restoreIsMemoryLimitCode. */
bool restoreIsTransientCode(const char *serverCode);
/* The transaction was too big for the server's memory settings. */
bool restoreIsMemoryLimitCode(const char *serverCode);

#endif
