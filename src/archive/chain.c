/* The merged reader of a differential chain (chain.h). Three passes:
 * pass 1 reads the differentials newest first, handing out the newest
 * link's schema and every node record whose key no newer link decided, and
 * marking the keys of relationship records and deletions as decided; pass 2
 * reads the full, handing out what no differential decided; pass 3 reads
 * the differentials again, newest first, handing out each relationship key's
 * newest record unless a newer deletion hides it. A chain of one link only
 * forwards the plain reader's records (and its errors). */
#include "archive/chain.h"

#include "bolt/packstream.h"
#include "bolt/value.h"
#include "common/format.h"
#include "common/key_set.h"
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    CHAIN_DIFF_NODES,         /* pass 1 over links count-1 .. 1 */
    CHAIN_FULL,               /* pass 2 over link 0 */
    CHAIN_DIFF_RELATIONSHIPS, /* pass 3 over links count-1 .. 1 */
    CHAIN_DONE,
    CHAIN_FAILED,
} ChainPhase;

struct ArcChainReader {
    const ArcChainLink *links;
    size_t count;
    ChainPhase phase;
    size_t link;       /* the link being read (or to open next) */
    ArcReader *reader; /* NULL between links */
    Buffer newestHeader;
    KeySet decidedNodes;         /* keys a differential holds a record or a deletion for */
    KeySet decidedRelationships;
    KeySet emittedRelationships; /* pass 3: keys handed out or hidden by a newer deletion */
    ArcChainTotals totals;
    ErrDetail failure; /* repeated by every call after a failure */
};

/* Names the link in an error of a real chain; a plain archive's errors stay
 * exactly the reader's. */
static ErrCode chainFail(ArcChainReader *chain, ErrCode code, size_t index)
{
    if (chain->count > 1)
        errAddContext("link %zu of %zu of the chain (%s)", index, chain->count,
                      arcLocationShown(&chain->links[index].location));
    chain->phase = CHAIN_FAILED;
    chain->failure = errSave();
    arcReaderFree(chain->reader);
    chain->reader = NULL;
    return code;
}

/* The header's "format" must fit the link: a differential's always says
 * ARC_FORMAT_DIFF, a chain's full ARC_FORMAT_FULL. A plain archive (a chain
 * of one) may name none, as archives written by tests do, but never a
 * differential's. */
static ErrCode chainCheckFormat(const ArcChainReader *chain, size_t index, const uint8_t *header, size_t length)
{
    const char *expected = index == 0 ? ARC_FORMAT_FULL : ARC_FORMAT_DIFF;
    bool required = chain->count > 1;
    char format[64] = "";
    bool named = false;
    bool matches = false;
    if (header && length) {
        Arena *arena = arenaNew(0);
        PackReader packReader;
        packReaderInit(&packReader, header, length);
        packReaderLimitDecoded(&packReader, ARC_RECORD_DECODED_MAX);
        BoltValue value;
        if (unpackValue(&packReader, arena, &value) == ERR_OK && value.type == BOLT_MAP) {
            const BoltValue *field = boltMapGet(&value, "format");
            if (field && field->type == BOLT_STRING) {
                named = true;
                size_t size = field->as.string.length;
                matches = size == strlen(expected) && memcmp(field->as.string.data, expected, size) == 0;
                size = size < sizeof(format) - 1 ? size : sizeof(format) - 1;
                memcpy(format, field->as.string.data, size);
                format[size] = '\0';
            }
        }
        arenaFree(arena);
    }
    if (!named)
        return required ? errSet(BACKUP_CORRUPTED, "the archive header names no format (a chain needs '%s')",
                                 expected)
                        : ERR_OK;
    if (!matches) {
        char shown[160];
        return errSet(BACKUP_CORRUPTED, "archive format '%s' where %s needs '%s'",
                      fmtPrintable(shown, sizeof(shown), format),
                      index == 0 ? "the chain's full backup" : "a differential", expected);
    }
    return ERR_OK;
}

/* Opens link index, checks its format and asks for its SHA-256 at its end. */
static ErrCode chainOpenLink(ArcChainReader *chain, size_t index)
{
    const ArcChainLink *link = &chain->links[index];
    ErrCode code = arcReaderOpenAt(&chain->reader, &link->location, NULL);
    if (code != ERR_OK)
        return code;
    size_t length = 0;
    const uint8_t *header = arcReaderHeader(chain->reader, &length);
    code = chainCheckFormat(chain, index, header, length);
    if (code == ERR_OK && link->sha256)
        code = arcReaderExpectSha256(chain->reader, link->sha256);
    return code;
}

ErrCode arcChainOpen(ArcChainReader **out, const ArcChainLink *links, size_t count)
{
    *out = NULL;
    if (!links || count == 0)
        return errSet(ERR_INTERNAL, "arcChainOpen needs at least one link");
    ArcChainReader *chain = memCalloc(1, sizeof(*chain));
    chain->links = links;
    chain->count = count;
    chain->link = count - 1;
    chain->phase = count > 1 ? CHAIN_DIFF_NODES : CHAIN_FULL;
    bufferInit(&chain->newestHeader);
    ErrCode code = chainOpenLink(chain, chain->link);
    if (code != ERR_OK) {
        chainFail(chain, code, chain->link);
        arcChainFree(chain);
        return code;
    }
    size_t length = 0;
    const uint8_t *header = arcReaderHeader(chain->reader, &length);
    if (length)
        bufferAppend(&chain->newestHeader, header, length);
    *out = chain;
    return ERR_OK;
}

const uint8_t *arcChainHeader(const ArcChainReader *reader, size_t *length)
{
    *length = reader->newestHeader.length;
    return reader->newestHeader.data;
}

const ArcChainTotals *arcChainTotals(const ArcChainReader *reader) { return &reader->totals; }

/* The link just ended (verified): the next one to read, or the end. */
static void chainAdvance(ArcChainReader *chain)
{
    if (chain->phase != CHAIN_DIFF_RELATIONSHIPS)
        chain->totals.linkBytes += arcReaderTotals(chain->reader)->compressedBytes;
    arcReaderFree(chain->reader);
    chain->reader = NULL;
    if (chain->phase == CHAIN_DIFF_NODES) {
        if (--chain->link == 0)
            chain->phase = CHAIN_FULL;
    } else if (chain->phase == CHAIN_FULL) {
        chain->phase = chain->count > 1 ? CHAIN_DIFF_RELATIONSHIPS : CHAIN_DONE;
        chain->link = chain->count - 1;
    } else if (--chain->link == 0) {
        chain->phase = CHAIN_DONE;
    }
}

/* Decides what one record of a differential does in the current pass:
 * *emit says whether it is handed out. */
static ErrCode chainDiffRecord(ArcChainReader *chain, ArcRecordKind kind, const uint8_t *packed, size_t length,
                               bool *emit)
{
    *emit = false;
    bool firstPass = chain->phase == CHAIN_DIFF_NODES;
    int64_t key = 0;
    ErrCode code = ERR_OK;
    switch (kind) {
    case ARC_RECORD_SCHEMA:
        /* The newest link carries the whole schema at its time. */
        *emit = firstPass && chain->link == chain->count - 1;
        return ERR_OK;
    case ARC_RECORD_NODE:
        if (!firstPass)
            return ERR_OK;
        code = arcRecordKey(packed, length, &key);
        if (code == ERR_OK)
            *emit = keySetAdd(&chain->decidedNodes, key);
        return code;
    case ARC_RECORD_RELATIONSHIP:
        code = arcRecordKey(packed, length, &key);
        if (code != ERR_OK)
            return code;
        if (firstPass)
            keySetAdd(&chain->decidedRelationships, key);
        else
            *emit = keySetAdd(&chain->emittedRelationships, key);
        return ERR_OK;
    case ARC_RECORD_DELETION: {
        ArcRecordKind entity;
        code = arcDeletionParse(packed, length, &entity, &key);
        if (code != ERR_OK)
            return code;
        if (!firstPass) {
            if (entity == ARC_RECORD_RELATIONSHIP)
                keySetAdd(&chain->emittedRelationships, key);
        } else if (entity == ARC_RECORD_NODE) {
            if (keySetAdd(&chain->decidedNodes, key))
                chain->totals.deletedNodes++;
        } else if (keySetAdd(&chain->decidedRelationships, key)) {
            chain->totals.deletedRelationships++;
        }
        return ERR_OK;
    }
    }
    return errSet(BACKUP_CORRUPTED, "unknown record kind 0x%02x", (unsigned)kind);
}

/* The same for a record of the full (link 0). */
static ErrCode chainFullRecord(ArcChainReader *chain, ArcRecordKind kind, const uint8_t *packed, size_t length,
                               bool *emit)
{
    *emit = false;
    if (kind == ARC_RECORD_DELETION)
        return errSet(BACKUP_CORRUPTED, "a deletion record in a full backup's archive");
    if (chain->count == 1) {
        *emit = true;
        return ERR_OK;
    }
    if (kind == ARC_RECORD_SCHEMA)
        return ERR_OK; /* the newest link's schema was handed out */
    int64_t key = 0;
    ErrCode code = arcRecordKey(packed, length, &key);
    if (code != ERR_OK)
        return code;
    *emit = !keySetContains(kind == ARC_RECORD_NODE ? &chain->decidedNodes : &chain->decidedRelationships, key);
    return ERR_OK;
}

ErrCode arcChainNext(ArcChainReader *chain, ArcRecordKind *kind, const uint8_t **packed, size_t *length)
{
    *packed = NULL;
    *length = 0;
    for (;;) {
        if (chain->phase == CHAIN_FAILED)
            return errRestore(&chain->failure);
        if (chain->phase == CHAIN_DONE)
            return ERR_OK;
        ErrCode code = ERR_OK;
        if (!chain->reader && (code = chainOpenLink(chain, chain->link)) != ERR_OK)
            return chainFail(chain, code, chain->link);
        code = arcReaderNext(chain->reader, kind, packed, length);
        if (code != ERR_OK)
            return chainFail(chain, code, chain->link);
        if (!*packed) {
            chainAdvance(chain);
            continue;
        }
        bool emit = false;
        code = chain->phase == CHAIN_FULL ? chainFullRecord(chain, *kind, *packed, *length, &emit)
                                          : chainDiffRecord(chain, *kind, *packed, *length, &emit);
        if (code != ERR_OK) {
            *packed = NULL;
            *length = 0;
            return chainFail(chain, code, chain->link);
        }
        if (!emit)
            continue;
        if (*kind == ARC_RECORD_SCHEMA)
            chain->totals.schemaItems++;
        else if (*kind == ARC_RECORD_NODE)
            chain->totals.nodes++;
        else
            chain->totals.relationships++;
        return ERR_OK;
    }
}

void arcChainFree(ArcChainReader *chain)
{
    if (!chain)
        return;
    arcReaderFree(chain->reader);
    bufferFree(&chain->newestHeader);
    keySetFree(&chain->decidedNodes);
    keySetFree(&chain->decidedRelationships);
    keySetFree(&chain->emittedRelationships);
    free(chain);
}
