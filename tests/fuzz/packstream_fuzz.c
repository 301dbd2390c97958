/* libFuzzer target for the PackStream decoder.
 *
 * Decodes every value in the input; for each one that decodes, checks that
 * encoding it and decoding again yields an equal value, that the second
 * encoding is byte-identical to the first (the encoder is canonical), and
 * that copy, format and placeholder search survive it, and that the
 * decoded-size limit (packReaderLimitDecoded) is exact. Any crash, sanitizer
 * report or abort() here is a bug. See tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bolt/packstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzzFail(const char *what)
{
    fprintf(stderr, "packstream_fuzz: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Kept across inputs so arenaReset is exercised as the result stream
     * uses it: one arena reset per record. */
    static Arena *arena;
    static Arena *second;
    if (!arena) {
        arena = arenaNew(4096);
        second = arenaNew(0);
    }
    Buffer first, again;
    bufferInit(&first);
    bufferInit(&again);

    PackReader reader;
    packReaderInit(&reader, data, size);
    while (reader.offset < reader.length) {
        size_t before = reader.offset;
        BoltValue value;
        if (unpackValue(&reader, arena, &value) != ERR_OK) {
            if (reader.offset != before)
                fuzzFail("reader moved on failure");
            break;
        }
        if (reader.offset <= before || reader.offset > reader.length)
            fuzzFail("reader offset out of range after success");

        bufferClear(&first);
        packValue(&first, &value);
        PackReader reread;
        packReaderInit(&reread, first.data, first.length);
        BoltValue decoded;
        if (unpackValue(&reread, second, &decoded) != ERR_OK)
            fuzzFail("re-encoded value does not decode");
        if (reread.offset != first.length)
            fuzzFail("re-encoded value has trailing bytes");
        if (!boltValueEqual(&value, &decoded))
            fuzzFail("round trip changed the value");
        bufferClear(&again);
        packValue(&again, &decoded);
        if (again.length != first.length || memcmp(again.data, first.data, first.length) != 0)
            fuzzFail("encoding is not canonical");

        /* The decoded-size limit: a decode within exactly what the value
         * takes succeeds, one byte less fails and leaves the reader as it was. */
        PackReader limited;
        packReaderInit(&limited, first.data, first.length);
        packReaderLimitDecoded(&limited, reread.decoded ? reread.decoded : 1);
        BoltValue bounded;
        if (unpackValue(&limited, second, &bounded) != ERR_OK || limited.decoded != reread.decoded)
            fuzzFail("decode within its own decoded size failed");
        if (reread.decoded > 1) {
            packReaderInit(&limited, first.data, first.length);
            packReaderLimitDecoded(&limited, reread.decoded - 1);
            if (unpackValue(&limited, second, &bounded) == ERR_OK || limited.offset != 0 || limited.decoded != 0)
                fuzzFail("decoded-size limit not enforced");
        }

        BoltValue copy = boltValueCopy(second, &value);
        if (!boltValueEqual(&copy, &value))
            fuzzFail("copy differs");
        char text[512];
        size_t needed = boltValueFormat(text, sizeof(text), &value);
        if (strlen(text) != (needed < sizeof(text) ? needed : sizeof(text) - 1))
            fuzzFail("format length mismatch");
        const char *typeName = NULL;
        if (boltValueFindPlaceholder(&value, &typeName) && !typeName)
            fuzzFail("placeholder without a type name");
        (void)boltTypeName(&value);
        arenaReset(second);
    }
    arenaReset(arena);
    bufferFree(&first);
    bufferFree(&again);
    return 0;
}
