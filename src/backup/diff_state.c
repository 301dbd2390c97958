/* The parent state of a differential (diff_state.h). */
#include "backup/diff_state.h"

#include "bolt/packstream.h"
#include "bolt/value.h"
#include "common/key_set.h"
#include "common/mem.h"
#include "common/sha256.h"
#include "common/spill_array.h"

#include <stdlib.h>
#include <string.h>

/* The highest key a table takes. Neo4j's record formats give ids below
 * 2^35 (nodes) and 2^36 (relationships); each slot up to the highest key
 * costs 8 bytes of scratch disk, so a sparse but legal key space costs disk
 * (a full disk is BACKUP_NO_SPACE), and a key past this bound is damage. */
#define DIFF_KEY_MAX ((int64_t)1 << 40)

typedef struct {
    SpillArray *hashes; /* key -> uint64 hash, 0 = absent */
    KeySet met;         /* keys of the new scan */
    uint64_t parentCount;
} DiffTable;

struct DiffState {
    DiffTable nodes;
    DiffTable relationships;
    uint64_t *schema; /* sorted item hashes of the parent */
    size_t schemaCount;
};

static DiffTable *diffTable(DiffState *state, ArcRecordKind kind)
{
    return kind == ARC_RECORD_NODE ? &state->nodes : &state->relationships;
}

uint64_t diffRecordHash(const uint8_t *packed, size_t length)
{
    uint8_t digest[SHA256_BYTES];
    sha256Digest(packed, length, digest);
    uint64_t hash = 0;
    for (int index = 0; index < 8; index++)
        hash = hash << 8 | digest[index];
    return hash ? hash : 1;
}

uint64_t diffSchemaItemHash(const uint8_t *packed, size_t length)
{
    Arena *arena = arenaNew(0);
    PackReader reader;
    packReaderInit(&reader, packed, length);
    packReaderLimitDecoded(&reader, 64u << 20);
    BoltValue value;
    uint64_t hash = 0;
    if (unpackValue(&reader, arena, &value) == ERR_OK && value.type == BOLT_MAP) {
        const char *name = boltMapGetString(&value, "name", "");
        const char *statement = boltMapGetString(&value, "createStatement", "");
        size_t nameLength = strlen(name) + 1;
        size_t statementLength = strlen(statement);
        uint8_t *joined = memAlloc(nameLength + statementLength + 1);
        memcpy(joined, name, nameLength);
        memcpy(joined + nameLength, statement, statementLength);
        hash = diffRecordHash(joined, nameLength + statementLength);
        free(joined);
    } else {
        hash = diffRecordHash(packed, length); /* undecodable: compare the bytes */
    }
    arenaFree(arena);
    return hash;
}

static int diffCompareHashes(const void *left, const void *right)
{
    uint64_t a = *(const uint64_t *)left, b = *(const uint64_t *)right;
    return a < b ? -1 : a > b;
}

bool diffStateSchemaEquals(const DiffState *state, const uint64_t *hashes, size_t count)
{
    if (count != state->schemaCount)
        return false;
    uint64_t *sorted = memAlloc((count ? count : 1) * sizeof(uint64_t));
    if (count)
        memcpy(sorted, hashes, count * sizeof(uint64_t));
    qsort(sorted, count, sizeof(uint64_t), diffCompareHashes);
    bool equal = count == 0 || memcmp(sorted, state->schema, count * sizeof(uint64_t)) == 0;
    free(sorted);
    return equal;
}

static ErrCode diffTablePut(DiffTable *table, const char *what, int64_t key, uint64_t hash)
{
    if (key < 0 || key > DIFF_KEY_MAX)
        return errSet(BACKUP_CORRUPTED, "the parent chain holds %s key %lld, outside 0 to 2^40", what,
                      (long long)key);
    uint64_t *slot = spillArrayWrite(table->hashes, (uint64_t)key);
    if (!slot)
        return errLast()->code;
    if (*slot == 0)
        table->parentCount++;
    *slot = hash;
    return ERR_OK;
}

ErrCode diffStateLoad(DiffState **out, const ArcChainLink *links, size_t count, volatile sig_atomic_t *cancelFlag)
{
    *out = NULL;
    DiffState *state = memCalloc(1, sizeof(*state));
    state->nodes.hashes = spillArrayNew(sizeof(uint64_t));
    state->relationships.hashes = spillArrayNew(sizeof(uint64_t));
    size_t schemaCapacity = 0;
    ArcChainReader *reader = NULL;
    ErrCode code = state->nodes.hashes && state->relationships.hashes ? arcChainOpen(&reader, links, count)
                                                                       : errSet(ERR_INTERNAL, "out of memory");
    for (uint64_t records = 0; code == ERR_OK; records++) {
        if ((records & 0xFFFF) == 0 && cancelFlag && *cancelFlag) {
            code = errSet(OPERATION_INTERRUPTED, "backup interrupted by a signal while reading the parent chain");
            break;
        }
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        code = arcChainNext(reader, &kind, &packed, &length);
        if (code != ERR_OK || !packed)
            break;
        if (kind == ARC_RECORD_SCHEMA) {
            if (state->schemaCount == schemaCapacity) {
                schemaCapacity = schemaCapacity ? 2 * schemaCapacity : 32;
                state->schema = memRealloc(state->schema, schemaCapacity * sizeof(uint64_t));
            }
            state->schema[state->schemaCount++] = diffSchemaItemHash(packed, length);
            continue;
        }
        int64_t key = 0;
        code = arcRecordKey(packed, length, &key);
        if (code == ERR_OK)
            code = diffTablePut(diffTable(state, kind), kind == ARC_RECORD_NODE ? "node" : "relationship", key,
                                diffRecordHash(packed, length));
    }
    arcChainFree(reader);
    if (code != ERR_OK) {
        diffStateFree(state);
        return code;
    }
    if (state->schemaCount)
        qsort(state->schema, state->schemaCount, sizeof(uint64_t), diffCompareHashes);
    *out = state;
    return ERR_OK;
}

void diffStateFree(DiffState *state)
{
    if (!state)
        return;
    spillArrayFree(state->nodes.hashes);
    spillArrayFree(state->relationships.hashes);
    keySetFree(&state->nodes.met);
    keySetFree(&state->relationships.met);
    free(state->schema);
    free(state);
}

ErrCode diffStateMeet(DiffState *state, ArcRecordKind kind, int64_t key, uint64_t hash, bool *unchanged)
{
    DiffTable *table = diffTable(state, kind);
    keySetAdd(&table->met, key);
    *unchanged = false;
    if (key < 0)
        return ERR_OK;
    const uint64_t *slot = spillArrayRead(table->hashes, (uint64_t)key);
    if (!slot) {
        if (spillArrayFailed(table->hashes))
            return errLast()->code;
        return ERR_OK; /* beyond the table: a new key */
    }
    *unchanged = *slot == hash;
    return ERR_OK;
}

ErrCode diffStateForEachDeleted(DiffState *state, ArcRecordKind kind, DiffDeletedVisitor visit, void *payload)
{
    DiffTable *table = diffTable(state, kind);
    uint64_t length = spillArrayLength(table->hashes);
    for (uint64_t key = 0; key < length; key++) {
        const uint64_t *slot = spillArrayRead(table->hashes, key);
        if (!slot) {
            if (spillArrayFailed(table->hashes))
                return errLast()->code;
            continue;
        }
        if (*slot == 0 || keySetContains(&table->met, (int64_t)key))
            continue;
        ErrCode code = visit(kind, (int64_t)key, payload);
        if (code != ERR_OK)
            return code;
    }
    return ERR_OK;
}

uint64_t diffStateParentCount(const DiffState *state, ArcRecordKind kind)
{
    return kind == ARC_RECORD_NODE ? state->nodes.parentCount : state->relationships.parentCount;
}
