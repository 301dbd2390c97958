/* Fuzz target: arbitrary bytes as a differential's records (archive/chain.h):
 * a deletion record (arcDeletionParse) and the key of a node or relationship
 * record (arcRecordKey). Neither may read past the bytes or crash; each must
 * agree with the general PackStream decoder: what it accepts decodes to the
 * same entity and key, a record that decodes to a list starting with an
 * integer always yields that key, and a parsed deletion packs and parses
 * back to itself.
 * Build: cmake -DNBK_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./chain_record_fuzz corpus/ */
#include "fuzz_text.h"
#include "archive/chain.h"
#include "bolt/packstream.h"
#include "bolt/value.h"
#include "common/buffer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *bytes = (uint8_t *)fuzzExactCopy(data, size);
    if (!bytes)
        return 0;
    Arena *arena = arenaNew(0);
    PackReader reader;
    packReaderInit(&reader, bytes, size);
    packReaderLimitDecoded(&reader, 1u << 20);
    BoltValue value;
    bool decoded = unpackValue(&reader, arena, &value) == ERR_OK;
    bool whole = decoded && reader.offset == size;

    ArcRecordKind entity = ARC_RECORD_SCHEMA;
    int64_t key = 0;
    ErrCode code = arcDeletionParse(bytes, size, &entity, &key);
    if (code != ERR_OK && code != BACKUP_CORRUPTED)
        abort();
    if (code == ERR_OK) {
        if (entity != ARC_RECORD_NODE && entity != ARC_RECORD_RELATIONSHIP)
            abort();
        /* The decoder reads the same [entity, key], and nothing after it. */
        if (!whole || value.type != BOLT_LIST || value.as.list.count != 2)
            abort();
        const BoltValue *items = value.as.list.items;
        if (items[0].type != BOLT_STRING || items[0].as.string.length != 1 ||
            items[0].as.string.data[0] != (entity == ARC_RECORD_NODE ? 'N' : 'R') ||
            items[1].type != BOLT_INT || items[1].as.integer != key)
            abort();
        Buffer packed;
        bufferInit(&packed);
        arcDeletionPack(&packed, entity, key);
        ArcRecordKind again = ARC_RECORD_SCHEMA;
        int64_t againKey = 0;
        if (arcDeletionParse(packed.data, packed.length, &again, &againKey) != ERR_OK || again != entity ||
            againKey != key)
            abort();
        bufferFree(&packed);
    }

    key = 0;
    code = arcRecordKey(bytes, size, &key);
    if (code != ERR_OK && code != BACKUP_CORRUPTED)
        abort();
    if (decoded) {
        bool keyed = value.type == BOLT_LIST && value.as.list.count >= 1 && value.as.list.items[0].type == BOLT_INT;
        if (keyed != (code == ERR_OK))
            abort();
        if (keyed && value.as.list.items[0].as.integer != key)
            abort();
    }
    arenaFree(arena);
    free(bytes);
    return 0;
}
