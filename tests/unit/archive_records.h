/* Test records shared by the archive unit tests (archive_test.c,
 * archive_storage_test.c): a deterministic record per index, so a reader's
 * output can be checked against what was written without keeping it. */
#ifndef NBK_TESTS_UNIT_ARCHIVE_RECORDS_H
#define NBK_TESTS_UNIT_ARCHIVE_RECORDS_H

#include "archive/archive.h"
#include "common/buffer.h"

#include <stdint.h>

static inline uint32_t nextRandom(uint32_t *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;
    return *seed;
}

/* Deterministic test record number index: varied kinds and sizes (0 bytes
 * included), mostly text-like so compression has something to do; record
 * 1234 is bigger than the test block size. */
static inline ArcRecordKind makeRecord(uint32_t index, Buffer *into)
{
    static const ArcRecordKind kinds[] = {ARC_RECORD_NODE, ARC_RECORD_NODE, ARC_RECORD_RELATIONSHIP,
                                          ARC_RECORD_SCHEMA};
    bufferClear(into);
    uint32_t seed = index * 2654435761u + 1;
    size_t length = index == 1234 ? 20000 : (index * 7919u) % 300;
    while (into->length < length) {
        if (nextRandom(&seed) % 4 == 0)
            bufferAppendByte(into, (uint8_t)nextRandom(&seed));
        else
            bufferAppendF(into, "name%u", index % 50);
    }
    into->length = length;
    return kinds[index % 4];
}

#endif
