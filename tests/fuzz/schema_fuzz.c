/* libFuzzer target for the schema statement builder (schemaBuildStatement):
 * the input is one PackStream value, as an archive's schema record holds it.
 * Whatever the item, a statement that is built must be one CREATE INDEX or
 * CREATE CONSTRAINT whose only free text (outside `names` and 'words') is
 * the builder's own: no clause of the archive's choosing (MATCH, DELETE,
 * CALL, ...), no comment, no second statement. See tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/schema.h"
#include "bolt/packstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzzFail(const char *what, const char *statement)
{
    fprintf(stderr, "schema_fuzz: %s: %s\n", what, statement);
    abort();
}

/* The statement with every quoted part blanked out; NULL if a quote does not close. */
static char *fuzzUnquoted(const char *statement, size_t length)
{
    char *out = malloc(length + 1);
    size_t used = 0;
    for (size_t index = 0; index < length; index++) {
        char quote = statement[index];
        if (quote != '`' && quote != '\'') {
            out[used++] = statement[index];
            continue;
        }
        for (index++;; index++) {
            if (index >= length) {
                free(out);
                return NULL;
            }
            if (statement[index] == quote) {
                if (quote == '`' && index + 1 < length && statement[index + 1] == '`') {
                    index++; /* a doubled backtick stays inside the name */
                    continue;
                }
                break;
            }
        }
        out[used++] = 'Q';
    }
    out[used] = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const forbidden[] = {"MATCH", "DELETE", "CALL", "MERGE", "SET ", "REMOVE", "DROP", "LOAD",
                                            "RETURN", "WITH", "UNWIND", "//", "/*", ";", "\n"};
    Arena *arena = arenaNew(0);
    PackReader reader;
    packReaderInit(&reader, data, size);
    packReaderLimitDecoded(&reader, 1u << 20);
    BoltValue value;
    SchemaItem item;
    Buffer statement;
    bufferInit(&statement);
    if (unpackValue(&reader, arena, &value) == ERR_OK && schemaItemFromValue(&value, &item) == ERR_OK &&
        schemaBuildStatement(&item, &statement) == ERR_OK) {
        const char *text = (const char *)statement.data;
        if (strlen(text) != statement.length)
            fuzzFail("a NUL inside the statement", text);
        if (strncmp(text, "CREATE CONSTRAINT `", 19) != 0 && strncmp(text, "CREATE ", 7) != 0)
            fuzzFail("not a CREATE", text);
        char *unquoted = fuzzUnquoted(text, statement.length);
        if (!unquoted)
            fuzzFail("an unclosed quote", text);
        for (size_t index = 0; index < sizeof(forbidden) / sizeof(forbidden[0]); index++) {
            if (strstr(unquoted, forbidden[index]))
                fuzzFail(forbidden[index], text);
        }
        if (!strstr(unquoted, " INDEX Q FOR ") && !strstr(unquoted, "CREATE CONSTRAINT Q FOR "))
            fuzzFail("not of the recorded shape", text);
        free(unquoted);
    }
    bufferFree(&statement);
    arenaFree(arena);
    return 0;
}
