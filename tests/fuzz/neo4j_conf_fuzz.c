/* libFuzzer target for the neo4j.conf reader (src/neo4j/store.c,
 * neo4jConfDataDirectory: where neo4jDatabaseDirectory finds the databases)
 * on arbitrary text: never a crash or an overrun. A value it reports is not
 * empty, fits its buffer with the NUL, holds no newline or carriage return,
 * has no space or tab at either end and is a piece of the input; when it
 * reports none, the buffer is untouched. Reading the text line by line gives
 * what reading it whole gives (the last line wins), and a value that fits a
 * small buffer is found in a large one too.
 * Build: cmake -DNBK_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./neo4j_conf_fuzz corpus/ */
#include "neo4j/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SMALL_SIZE 8
#define FUZZ_UNTOUCHED 0xa5

/* Reads text into a buffer of size bytes with the checks above; returns
 * whether a value was found (then in out). */
static bool fuzzRead(const char *text, size_t length, char *out, size_t size)
{
    memset(out, FUZZ_UNTOUCHED, size);
    if (!neo4jConfDataDirectory(text, length, out, size)) {
        for (size_t index = 0; index < size; index++)
            if ((unsigned char)out[index] != FUZZ_UNTOUCHED)
                abort(); /* nothing found, yet the buffer was written */
        return false;
    }
    size_t valueLength = strnlen(out, size);
    if (valueLength == 0 || valueLength >= size)
        abort(); /* empty, or not NUL-terminated inside its buffer */
    if (strpbrk(out, "\r\n"))
        abort();
    if (out[0] == ' ' || out[0] == '\t' || out[valueLength - 1] == ' ' || out[valueLength - 1] == '\t')
        abort(); /* not trimmed */
    if (!memmem(text, length, out, valueLength))
        abort(); /* a value the input does not hold */
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char whole[NEO4J_PATH_SIZE];
    char byLine[NEO4J_PATH_SIZE];
    char small[FUZZ_SMALL_SIZE];
    bool found = fuzzRead(text, size, whole, NEO4J_PATH_SIZE);

    /* Line by line, each line without its newline, the last value kept. */
    bool foundByLine = false;
    memset(byLine, FUZZ_UNTOUCHED, NEO4J_PATH_SIZE);
    for (size_t start = 0; start < size;) {
        const char *newline = memchr(text + start, '\n', size - start);
        size_t end = newline ? (size_t)(newline - text) : size;
        if (neo4jConfDataDirectory(text + start, end - start, byLine, NEO4J_PATH_SIZE))
            foundByLine = true;
        start = end + 1;
    }
    if (found != foundByLine || (found && strcmp(whole, byLine) != 0))
        abort(); /* reading whole and line by line disagree */

    if (fuzzRead(text, size, small, sizeof(small)) && !found)
        abort(); /* a value that fits 8 bytes was missed in 4096 */
    return 0;
}
