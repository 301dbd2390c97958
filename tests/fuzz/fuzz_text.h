/* What the fuzz targets of text parsers share: the input copied into a buffer
 * of exactly its size (so AddressSanitizer sees a read past its end), and the
 * check that a text field the parser filled is terminated inside the field
 * and holds no control character that could break a log or header line. */
#ifndef NBK_FUZZ_TEXT_H
#define NBK_FUZZ_TEXT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* NULL when out of memory (the input is then skipped); free() it. */
static inline char *fuzzExactCopy(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (copy && size)
        memcpy(copy, data, size);
    return copy;
}

static inline void fuzzCheckText(const char *text, size_t fieldSize, bool mayBeEmpty)
{
    size_t length = strnlen(text, fieldSize);
    if (length >= fieldSize || (!mayBeEmpty && length == 0))
        abort();
    for (size_t index = 0; index < length; index++)
        if ((unsigned char)text[index] < 0x20 || text[index] == 0x7f)
            abort();
}

#endif
