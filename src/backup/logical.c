/* Logical backup engine (see logical.h for the contract, and
 * docs/archive-format.md for the consistency it gives).
 *
 * Order of the archive's records: schema items, the node scan, the
 * relationship scan (minus relationships with an endpoint that the node scan
 * did not see), the late nodes, then the relationships that waited for them.
 * So every relationship record follows both of its endpoint nodes, and a
 * reader (restore, validation, the fingerprint) needs one pass. */
#include "backup/logical.h"

#include "bolt/packstream.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "archive/chain.h"
#include "common/key_set.h"
#include "graph/fingerprint.h"
#include "graph/fingerprint_feed.h"
#include "graph/records.h"
#include "neo4j/instance.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Ids per late-node query: one parameter list, small enough to plan fast. */
#define LOGICAL_LATE_BATCH 10000u
#define LOGICAL_SPILL_READ_SIZE (4u * 1024u * 1024u)

static const char logicalNodeQuery[] =
    "MATCH (n) WHERE NOT n:" GRAPH_METADATA_LABEL " RETURN id(n), labels(n), properties(n)";
static const char logicalRelationshipQuery[] =
    "MATCH (a)-[r]->(b) RETURN id(r), id(a), id(b), type(r), properties(r)";
/* No label filter here: a BackupMetadata endpoint must be recognised as such
 * (its relationships are excluded), not mistaken for a deleted node. */
static const char logicalLateNodeQuery[] =
    "MATCH (n) WHERE id(n) IN $ids RETURN id(n), labels(n), properties(n)";

/* Errors after which the transaction is gone (or the connection defunct). */
static bool logicalIsConnectionError(ErrCode code)
{
    return code == NEO4J_UNREACHABLE || code == NEO4J_AUTH_FAILED || code == NEO4J_PROTOCOL_ERROR ||
           code == NEO4J_QUERY_FAILED || code == NEO4J_TIMEOUT;
}

/* ---- pending relationships ------------------------------------------------ */

/* Entries: startKey (i64), endKey (i64), length (u32), record bytes, in host
 * byte order: the file is private to this run and never outlives it. */
typedef struct {
    Buffer memory;
    int spillFd;            /* -1 until the memory limit is first exceeded */
    uint64_t count;
    uint64_t spilledBytes;
} PendingStore;

#define PENDING_ENTRY_HEADER (8 + 8 + 4)

static ErrCode logicalWriteAll(int fd, const uint8_t *data, size_t length, const char *what)
{
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            return errSet(saved == ENOSPC ? BACKUP_NO_SPACE : BACKUP_IO_FAILED,
                          "cannot write %s: %s", what, strerror(saved));
        }
        data += written;
        length -= (size_t)written;
    }
    return ERR_OK;
}

/* Moves the in-memory entries to an unlinked temp file beside the archive
 * (in /tmp when the archive has no path: object storage). */
static ErrCode pendingSpill(PendingStore *store, const ArcLocation *archive)
{
    const char *archivePath = archive->path ? archive->path : "/tmp/nbk-backup";
    if (store->spillFd < 0) {
        size_t pathLength = strlen(archivePath) + sizeof(".pending-XXXXXX");
        char *spillPath = memAlloc(pathLength);
        snprintf(spillPath, pathLength, "%s.pending-XXXXXX", archivePath);
        store->spillFd = mkostemp(spillPath, O_CLOEXEC);
        if (store->spillFd < 0) {
            int saved = errno;
            ErrCode code = errSet(saved == ENOSPC ? BACKUP_NO_SPACE : BACKUP_IO_FAILED,
                                  "cannot create %s for pending relationships: %s", spillPath,
                                  strerror(saved));
            free(spillPath);
            return code;
        }
        unlink(spillPath); /* gone with the descriptor, whatever happens */
        logDebug("pending relationships exceed memory, spilling to a temp file beside the archive");
        free(spillPath);
    }
    ErrCode code = logicalWriteAll(store->spillFd, store->memory.data, store->memory.length,
                                   "the pending relationships temp file");
    if (code != ERR_OK)
        return code;
    store->spilledBytes += store->memory.length;
    bufferClear(&store->memory);
    return ERR_OK;
}

/* ---- the run ---------------------------------------------------------------- */

typedef struct {
    const LogicalBackupRequest *request;
    LogicalBackupResult *result;
    BoltConnection *connection;
    ArcWriter *writer;
    Buffer packed;           /* the record being written, reused */
    KeySet nodeKeys;
    KeySet relationshipKeys;
    IdSet missingKeys;       /* endpoints the node scan did not see */
    IdSet excludedKeys;      /* BackupMetadata nodes met among them */
    PendingStore pending;
    uint64_t pendingMemoryLimit;
    Fingerprint *fingerprint;
    FingerprintFeed *feed;   /* computes the fingerprint beside the scan (fingerprint_feed.h) */
    DiffState *diff;         /* the parent's state while writing a differential, else NULL */
    Buffer schemaRecords;    /* schema records (u32 length + bytes), held until the header is known */
    uint64_t *schemaHashes;
    size_t schemaCount;
    Arena *scratch;
    double started;          /* timeMonotonic() at the start */
    LogicalBackupProgress progress;
    uint64_t sinceProgress;
    char boltVersion[16];
} LogicalRun;

static const char *const logicalPhaseNames[] = {
    "starting", "schema", "nodes", "relationships", "late nodes", "pending relationships",
    "finishing", "done",
};

const char *logicalBackupPhaseName(LogicalBackupPhase phase)
{
    if ((unsigned)phase >= sizeof(logicalPhaseNames) / sizeof(logicalPhaseNames[0]))
        return "unknown";
    return logicalPhaseNames[phase];
}

static double logicalElapsed(const LogicalRun *run)
{
    return timeMonotonic() - run->started;
}

static void logicalReport(LogicalRun *run)
{
    run->sinceProgress = 0;
    if (!run->request->progress)
        return;
    run->progress.nodes = run->result->nodes;
    run->progress.relationships = run->result->relationships;
    run->progress.schemaItems = run->result->schemaItems;
    run->progress.lateNodes = run->result->lateNodes;
    run->progress.pendingRelationships = run->pending.count;
    run->progress.bytesWritten = run->writer ? arcWriterBytesWritten(run->writer) : 0;
    run->progress.seconds = logicalElapsed(run);
    run->request->progress(&run->progress, run->request->progressPayload);
}

static void logicalEnterPhase(LogicalRun *run, LogicalBackupPhase phase)
{
    run->progress.phase = phase;
    logDebug("logical backup: %s (%.1f s)", logicalBackupPhaseName(phase), logicalElapsed(run));
    logicalReport(run);
}

/* Called once per record: cancellation and periodic progress. */
static ErrCode logicalTick(LogicalRun *run)
{
    if (run->request->cancelFlag && *run->request->cancelFlag)
        return errSet(OPERATION_INTERRUPTED, "backup interrupted by a signal while reading %s",
                      logicalBackupPhaseName(run->progress.phase));
    if (++run->sinceProgress >= LOGICAL_PROGRESS_INTERVAL)
        logicalReport(run);
    return ERR_OK;
}

/* "(:A:B)" for a node's labels or "[:TYPE]" for a relationship's type. */
static void logicalDescribe(const BoltValue *labelsOrType, char *out, size_t size)
{
    if (labelsOrType->type == BOLT_STRING) {
        snprintf(out, size, "[:%s]", labelsOrType->as.string.data);
        return;
    }
    size_t used = (size_t)snprintf(out, size, "(");
    if (labelsOrType->type == BOLT_LIST) {
        for (uint32_t labelIndex = 0; labelIndex < labelsOrType->as.list.count && used < size; labelIndex++) {
            const BoltValue *label = &labelsOrType->as.list.items[labelIndex];
            if (label->type == BOLT_STRING)
                used += (size_t)snprintf(out + used, size - used, ":%s", label->as.string.data);
        }
    }
    if (used < size)
        snprintf(out + used, size - used, ")");
}

/* Fails with BACKUP_UNSUPPORTED_VALUE when a property holds the placeholder
 * a newer server sends for a type the negotiated Bolt version cannot carry.
 * Checked always: scalars, the common case, cost one comparison each. */
static ErrCode logicalCheckProperties(const LogicalRun *run, const char *entity, int64_t key,
                                      const BoltValue *labelsOrType, const BoltValue *properties)
{
    for (uint32_t entryIndex = 0; entryIndex < properties->as.map.count; entryIndex++) {
        const BoltMapEntry *entry = &properties->as.map.entries[entryIndex];
        BoltType type = entry->value.type;
        if (type != BOLT_MAP && type != BOLT_LIST && type != BOLT_STRUCT)
            continue;
        const char *typeName = NULL;
        if (!boltValueFindPlaceholder(&entry->value, &typeName))
            continue;
        char where[200];
        logicalDescribe(labelsOrType, where, sizeof(where));
        errSet(BACKUP_UNSUPPORTED_VALUE,
               "%s %lld %s: property '%s' holds a %s value, which Bolt %s cannot carry "
               "(the server sent a placeholder instead of the value)",
               entity, (long long)key, where, entry->key.as.string.data, typeName ? typeName : "newer",
               run->boltVersion);
        errSetAction("Connect with a Bolt version that carries %s values (Bolt 6.0 or newer, offered by "
                     "Neo4j 2025.10+; do not cap the Bolt version), or upgrade neo4j-backup",
                     typeName ? typeName : "such");
        return BACKUP_UNSUPPORTED_VALUE;
    }
    return ERR_OK;
}

/* Writes a node or relationship record; in a differential only when it
 * changed since the parent (every record read is met either way). */
static ErrCode logicalAddEntity(LogicalRun *run, ArcRecordKind kind, int64_t key, const uint8_t *packed,
                                size_t length)
{
    if (run->diff) {
        bool unchanged = false;
        ErrCode code = diffStateMeet(run->diff, kind, key, diffRecordHash(packed, length), &unchanged);
        if (code != ERR_OK)
            return code;
        if (unchanged)
            return ERR_OK;
        if (kind == ARC_RECORD_NODE)
            run->result->changedNodes++;
        else
            run->result->changedRelationships++;
    }
    ErrCode code = arcWriterAdd(run->writer, kind, packed, length);
    if (code != ERR_OK)
        errAddContext("while writing the archive");
    return code;
}

/* Writes one node row [id, labels, properties] (already the record layout). */
static ErrCode logicalWriteNode(LogicalRun *run, const BoltValue *row, bool late)
{
    if (row->type != BOLT_LIST || row->as.list.count != 3 || row->as.list.items[0].type != BOLT_INT ||
        row->as.list.items[1].type != BOLT_LIST || row->as.list.items[2].type != BOLT_MAP)
        return errSet(NEO4J_PROTOCOL_ERROR, "the node query returned a row of an unexpected shape");
    const BoltValue *fields = row->as.list.items;
    int64_t key = fields[0].as.integer;
    if (!keySetAdd(&run->nodeKeys, key)) {
        run->result->duplicateRecords++;
        return ERR_OK;
    }
    ErrCode code = logicalCheckProperties(run, "node", key, &fields[1], &fields[2]);
    if (code != ERR_OK)
        return code;
    bufferClear(&run->packed);
    packValue(&run->packed, row);
    code = logicalAddEntity(run, ARC_RECORD_NODE, key, run->packed.data, run->packed.length);
    if (code != ERR_OK)
        return code;
    if (run->feed) {
        code = fingerprintFeedAdd(run->feed, ARC_RECORD_NODE, run->packed.data, run->packed.length);
        if (code != ERR_OK)
            return code;
    }
    graphCountsAddNode(&run->result->counts, &fields[1]);
    run->result->nodes++;
    if (late)
        run->result->lateNodes++;
    return ERR_OK;
}

static ErrCode logicalHandleRelationship(LogicalRun *run, const BoltValue *row)
{
    if (row->type != BOLT_LIST || row->as.list.count != 5 || row->as.list.items[0].type != BOLT_INT ||
        row->as.list.items[1].type != BOLT_INT || row->as.list.items[2].type != BOLT_INT ||
        row->as.list.items[3].type != BOLT_STRING || row->as.list.items[4].type != BOLT_MAP)
        return errSet(NEO4J_PROTOCOL_ERROR, "the relationship query returned a row of an unexpected shape");
    const BoltValue *fields = row->as.list.items;
    int64_t key = fields[0].as.integer;
    if (!keySetAdd(&run->relationshipKeys, key)) {
        run->result->duplicateRecords++;
        return ERR_OK;
    }
    ErrCode code = logicalCheckProperties(run, "relationship", key, &fields[3], &fields[4]);
    if (code != ERR_OK)
        return code;
    int64_t startKey = fields[1].as.integer;
    int64_t endKey = fields[2].as.integer;
    bufferClear(&run->packed);
    packValue(&run->packed, row);

    bool startSeen = keySetContains(&run->nodeKeys, startKey);
    bool endSeen = keySetContains(&run->nodeKeys, endKey);
    if (startSeen && endSeen) {
        code = logicalAddEntity(run, ARC_RECORD_RELATIONSHIP, key, run->packed.data, run->packed.length);
        if (code == ERR_OK && run->feed)
            code = fingerprintFeedAdd(run->feed, ARC_RECORD_RELATIONSHIP, run->packed.data, run->packed.length);
        if (code == ERR_OK) {
            graphCountsAddRelationship(&run->result->counts, fields[3].as.string.data, fields[3].as.string.length);
            run->result->relationships++;
        }
        return code;
    }
    /* An endpoint the node scan did not see (created since, or a
     * BackupMetadata node): wait until the end to decide. */
    if (!startSeen)
        idSetAdd(&run->missingKeys, startKey);
    if (!endSeen)
        idSetAdd(&run->missingKeys, endKey);
    PendingStore *store = &run->pending;
    uint32_t length = (uint32_t)run->packed.length;
    bufferReserve(&store->memory, PENDING_ENTRY_HEADER + length);
    bufferAppend(&store->memory, &startKey, sizeof(startKey));
    bufferAppend(&store->memory, &endKey, sizeof(endKey));
    bufferAppend(&store->memory, &length, sizeof(length));
    bufferAppend(&store->memory, run->packed.data, length);
    store->count++;
    if (store->memory.length > run->pendingMemoryLimit)
        return pendingSpill(store, &run->request->archive);
    return ERR_OK;
}

/* Streams one query's rows into handle (node or relationship). */
static ErrCode logicalStream(LogicalRun *run, const char *query, const BoltValue *params,
                             ErrCode (*handle)(LogicalRun *run, const BoltValue *row, bool late), bool late)
{
    BoltQueryOptions options = {.fetchSize = run->request->fetchSize ? run->request->fetchSize
                                                                      : LOGICAL_DEFAULT_FETCH_SIZE};
    ErrCode code = boltRun(run->connection, query, params, &options);
    while (code == ERR_OK) {
        const BoltValue *row = NULL;
        code = boltFetch(run->connection, &row);
        if (code != ERR_OK || !row)
            break;
        code = handle(run, row, late);
        if (code == ERR_OK)
            code = logicalTick(run);
    }
    if (logicalIsConnectionError(code))
        errAddContext("while reading %s", logicalBackupPhaseName(run->progress.phase));
    return code;
}

static ErrCode logicalHandleRelationshipRow(LogicalRun *run, const BoltValue *row, bool late)
{
    (void)late;
    return logicalHandleRelationship(run, row);
}

/* Late rows may be BackupMetadata nodes: remember those, write the rest. */
static ErrCode logicalHandleLateNode(LogicalRun *run, const BoltValue *row, bool late)
{
    if (row->type == BOLT_LIST && row->as.list.count == 3 && row->as.list.items[0].type == BOLT_INT &&
        row->as.list.items[1].type == BOLT_LIST) {
        const BoltValue *labels = &row->as.list.items[1];
        for (uint32_t labelIndex = 0; labelIndex < labels->as.list.count; labelIndex++) {
            const BoltValue *label = &labels->as.list.items[labelIndex];
            if (label->type == BOLT_STRING && strcmp(label->as.string.data, GRAPH_METADATA_LABEL) == 0) {
                idSetAdd(&run->excludedKeys, row->as.list.items[0].as.integer);
                return ERR_OK;
            }
        }
    }
    return logicalWriteNode(run, row, late);
}

static ErrCode logicalFetchLateNodes(LogicalRun *run)
{
    if (run->missingKeys.count == 0)
        return ERR_OK;
    logDebug("%zu relationship endpoints were not in the node scan; fetching them", run->missingKeys.count);
    int64_t *batch = memAlloc(LOGICAL_LATE_BATCH * sizeof(int64_t));
    ErrCode code = ERR_OK;
    size_t batchLength = 0;
    /* Walks the set's slots (and its side slot) in batches. */
    size_t slotIndex = 0;
    bool sideSlotDone = !run->missingKeys.hasEmptyKey;
    while (code == ERR_OK) {
        batchLength = 0;
        if (!sideSlotDone) {
            batch[batchLength++] = ID_SET_EMPTY;
            sideSlotDone = true;
        }
        for (; slotIndex < run->missingKeys.slotCount && batchLength < LOGICAL_LATE_BATCH; slotIndex++) {
            if (run->missingKeys.slots[slotIndex] != ID_SET_EMPTY)
                batch[batchLength++] = run->missingKeys.slots[slotIndex];
        }
        if (batchLength == 0)
            break;
        arenaReset(run->scratch);
        BoltValue ids = boltList(run->scratch, (uint32_t)batchLength);
        for (size_t idIndex = 0; idIndex < batchLength; idIndex++)
            ids.as.list.items[idIndex] = boltInt(batch[idIndex]);
        BoltValue params = boltMap(run->scratch, 1);
        boltMapSet(run->scratch, &params, 0, "ids", ids);
        code = logicalStream(run, logicalLateNodeQuery, &params, logicalHandleLateNode, true);
    }
    free(batch);
    return code;
}

/* Decides one pending relationship now that late nodes are known. */
static ErrCode logicalResolvePending(LogicalRun *run, int64_t startKey, int64_t endKey,
                                     const uint8_t *packed, uint32_t length)
{
    if (!keySetContains(&run->nodeKeys, startKey) || !keySetContains(&run->nodeKeys, endKey)) {
        if (idSetContains(&run->excludedKeys, startKey) || idSetContains(&run->excludedKeys, endKey)) {
            run->result->excludedRelationships++;
        } else {
            run->result->droppedRelationships++;
            logDebug("relationship dropped: its endpoint %lld was deleted during the backup",
                     (long long)(keySetContains(&run->nodeKeys, startKey) ? endKey : startKey));
        }
        return ERR_OK;
    }
    int64_t key = 0;
    ErrCode code = arcRecordKey(packed, length, &key);
    if (code == ERR_OK)
        code = logicalAddEntity(run, ARC_RECORD_RELATIONSHIP, key, packed, length);
    if (code != ERR_OK)
        return code;
    /* Decoded again for the fingerprint and the per-type count. */
    arenaReset(run->scratch);
    PackReader reader;
    packReaderInit(&reader, packed, length);
    BoltValue row;
    code = unpackValue(&reader, run->scratch, &row);
    if (code == ERR_OK && (row.type != BOLT_LIST || row.as.list.count != 5 ||
                           row.as.list.items[3].type != BOLT_STRING))
        code = errSet(ERR_INTERNAL, "a pending relationship record does not decode to its layout");
    if (code == ERR_OK && run->feed)
        code = fingerprintFeedAdd(run->feed, ARC_RECORD_RELATIONSHIP, packed, length);
    if (code != ERR_OK)
        return code;
    const BoltValue *type = &row.as.list.items[3];
    graphCountsAddRelationship(&run->result->counts, type->as.string.data, type->as.string.length);
    run->result->relationships++;
    return logicalTick(run);
}

/* Walks complete entries of data; returns the bytes consumed. */
static ErrCode logicalResolveEntries(LogicalRun *run, const uint8_t *data, size_t length, size_t *consumed)
{
    size_t offset = 0;
    while (length - offset >= PENDING_ENTRY_HEADER) {
        int64_t startKey, endKey;
        uint32_t recordLength;
        memcpy(&startKey, data + offset, 8);
        memcpy(&endKey, data + offset + 8, 8);
        memcpy(&recordLength, data + offset + 16, 4);
        if (length - offset - PENDING_ENTRY_HEADER < recordLength)
            break;
        ErrCode code = logicalResolvePending(run, startKey, endKey, data + offset + PENDING_ENTRY_HEADER,
                                             recordLength);
        if (code != ERR_OK)
            return code;
        offset += PENDING_ENTRY_HEADER + recordLength;
    }
    *consumed = offset;
    return ERR_OK;
}

static ErrCode logicalWritePending(LogicalRun *run)
{
    PendingStore *store = &run->pending;
    ErrCode code = ERR_OK;
    if (store->spillFd >= 0) {
        if (lseek(store->spillFd, 0, SEEK_SET) < 0)
            return errSet(BACKUP_IO_FAILED, "cannot rewind the pending relationships temp file: %s",
                          strerror(errno));
        Buffer chunk;
        bufferInit(&chunk);
        uint64_t remaining = store->spilledBytes;
        while (code == ERR_OK && remaining > 0) {
            size_t want = remaining < LOGICAL_SPILL_READ_SIZE ? (size_t)remaining : LOGICAL_SPILL_READ_SIZE;
            bufferReserve(&chunk, want);
            ssize_t got = read(store->spillFd, chunk.data + chunk.length, want);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                code = errSet(BACKUP_IO_FAILED, "cannot read the pending relationships temp file: %s",
                              got < 0 ? strerror(errno) : "unexpected end");
                break;
            }
            chunk.length += (size_t)got;
            remaining -= (uint64_t)got;
            size_t consumed = 0;
            code = logicalResolveEntries(run, chunk.data, chunk.length, &consumed);
            bufferConsume(&chunk, consumed);
        }
        if (code == ERR_OK && chunk.length != 0)
            code = errSet(ERR_INTERNAL, "the pending relationships temp file ends inside an entry");
        bufferFree(&chunk);
    }
    if (code == ERR_OK) {
        size_t consumed = 0;
        code = logicalResolveEntries(run, store->memory.data, store->memory.length, &consumed);
        if (code == ERR_OK && consumed != store->memory.length)
            code = errSet(ERR_INTERNAL, "pending relationships buffer ends inside an entry");
    }
    if (code == ERR_OK && run->result->droppedRelationships > 0)
        logWarn("%llu relationships were left out: an endpoint was deleted while the backup ran",
                (unsigned long long)run->result->droppedRelationships);
    return code;
}

/* ---- header and server facts --------------------------------------------------- */

static void logicalPackOptionalString(Buffer *out, const char *text)
{
    if (text)
        packString(out, text, strlen(text));
    else
        packNull(out);
}

void logicalBackupPackHeader(Buffer *out, const LogicalHeaderFields *fields)
{
    char boltVersion[16];
    snprintf(boltVersion, sizeof(boltVersion), "%u.%u", fields->boltMajor, fields->boltMinor);
    const struct {
        const char *key;
        const char *value;
    } entries[] = {
        {"format", fields->parentId ? ARC_FORMAT_DIFF : LOGICAL_FORMAT_NAME},
        {"backup_id", fields->backupId},
        {"created", fields->createdUtc},
        {"tool", "neo4j-backup"},
        {"tool_version", NBK_VERSION},
        {"source_uri", fields->sourceUri},
        {"server_agent", fields->serverAgent},
        {"server_version", fields->serverVersion},
        {"edition", fields->edition},
        {"bolt_version", boltVersion},
        {"database", fields->database},
        {"parent_id", fields->parentId},
    };
    size_t count = sizeof(entries) / sizeof(entries[0]);
    if (!fields->parentId)
        count--; /* a full's header is as it always was */
    packMapHeader(out, (uint32_t)count);
    for (size_t entryIndex = 0; entryIndex < count; entryIndex++) {
        packString(out, entries[entryIndex].key, strlen(entries[entryIndex].key));
        logicalPackOptionalString(out, entries[entryIndex].value);
    }
}

static void logicalCopyString(char *out, size_t size, const BoltValue *value)
{
    if (value && value->type == BOLT_STRING)
        snprintf(out, size, "%s", value->as.string.data);
}

/* Version, edition and the database's real name, asked before the
 * transaction: a refused query would end it. Missing facts are not fatal. */
static ErrCode logicalReadServerFacts(LogicalRun *run)
{
    LogicalBackupResult *result = run->result;
    BoltQueryOptions options = {.database = run->request->database, .mode = BOLT_ACCESS_READ};
    ErrCode code = neo4jServerVersion(run->connection, result->serverVersion, sizeof(result->serverVersion),
                                      result->edition, sizeof(result->edition));
    if (code != ERR_OK)
        return code;

    arenaReset(run->scratch);
    BoltValue name;
    code = boltQuerySingle(run->connection, "CALL db.info() YIELD name RETURN name", NULL, &options,
                           run->scratch, &name);
    if (code == ERR_OK)
        logicalCopyString(result->database, sizeof(result->database), &name);
    else if (code == NEO4J_QUERY_FAILED)
        code = ERR_OK;
    if (result->database[0] == '\0' && run->request->database)
        snprintf(result->database, sizeof(result->database), "%s", run->request->database);
    return code;
}

/* Schema items are held until all are read: a differential's header
 * depends on whether the schema changed (they are few and small). */
static ErrCode logicalSchemaSink(const BoltValue *item, void *payload)
{
    LogicalRun *run = payload;
    bufferClear(&run->packed);
    packValue(&run->packed, item);
    bufferAppendU32BE(&run->schemaRecords, (uint32_t)run->packed.length);
    bufferAppend(&run->schemaRecords, run->packed.data, run->packed.length);
    run->schemaHashes = memRealloc(run->schemaHashes, (run->schemaCount + 1) * sizeof(uint64_t));
    run->schemaHashes[run->schemaCount++] = diffSchemaItemHash(run->packed.data, run->packed.length);
    run->result->schemaItems++;
    return logicalTick(run);
}

/* Opens the archive once the schema is known, and writes the schema. */
static ErrCode logicalOpenArchive(LogicalRun *run)
{
    const LogicalBackupRequest *request = run->request;
    if (run->diff) {
        run->result->schemaChanged = !diffStateSchemaEquals(run->diff, run->schemaHashes, run->schemaCount);
        if (run->result->schemaChanged && request->fullWhenSchemaChanged)
            run->diff = NULL;
    }
    run->result->differential = run->diff != NULL;
    Buffer header;
    bufferInit(&header);
    LogicalHeaderFields fields = {
        .backupId = request->backupId,
        .createdUtc = request->createdUtc,
        .sourceUri = request->sourceUri,
        .serverAgent = boltServerAgent(run->connection),
        .serverVersion = run->result->serverVersion,
        .edition = run->result->edition[0] ? run->result->edition : NULL,
        .database = run->result->database[0] ? run->result->database : NULL,
        .boltMajor = boltVersionMajor(run->connection),
        .boltMinor = boltVersionMinor(run->connection),
        .parentId = run->diff ? request->parentId : NULL,
    };
    logicalBackupPackHeader(&header, &fields);
    ArcWriterOptions options = {.compression = request->compression, .level = request->compressionLevel};
    ErrCode code = arcWriterOpenAt(&run->writer, &request->archive, &options, header.data, header.length);
    bufferFree(&header);
    size_t offset = 0;
    while (code == ERR_OK && offset < run->schemaRecords.length) {
        const uint8_t *at = run->schemaRecords.data + offset;
        uint32_t length = (uint32_t)at[0] << 24 | (uint32_t)at[1] << 16 | (uint32_t)at[2] << 8 | at[3];
        code = arcWriterAdd(run->writer, ARC_RECORD_SCHEMA, at + 4, length);
        if (code != ERR_OK)
            errAddContext("while writing the archive");
        offset += 4 + (size_t)length;
    }
    return code;
}

static ErrCode logicalWriteDeletion(ArcRecordKind kind, int64_t key, void *payload)
{
    LogicalRun *run = payload;
    bufferClear(&run->packed);
    arcDeletionPack(&run->packed, kind, key);
    ErrCode code = arcWriterAdd(run->writer, ARC_RECORD_DELETION, run->packed.data, run->packed.length);
    if (code != ERR_OK)
        return code;
    if (kind == ARC_RECORD_NODE)
        run->result->deletedNodes++;
    else
        run->result->deletedRelationships++;
    return logicalTick(run);
}

/* ---- the whole run ---------------------------------------------------------------- */

static ErrCode logicalRunSteps(LogicalRun *run)
{
    const LogicalBackupRequest *request = run->request;
    ErrCode code = logicalReadServerFacts(run);
    if (code != ERR_OK)
        return code;

    /* One read transaction for everything, so id() keeps its meaning. */
    BoltQueryOptions txOptions = {
        .database = request->database,
        .mode = BOLT_ACCESS_READ,
        .txTimeoutMs = request->txTimeoutMs,
    };
    code = boltBegin(run->connection, &txOptions);
    if (code != ERR_OK) {
        errAddContext("while starting the read transaction");
        return code;
    }

    logicalEnterPhase(run, LOGICAL_PHASE_SCHEMA);
    code = schemaCapture(run->connection, logicalSchemaSink, run, &run->result->schema);
    if (code == ERR_OK)
        code = logicalOpenArchive(run);
    if (code != ERR_OK)
        return code;

    logicalEnterPhase(run, LOGICAL_PHASE_NODES);
    code = logicalStream(run, logicalNodeQuery, NULL, logicalWriteNode, false);
    if (code != ERR_OK)
        return code;

    logicalEnterPhase(run, LOGICAL_PHASE_RELATIONSHIPS);
    code = logicalStream(run, logicalRelationshipQuery, NULL, logicalHandleRelationshipRow, false);
    if (code != ERR_OK)
        return code;

    logicalEnterPhase(run, LOGICAL_PHASE_LATE_NODES);
    code = logicalFetchLateNodes(run);
    if (code != ERR_OK)
        return code;

    logicalEnterPhase(run, LOGICAL_PHASE_PENDING_RELATIONSHIPS);
    code = logicalWritePending(run);
    if (code == ERR_OK && run->diff)
        code = diffStateForEachDeleted(run->diff, ARC_RECORD_NODE, logicalWriteDeletion, run);
    if (code == ERR_OK && run->diff)
        code = diffStateForEachDeleted(run->diff, ARC_RECORD_RELATIONSHIP, logicalWriteDeletion, run);
    if (code != ERR_OK)
        return code;

    logicalEnterPhase(run, LOGICAL_PHASE_FINISHING);
    code = boltCommit(run->connection);
    if (code != ERR_OK) {
        errAddContext("while ending the read transaction");
        return code;
    }
    if (request->cancelFlag && *request->cancelFlag)
        return errSet(OPERATION_INTERRUPTED, "backup interrupted by a signal before the archive was finished");
    code = arcWriterFinish(run->writer, &run->result->totals);
    if (code != ERR_OK)
        return code;
    if (run->feed) {
        code = fingerprintFeedFinish(run->feed);
        fingerprintFeedFree(run->feed);
        run->feed = NULL;
        if (code != ERR_OK)
            return code;
    }
    if (run->fingerprint)
        return fingerprintHex(run->fingerprint, run->result->fingerprint);
    return ERR_OK;
}

void logicalBackupResultFree(LogicalBackupResult *result)
{
    if (result)
        graphCountsFree(&result->counts);
}

ErrCode logicalBackupRun(const LogicalBackupRequest *request, LogicalBackupResult *out)
{
    memset(out, 0, sizeof(*out));
    bool located = request && (request->archive.storage ? request->archive.name != NULL : request->archive.path != NULL);
    if (!request || !request->connection || !located)
        return errSet(ERR_INTERNAL, "logicalBackupRun needs a connection and an archive location");

    LogicalRun run;
    memset(&run, 0, sizeof(run));
    run.request = request;
    run.result = out;
    run.connection = request->connection;
    run.pending.spillFd = -1;
    run.pendingMemoryLimit = request->pendingMemoryLimit ? request->pendingMemoryLimit
                                                         : LOGICAL_DEFAULT_PENDING_MEMORY;
    run.scratch = arenaNew(0);
    run.fingerprint = request->computeFingerprint ? fingerprintNew() : NULL;
    run.diff = request->parentState;
    ErrCode started = run.fingerprint ? fingerprintFeedStart(&run.feed, run.fingerprint) : ERR_OK;
    bufferInit(&run.schemaRecords);
    bufferInit(&run.packed);
    bufferInit(&run.pending.memory);
    snprintf(run.boltVersion, sizeof(run.boltVersion), "%u.%u", boltVersionMajor(run.connection),
             boltVersionMinor(run.connection));
    run.started = timeMonotonic();
    logicalEnterPhase(&run, LOGICAL_PHASE_STARTING);

    ErrCode code = started == ERR_OK ? logicalRunSteps(&run) : started;
    if (code != ERR_OK && !logicalIsConnectionError(code)) {
        /* Our own failure on a healthy connection: end the transaction, but
         * report the original error, not the rollback's. */
        ErrDetail saved = errSave();
        if (boltRollback(run.connection) != ERR_OK)
            logDebug("rollback after a failed backup also failed: %s", errLast()->reason);
        errSet(code, "%s", saved.reason);
        if (saved.action[0])
            errSetAction("%s", saved.action);
    }
    out->seconds = logicalElapsed(&run);
    if (code == ERR_OK) {
        logicalEnterPhase(&run, LOGICAL_PHASE_DONE);
        logDebug("logical backup: %llu nodes (%llu late), %llu relationships (%llu dropped, %llu excluded), "
                 "node key set %llu bytes, relationship key set %llu bytes, %.1f s",
                 (unsigned long long)out->nodes, (unsigned long long)out->lateNodes,
                 (unsigned long long)out->relationships, (unsigned long long)out->droppedRelationships,
                 (unsigned long long)out->excludedRelationships,
                 (unsigned long long)keySetBytes(&run.nodeKeys),
                 (unsigned long long)keySetBytes(&run.relationshipKeys), out->seconds);
    }
    if (code != ERR_OK)
        graphCountsFree(&out->counts); /* a failed run's counts mean nothing */
    arcWriterFree(run.writer); /* removes the file unless it was finished */
    if (run.pending.spillFd >= 0)
        close(run.pending.spillFd);
    bufferFree(&run.pending.memory);
    bufferFree(&run.packed);
    bufferFree(&run.schemaRecords);
    free(run.schemaHashes);
    keySetFree(&run.nodeKeys);
    keySetFree(&run.relationshipKeys);
    idSetFree(&run.missingKeys);
    idSetFree(&run.excludedKeys);
    fingerprintFeedFree(run.feed); /* stops the worker before the fingerprint goes */
    fingerprintFree(run.fingerprint);
    arenaFree(run.scratch);
    return code;
}
