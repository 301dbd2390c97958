/* Logical restore engine (overview in logical_restore.h, details and
 * measurements in docs/restore.md).
 *
 * Rows travel as parameters, never as query text, so property values keep
 * their exact types (the decoded archive values are passed through as they
 * are). Labels and types go either into the query text, backtick-quoted and
 * grouped per label set / type, or as parameters of 5.26's dynamic labels.
 *
 * Row shapes (lists are cheaper to encode than maps):
 *   node, static      [key, properties]
 *   node, dynamic     [key, labels, properties]
 *   rel, static       [newStartId, newEndId, properties]
 *   rel, dynamic      [newStartId, newEndId, type, properties] */
#include "restore/logical_restore.h"

#include "archive/archive.h"
#include "graph/schema.h"
#include "bolt/packstream.h"
#include "common/buffer.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "graph/fingerprint.h"
#include "graph/records.h"
#include "restore/idmap.h"
#include "restore/restore_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESTORE_DEFAULT_BATCH 10000u
#define RESTORE_DEFAULT_RETRIES 6
#define RESTORE_DEFAULT_AWAIT_SECONDS 300
#define RESTORE_WIPE_BATCH 10000u
/* Static mode keeps one pending batch per label set / type; these bound the
 * rows held back when label sets are many and mixed. */
#define RESTORE_MAX_GROUPS 64u
#define RESTORE_PENDING_BATCHES 4u
#define RESTORE_BACKOFF_FIRST_MS 100
#define RESTORE_BACKOFF_MAX_MS 5000

typedef enum { RESTORE_GROUP_NODES, RESTORE_GROUP_RELATIONSHIPS } RestoreGroupKind;

/* Rows waiting to be sent together: one label set / type in static mode, all
 * rows in dynamic mode. Row values live in the group's arena. */
typedef struct {
    char *fragment;          /* ":`A`:`B`" or ":`TYPE`"; NULL in dynamic mode */
    size_t fragmentLength;
    Arena *arena;
    BoltValue *rows;
    uint32_t count;
    uint32_t capacity;
} RestoreGroup;

typedef struct {
    RestoreGroupKind kind;
    bool dynamic;            /* tokens as parameters: one group for all rows */
    bool mayTurnDynamic;     /* AUTO mode on a 5.26+ server */
    RestoreGroup groups[RESTORE_MAX_GROUPS];
    uint32_t groupCount;
    uint32_t lastUsed;       /* consecutive records usually share a group */
    uint64_t pendingRows;
} RestoreGroupSet;

typedef struct {
    int64_t key;
    int64_t id;
} RestoreNewId;

typedef struct {
    const LogicalRestoreRequest *request;
    LogicalRestoreResult *result;
    BoltConnection *connection;
    BoltQueryOptions writeOptions;
    const char *queryPrefix;   /* "CYPHER 5 " on servers whose default may be Cypher 25 */
    uint32_t nodeBatchSize;
    uint32_t relationshipBatchSize;
    /* Rows per transaction that fit the server's transaction memory limit,
     * learnt from splits; indexed by RestoreGroupKind. */
    uint32_t rowsPerTransaction[2];
    int maxRetries;
    double startTime;

    IdMap *idMap;              /* archive node key -> new id */
    IdMap *metadataKeys;       /* keys of BackupMetadata nodes: outside the fingerprint */
    Fingerprint *fingerprint;
    RestoreGroupSet nodeGroups;
    RestoreGroupSet relationshipGroups;
    Arena *scratch;            /* one decoded record at a time */
    Buffer query;
    Buffer fragment;

    RestoreNewId *newIds;      /* ids returned by the batch in flight */
    size_t newIdCount;
    size_t newIdCapacity;

    /* Relationships met before one of their endpoint nodes was created. */
    Arena *deferredArena;
    BoltValue *deferred;
    size_t deferredCount;
    size_t deferredCapacity;

    BoltValue *schemaItems;    /* values live in result->archive.arena */
    size_t schemaCount;
    size_t schemaCapacity;
    LogicalRestorePhase phase;
} RestoreContext;

static void restoreSleepMs(int milliseconds)
{
    struct timespec delay = {milliseconds / 1000, (long)(milliseconds % 1000) * 1000000L};
    /* Cut short by a signal (EINTR): fine, the caller checks the cancel flag next. */
    nanosleep(&delay, NULL);
}

static void *restoreGrow(void *array, size_t *capacity, size_t needed, size_t itemSize)
{
    if (needed <= *capacity)
        return array;
    size_t grown = *capacity ? *capacity : 64;
    while (grown < needed)
        grown *= 2;
    void *moved = memReallocArray(array, grown, itemSize);
    *capacity = grown;
    return moved;
}

static bool restoreCancelled(const RestoreContext *context)
{
    return context->request->cancelFlag && *context->request->cancelFlag;
}

static ErrCode restoreInterrupted(void)
{
    return errSet(OPERATION_INTERRUPTED, "restore interrupted by a signal; the target holds a partial graph");
}

static void restoreReportProgress(RestoreContext *context)
{
    if (!context->request->progress)
        return;
    LogicalRestoreProgress progress = {
        .phase = context->phase,
        .nodesDone = context->result->nodes,
        .relationshipsDone = context->result->relationships,
        .schemaDone = context->result->schemaItems,
        .nodesExpected = context->request->expectedNodes,
        .relationshipsExpected = context->request->expectedRelationships,
        .elapsedSeconds = timeMonotonic() - context->startTime,
    };
    context->request->progress(&progress, context->request->progressPayload);
}

/* ---- server capabilities and plain statements ---------------------------- */

typedef struct {
    RestoreServerVersion version;
    bool known;
    const char *prefix;
    bool callScope;            /* CALL (x) { ... } (5.23+) instead of CALL { WITH x ... } */
    bool dynamicTokens;        /* CREATE (n:$(...)) (5.26+) */
} RestoreServerTraits;

static RestoreServerTraits restoreServerTraits(BoltConnection *connection)
{
    RestoreServerTraits traits = {{0, 0, 0}, false, "", false, false};
    traits.known = restoreParseServerAgent(boltServerAgent(connection), &traits.version);
    if (!traits.known)
        return traits;
    /* 2025.06+ may default to Cypher 25, where some 5.x statements (index
     * providers in OPTIONS) are gone: pin the language the archive came from. */
    traits.prefix = restoreCypherPrefix(boltServerAgent(connection));
    traits.callScope = restoreVersionAtLeast(&traits.version, 5, 23);
    traits.dynamicTokens = restoreVersionAtLeast(&traits.version, 5, 26);
    return traits;
}

/* Runs a statement and drops its result. */
static ErrCode restoreExecute(BoltConnection *connection, const char *query, const BoltValue *params,
                              const BoltQueryOptions *options)
{
    ErrCode code = boltRun(connection, query, params, options);
    if (code != ERR_OK)
        return code;
    const BoltValue *record = NULL;
    do {
        code = boltFetch(connection, &record);
    } while (code == ERR_OK && record);
    return code;
}

/* Runs a query and copies the string in column 0 of every row into arena. */
static ErrCode restoreCollectStrings(BoltConnection *connection, const char *query,
                                     const BoltQueryOptions *options, Arena *arena, char ***out,
                                     size_t *count)
{
    *out = NULL;
    *count = 0;
    size_t capacity = 0;
    ErrCode code = boltRun(connection, query, NULL, options);
    if (code != ERR_OK)
        return code;
    for (;;) {
        const BoltValue *record = NULL;
        code = boltFetch(connection, &record);
        if (code != ERR_OK || !record)
            return code;
        const BoltValue *column = &record->as.list.items[0];
        if (record->as.list.count < 1 || column->type != BOLT_STRING)
            continue;
        char **grown = restoreGrow(*out, &capacity, *count + 1, sizeof(char *));
        *out = grown;
        (*out)[(*count)++] = arenaStrndup(arena, column->as.string.data, column->as.string.length);
    }
}

ErrCode restoreWipeTarget(BoltConnection *connection, const char *database)
{
    RestoreServerTraits traits = restoreServerTraits(connection);
    BoltQueryOptions options = {.database = database, .mode = BOLT_ACCESS_WRITE, .fetchSize = -1};
    Arena *arena = arenaNew(0);
    Buffer statement;
    bufferInit(&statement);
    char **names = NULL;
    size_t nameCount = 0;
    ErrCode code = ERR_OK;

    /* Schema first: deleting is faster without index maintenance. Dropping
     * a constraint drops its owned index, so constraints go before indexes. */
    static const struct {
        const char *list;
        const char *drop;
    } schemaKinds[] = {
        {"SHOW CONSTRAINTS YIELD name RETURN name", "DROP CONSTRAINT "},
        {"SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name", "DROP INDEX "},
    };
    for (size_t kindIndex = 0; kindIndex < 2 && code == ERR_OK; kindIndex++) {
        bufferClear(&statement);
        bufferAppendF(&statement, "%s%s", traits.prefix, schemaKinds[kindIndex].list);
        bufferAppendByte(&statement, 0);
        free(names);
        code = restoreCollectStrings(connection, (const char *)statement.data, &options, arena, &names,
                                     &nameCount);
        for (size_t nameIndex = 0; code == ERR_OK && nameIndex < nameCount; nameIndex++) {
            bufferClear(&statement);
            bufferAppendF(&statement, "%s%s", traits.prefix, schemaKinds[kindIndex].drop);
            restoreQuoteName(&statement, names[nameIndex], strlen(names[nameIndex]));
            bufferAppendF(&statement, " IF EXISTS");
            bufferAppendByte(&statement, 0);
            code = restoreExecute(connection, (const char *)statement.data, NULL, &options);
            if (code == ERR_OK)
                logDebug("restore: wipe: %s", (const char *)statement.data);
        }
    }

    /* Relationships before nodes: DETACH DELETE of a dense node would put
     * all its relationships into one inner transaction. Committed inner
     * transactions stay committed, so a failed statement is simply run again:
     * with smaller inner transactions when the server's transaction memory
     * limit was hit, after a backoff for other transient errors. */
    static const char *const deletions[2][2] = {
        {"MATCH ()-[r]->() CALL (r) { DELETE r }", "MATCH ()-[r]->() CALL { WITH r DELETE r }"},
        {"MATCH (n) CALL (n) { DETACH DELETE n }", "MATCH (n) CALL { WITH n DETACH DELETE n }"},
    };
    unsigned rowsPerTransaction = RESTORE_WIPE_BATCH;
    int attempt = 0;
    for (size_t deletion = 0; deletion < 2 && code == ERR_OK;) {
        bufferClear(&statement);
        bufferAppendF(&statement, "%s%s IN TRANSACTIONS OF %u ROWS", traits.prefix,
                      deletions[deletion][traits.callScope ? 0 : 1], rowsPerTransaction);
        bufferAppendByte(&statement, 0);
        code = restoreExecute(connection, (const char *)statement.data, NULL, &options);
        if (code == ERR_OK) {
            deletion++;
            continue;
        }
        if (code != NEO4J_QUERY_FAILED || attempt >= RESTORE_DEFAULT_RETRIES)
            break;
        const char *serverCode = errLast()->serverCode;
        if (restoreIsMemoryLimitCode(serverCode) && rowsPerTransaction > 10) {
            rowsPerTransaction /= 10;
            logDebug("restore: wipe over the transaction memory limit, %u rows per transaction now",
                     rowsPerTransaction);
        } else if (restoreIsTransientCode(serverCode)) {
            restoreSleepMs(RESTORE_BACKOFF_FIRST_MS << attempt);
            attempt++;
        } else {
            break;
        }
        code = ERR_OK;
    }
    if (code != ERR_OK)
        errAddContext("while emptying the target database");
    free(names);
    bufferFree(&statement);
    arenaFree(arena);
    return code;
}

/* ---- groups ------------------------------------------------------------- */

static void restoreGroupSetFree(RestoreGroupSet *set)
{
    for (uint32_t index = 0; index < set->groupCount; index++) {
        free(set->groups[index].fragment);
        free(set->groups[index].rows);
        arenaFree(set->groups[index].arena);
    }
    set->groupCount = 0;
}

static bool restoreFragmentIs(const RestoreGroup *group, const char *fragment, size_t length)
{
    return group->fragmentLength == length && (length == 0 || memcmp(group->fragment, fragment, length) == 0);
}

/* Group for fragment (static) or the single group (dynamic); NULL when all
 * RESTORE_MAX_GROUPS are taken by other label sets. */
static RestoreGroup *restoreGroupFind(RestoreGroupSet *set, const char *fragment, size_t length)
{
    if (set->dynamic) {
        if (set->groupCount == 0) {
            set->groupCount = 1;
            memset(&set->groups[0], 0, sizeof(set->groups[0]));
            set->groups[0].arena = arenaNew(1024 * 1024);
        }
        return &set->groups[0];
    }
    if (set->lastUsed < set->groupCount) {
        RestoreGroup *last = &set->groups[set->lastUsed];
        if (restoreFragmentIs(last, fragment, length))
            return last;
    }
    for (uint32_t index = 0; index < set->groupCount; index++) {
        RestoreGroup *group = &set->groups[index];
        if (restoreFragmentIs(group, fragment, length)) {
            set->lastUsed = index;
            return group;
        }
    }
    if (set->groupCount == RESTORE_MAX_GROUPS)
        return NULL;
    RestoreGroup *group = &set->groups[set->groupCount];
    memset(group, 0, sizeof(*group));
    group->fragment = memAlloc(length + 1);
    if (length) /* the empty label set has no bytes at all */
        memcpy(group->fragment, fragment, length);
    group->fragment[length] = '\0';
    group->fragmentLength = length;
    group->arena = arenaNew(256 * 1024);
    set->lastUsed = set->groupCount++;
    return group;
}

static BoltValue *restoreGroupAddRow(RestoreGroupSet *set, RestoreGroup *group, uint32_t fieldCount)
{
    size_t capacity = group->capacity;
    BoltValue *rows = restoreGrow(group->rows, &capacity, (size_t)group->count + 1, sizeof(BoltValue));
    group->rows = rows;
    group->capacity = (uint32_t)capacity;
    BoltValue *row = &group->rows[group->count++];
    *row = boltList(group->arena, fieldCount);
    set->pendingRows++;
    return row->as.list.items;
}

/* ---- sending batches ------------------------------------------------------ */

static void restoreBuildQuery(RestoreContext *context, const RestoreGroupSet *set, const RestoreGroup *group)
{
    RestoreGroupKind kind = set->kind;
    Buffer *query = &context->query;
    bufferClear(query);
    bufferAppendF(query, "%s", context->queryPrefix);
    if (kind == RESTORE_GROUP_NODES) {
        if (set->dynamic) {
            bufferAppendF(query, "UNWIND $rows AS row CREATE (n:$(row[1])) SET n = row[2] "
                                 "RETURN row[0], id(n)");
        } else {
            bufferAppendF(query, "UNWIND $rows AS row CREATE (n");
            bufferAppend(query, group->fragment, group->fragmentLength);
            bufferAppendF(query, ") SET n = row[1] RETURN row[0], id(n)");
        }
    } else {
        bufferAppendF(query, "UNWIND $rows AS row MATCH (a) WHERE id(a) = row[0] "
                             "MATCH (b) WHERE id(b) = row[1] ");
        if (set->dynamic) {
            bufferAppendF(query, "CREATE (a)-[r:$(row[2])]->(b) SET r = row[3] RETURN count(r)");
        } else {
            bufferAppendF(query, "CREATE (a)-[r");
            bufferAppend(query, group->fragment, group->fragmentLength);
            bufferAppendF(query, "]->(b) SET r = row[2] RETURN count(r)");
        }
    }
    bufferAppendByte(query, 0);
}

/* One attempt: RUN + PULL all, collecting node ids or the created count. */
static ErrCode restoreSendOnce(RestoreContext *context, RestoreGroupKind kind, const BoltValue *rows,
                               int64_t *createdOut)
{
    BoltMapEntry entry;
    entry.key.type = BOLT_STRING;
    entry.key.as.string.data = "rows";
    entry.key.as.string.length = 4;
    entry.value = *rows;
    BoltValue params;
    params.type = BOLT_MAP;
    params.as.map.entries = &entry;
    params.as.map.count = 1;

    context->newIdCount = 0;
    *createdOut = 0;
    ErrCode code = boltRun(context->connection, (const char *)context->query.data, &params,
                           &context->writeOptions);
    if (code != ERR_OK)
        return code;
    for (;;) {
        const BoltValue *record = NULL;
        code = boltFetch(context->connection, &record);
        if (code != ERR_OK)
            return code;
        if (!record)
            return ERR_OK;
        const BoltValue *fields = record->as.list.items;
        if (kind == RESTORE_GROUP_NODES) {
            if (record->as.list.count != 2 || fields[0].type != BOLT_INT || fields[1].type != BOLT_INT) {
                boltDiscard(context->connection);
                return errSet(NEO4J_PROTOCOL_ERROR, "node batch returned an unexpected row");
            }
            RestoreNewId *grown = restoreGrow(context->newIds, &context->newIdCapacity,
                                              context->newIdCount + 1, sizeof(RestoreNewId));
            context->newIds = grown;
            context->newIds[context->newIdCount].key = fields[0].as.integer;
            context->newIds[context->newIdCount].id = fields[1].as.integer;
            context->newIdCount++;
            (*createdOut)++;
        } else if (record->as.list.count == 1 && fields[0].type == BOLT_INT) {
            *createdOut = fields[0].as.integer;
        }
    }
}

/* Records the ids of a committed node batch. */
static ErrCode restoreCommitNewIds(RestoreContext *context)
{
    for (size_t index = 0; index < context->newIdCount; index++) {
        const RestoreNewId *pair = &context->newIds[index];
        IdMapPutResult put = idMapPut(context->idMap, pair->key, pair->id);
        if (put == IDMAP_DUPLICATE)
            return errSet(BACKUP_CORRUPTED, "node key %lld appears twice in the archive",
                          (long long)pair->key);
        if (put == IDMAP_NO_MEMORY) {
            char cause[sizeof(errLast()->reason)]; /* errSet rewrites errLast() */
            snprintf(cause, sizeof(cause), "%s", errLast()->reason);
            return errSet(RESTORE_FAILED, "no room for the node id map at %llu nodes: %s",
                          (unsigned long long)idMapCount(context->idMap), cause);
        }
    }
    return ERR_OK;
}

static ErrCode restoreSendRows(RestoreContext *context, RestoreGroupKind kind, BoltValue *items,
                               uint32_t count);

/* Sends rows in transactions of at most the learnt size. */
static ErrCode restoreSendChunked(RestoreContext *context, RestoreGroupKind kind, BoltValue *items,
                                  uint32_t count)
{
    uint32_t sent = 0;
    while (sent < count) {
        uint32_t limit = context->rowsPerTransaction[kind];
        uint32_t chunk = count - sent < limit ? count - sent : limit;
        ErrCode code = restoreSendRows(context, kind, items + sent, chunk);
        if (code != ERR_OK)
            return code;
        sent += chunk;
    }
    return ERR_OK;
}

/* Sends rows (a sub-range of a group) as one transaction, with retries;
 * halves the batch, and remembers the smaller size, on memory limits. */
static ErrCode restoreSendRows(RestoreContext *context, RestoreGroupKind kind, BoltValue *items,
                               uint32_t count)
{
    BoltValue rows;
    rows.type = BOLT_LIST;
    rows.as.list.items = items;
    rows.as.list.count = count;
    int backoffMs = RESTORE_BACKOFF_FIRST_MS;
    for (int attempt = 0;; attempt++) {
        if (restoreCancelled(context))
            return restoreInterrupted();
        int64_t created = 0;
        ErrCode code = restoreSendOnce(context, kind, &rows, &created);
        if (code == ERR_OK) {
            context->result->batches++;
            if (created != (int64_t)count)
                return errSet(RESTORE_FAILED, "a batch of %u %s created %lld%s", count,
                              kind == RESTORE_GROUP_NODES ? "nodes" : "relationships", (long long)created,
                              kind == RESTORE_GROUP_NODES ? ""
                                                          : " (endpoint nodes missing in the target: was it "
                                                            "written to during the restore?)");
            if (kind == RESTORE_GROUP_NODES) {
                code = restoreCommitNewIds(context);
                if (code != ERR_OK)
                    return code;
                context->result->nodes += count;
            } else {
                context->result->relationships += count;
            }
            return ERR_OK;
        }
        if (code != NEO4J_QUERY_FAILED)
            return code;
        const char *serverCode = errLast()->serverCode;
        if (restoreIsMemoryLimitCode(serverCode) && count > 1) {
            uint32_t half = (count + 1) / 2;
            if (half < context->rowsPerTransaction[kind])
                context->rowsPerTransaction[kind] = half;
            logDebug("restore: batch of %u rows over the server's transaction memory limit, "
                     "%u rows per transaction from now on", count, context->rowsPerTransaction[kind]);
            context->result->memorySplits++;
            return restoreSendChunked(context, kind, items, count);
        }
        if (!restoreIsTransientCode(serverCode) || attempt >= context->maxRetries) {
            ErrDetail detail = errSave();
            return errSet(RESTORE_FAILED, "the target refused a batch of %u %s (%s): %s", count,
                          kind == RESTORE_GROUP_NODES ? "nodes" : "relationships",
                          detail.serverCode[0] ? detail.serverCode : "no server code", detail.reason);
        }
        logWarn("restore: transient error %s, retrying the batch in %d ms", serverCode, backoffMs);
        context->result->retries++;
        restoreSleepMs(backoffMs);
        backoffMs = backoffMs * 2 > RESTORE_BACKOFF_MAX_MS ? RESTORE_BACKOFF_MAX_MS : backoffMs * 2;
    }
}

static ErrCode restoreFlushGroup(RestoreContext *context, RestoreGroupSet *set, RestoreGroup *group)
{
    if (group->count == 0)
        return ERR_OK;
    restoreBuildQuery(context, set, group);
    ErrCode code = restoreSendChunked(context, set->kind, group->rows, group->count);
    set->pendingRows -= group->count;
    group->count = 0;
    arenaReset(group->arena);
    if (code == ERR_OK)
        restoreReportProgress(context);
    return code;
}

static ErrCode restoreFlushAll(RestoreContext *context, RestoreGroupSet *set)
{
    for (uint32_t index = 0; index < set->groupCount; index++) {
        ErrCode code = restoreFlushGroup(context, set, &set->groups[index]);
        if (code != ERR_OK)
            return code;
    }
    /* Label sets come and go: start over so a new set finds a free slot. */
    if (!set->dynamic)
        restoreGroupSetFree(set);
    return ERR_OK;
}

/* The group a row goes to. When every group slot is taken by a different
 * label set / type, all are sent; in AUTO mode the set then turns dynamic,
 * since that many token sets would make static batches small and cost one
 * query compilation each. */
static ErrCode restoreGroupFor(RestoreContext *context, RestoreGroupSet *set, RestoreGroup **out)
{
    for (;;) {
        *out = restoreGroupFind(set, (const char *)context->fragment.data, context->fragment.length);
        if (*out)
            return ERR_OK;
        ErrCode code = restoreFlushAll(context, set);
        if (code != ERR_OK)
            return code;
        if (set->mayTurnDynamic && !set->dynamic) {
            logDebug("restore: more than %u %s at once, switching to dynamic tokens", RESTORE_MAX_GROUPS,
                     set->kind == RESTORE_GROUP_NODES ? "label sets" : "relationship types");
            set->dynamic = true;
            return ERR_OK; /* the caller rebuilds its row for the dynamic shape */
        }
    }
}

/* After adding a row: send the group when full, everything when too much is
 * held back across groups. */
static ErrCode restoreAfterAdd(RestoreContext *context, RestoreGroupSet *set, RestoreGroup *group,
                               uint32_t batchSize)
{
    if (group->count >= batchSize)
        return restoreFlushGroup(context, set, group);
    if (set->pendingRows >= (uint64_t)batchSize * RESTORE_PENDING_BATCHES)
        return restoreFlushAll(context, set);
    return ERR_OK;
}

/* ---- records ------------------------------------------------------------- */

static bool restoreHasMetadataLabel(const BoltValue *labels)
{
    for (uint32_t index = 0; index < labels->as.list.count; index++) {
        const BoltValue *label = &labels->as.list.items[index];
        if (label->as.string.length == strlen(HEALTH_METADATA_LABEL) &&
            memcmp(label->as.string.data, HEALTH_METADATA_LABEL, label->as.string.length) == 0)
            return true;
    }
    return false;
}

static ErrCode restoreAddNode(RestoreContext *context, const BoltValue *record)
{
    GraphNode node;
    ErrCode code = graphNodeFromValue(record, &node);
    if (code != ERR_OK)
        return code;
    context->result->archive.nodes++;
    if (restoreHasMetadataLabel(node.labels)) {
        context->result->archive.metadataNodes++;
        if (idMapPut(context->metadataKeys, node.key, 0) == IDMAP_NO_MEMORY)
            return errSet(RESTORE_FAILED, "out of memory recording BackupMetadata nodes");
    } else {
        code = fingerprintAddNode(context->fingerprint, node.key, node.labels, node.properties);
        if (code != ERR_OK)
            return code;
        graphCountsAddNode(&context->result->archive.counts, node.labels);
    }

    RestoreGroupSet *set = &context->nodeGroups;
    RestoreGroup *group = NULL;
    do {
        bufferClear(&context->fragment);
        if (!set->dynamic)
            restoreAppendLabels(&context->fragment, node.labels);
        code = restoreGroupFor(context, set, &group);
        if (code != ERR_OK)
            return code;
    } while (!group);
    BoltValue *fields = restoreGroupAddRow(set, group, set->dynamic ? 3 : 2);
    fields[0] = boltInt(node.key);
    if (set->dynamic) {
        fields[1] = boltValueCopy(group->arena, node.labels);
        fields[2] = boltValueCopy(group->arena, node.properties);
    } else {
        fields[1] = boltValueCopy(group->arena, node.properties);
    }
    return restoreAfterAdd(context, set, group, context->nodeBatchSize);
}

/* Queues a relationship whose endpoints have new ids; false when one is
 * missing (not created yet, or not in the archive at all). */
static ErrCode restoreQueueRelationship(RestoreContext *context, const GraphRelationship *relationship,
                                        bool *queued)
{
    int64_t startId = 0;
    int64_t endId = 0;
    *queued = false;
    if (!idMapGet(context->idMap, relationship->startKey, &startId) ||
        !idMapGet(context->idMap, relationship->endKey, &endId))
        return idMapFailed(context->idMap) ? RESTORE_FAILED : ERR_OK; /* errLast() has the cause */
    *queued = true;
    if (!idMapGet(context->metadataKeys, relationship->startKey, NULL) &&
        !idMapGet(context->metadataKeys, relationship->endKey, NULL)) {
        ErrCode code = fingerprintAddRelationship(context->fingerprint, relationship->startKey,
                                                  relationship->endKey, relationship->type,
                                                  relationship->typeLength, relationship->properties);
        if (code != ERR_OK)
            return code;
        graphCountsAddRelationship(&context->result->archive.counts, relationship->type,
                                   relationship->typeLength);
    }

    RestoreGroupSet *set = &context->relationshipGroups;
    RestoreGroup *group = NULL;
    do {
        bufferClear(&context->fragment);
        if (!set->dynamic) {
            bufferAppendByte(&context->fragment, ':');
            restoreQuoteName(&context->fragment, relationship->type, relationship->typeLength);
        }
        ErrCode code = restoreGroupFor(context, set, &group);
        if (code != ERR_OK)
            return code;
    } while (!group);
    BoltValue *fields = restoreGroupAddRow(set, group, set->dynamic ? 4 : 3);
    fields[0] = boltInt(startId);
    fields[1] = boltInt(endId);
    if (set->dynamic) {
        fields[2] = boltStringN(group->arena, relationship->type, relationship->typeLength);
        fields[3] = boltValueCopy(group->arena, relationship->properties);
    } else {
        fields[2] = boltValueCopy(group->arena, relationship->properties);
    }
    return restoreAfterAdd(context, set, group, context->relationshipBatchSize);
}

static ErrCode restoreAddRelationship(RestoreContext *context, const BoltValue *record)
{
    GraphRelationship relationship;
    ErrCode code = graphRelationshipFromValue(record, &relationship);
    if (code != ERR_OK)
        return code;
    context->result->archive.relationships++;
    if (context->phase == RESTORE_PHASE_NODES) {
        /* Nodes still queued must exist before relationships can find them. */
        code = restoreFlushAll(context, &context->nodeGroups);
        if (code != ERR_OK)
            return code;
        double now = timeMonotonic();
        context->result->nodeSeconds = now - context->startTime - context->result->wipeSeconds;
        context->phase = RESTORE_PHASE_RELATIONSHIPS;
    }
    bool queued = false;
    code = restoreQueueRelationship(context, &relationship, &queued);
    if (code != ERR_OK || queued)
        return code;
    /* An endpoint not seen yet: keep the record for the end of the archive. */
    BoltValue *grown = restoreGrow(context->deferred, &context->deferredCapacity,
                                   context->deferredCount + 1, sizeof(BoltValue));
    context->deferred = grown;
    context->deferred[context->deferredCount++] = boltValueCopy(context->deferredArena, record);
    return ERR_OK;
}

static ErrCode restoreAddSchema(RestoreContext *context, const uint8_t *packed, size_t length)
{
    PackReader reader;
    packReaderInit(&reader, packed, length);
    packReaderLimitDecoded(&reader, ARC_RECORD_DECODED_MAX);
    BoltValue item;
    ErrCode code = unpackValue(&reader, context->result->archive.arena, &item);
    if (code != ERR_OK)
        return errSet(BACKUP_CORRUPTED, "schema record does not decode: %s", errLast()->reason);
    /* Build the statement now, so that an item that cannot be rebuilt
     * refuses the restore before any schema is sent. */
    SchemaItem view;
    code = schemaItemFromValue(&item, &view);
    if (code == ERR_OK) {
        Buffer statement;
        bufferInit(&statement);
        code = schemaBuildStatement(&view, &statement);
        bufferFree(&statement);
    }
    if (code != ERR_OK)
        return code;
    BoltValue *grown = restoreGrow(context->schemaItems, &context->schemaCapacity,
                                   context->schemaCount + 1, sizeof(BoltValue));
    context->schemaItems = grown;
    context->schemaItems[context->schemaCount++] = item;
    return ERR_OK;
}

static ErrCode restoreFinishDeferred(RestoreContext *context)
{
    ErrCode code = restoreFlushAll(context, &context->nodeGroups);
    for (size_t index = 0; code == ERR_OK && index < context->deferredCount; index++) {
        GraphRelationship relationship;
        code = graphRelationshipFromValue(&context->deferred[index], &relationship);
        if (code != ERR_OK)
            break;
        bool queued = false;
        code = restoreQueueRelationship(context, &relationship, &queued);
        if (code == ERR_OK && !queued) {
            context->result->orphanRelationships++;
            logDebug("restore: relationship %lld (%lld)-[:%.*s]->(%lld) has an endpoint outside the "
                     "archive; skipped",
                     (long long)relationship.key, (long long)relationship.startKey,
                     (int)relationship.typeLength, relationship.type, (long long)relationship.endKey);
        }
    }
    if (code == ERR_OK)
        code = restoreFlushAll(context, &context->relationshipGroups);
    return code;
}

/* ---- schema --------------------------------------------------------------- */

static bool restoreStringIs(const BoltValue *value, const char *text)
{
    return value && value->type == BOLT_STRING && value->as.string.length == strlen(text) &&
           memcmp(value->as.string.data, text, value->as.string.length) == 0;
}

static ErrCode restoreSchemaStatement(RestoreContext *context, const BoltValue *value)
{
    /* Rebuilt from the item's fields: the stored createStatement is Cypher
     * from the archive, and an archive is not trusted to choose what runs. */
    SchemaItem item;
    ErrCode built = schemaItemFromValue(value, &item);
    Buffer statementText;
    bufferInit(&statementText);
    if (built == ERR_OK)
        built = schemaBuildStatement(&item, &statementText);
    if (built != ERR_OK) {
        bufferFree(&statementText);
        return built;
    }
    bufferClear(&context->query);
    bufferAppendF(&context->query, "%s", context->queryPrefix);
    bufferAppend(&context->query, statementText.data, statementText.length);
    bufferAppendByte(&context->query, 0);
    bufferFree(&statementText);
    const char *statement = (const char *)context->query.data + strlen(context->queryPrefix);
    BoltQueryOptions options = context->writeOptions;
    for (int attempt = 0;; attempt++) {
        ErrCode code = restoreExecute(context->connection, (const char *)context->query.data, NULL, &options);
        if (code == ERR_OK) {
            logDebug("restore: %s", (const char *)context->query.data);
            return ERR_OK;
        }
        if (code != NEO4J_QUERY_FAILED)
            return code;
        const char *serverCode = errLast()->serverCode;
        if (strstr(serverCode, "AlreadyExists")) {
            logDebug("restore: schema item already present: %s", errLast()->reason);
            return ERR_OK;
        }
        if (!restoreIsTransientCode(serverCode) || attempt >= context->maxRetries) {
            ErrDetail detail = errSave();
            return errSet(RESTORE_FAILED, "the target refused %s: %s", statement, detail.reason);
        }
        context->result->retries++;
        restoreSleepMs(RESTORE_BACKOFF_FIRST_MS << (attempt < 5 ? attempt : 5));
    }
}

/* The backup's schema item named name (length bytes), or NULL. */
static const BoltValue *restoreFindSchemaItem(const RestoreContext *context, const char *name, size_t length)
{
    for (size_t index = 0; index < context->schemaCount; index++) {
        const BoltValue *itemName = boltMapGet(&context->schemaItems[index], "name");
        if (itemName && itemName->type == BOLT_STRING && itemName->as.string.length == length &&
            memcmp(itemName->as.string.data, name, length) == 0)
            return &context->schemaItems[index];
    }
    return NULL;
}

typedef struct {
    uint32_t populating; /* neither ONLINE nor FAILED */
    uint32_t failed;
    uint32_t failedAsInSource;
    char firstPopulating[256];
    char firstFailure[768];  /* "`name`: reason" of the first index failed only here */
} RestoreIndexStates;

/* One look at the target's indexes (SHOW INDEXES): counts them by state; with
 * report set, warns about each index that FAILED as it did in the source. */
static ErrCode restoreReadIndexStates(RestoreContext *context, bool report, RestoreIndexStates *out)
{
    memset(out, 0, sizeof(*out));
    bufferClear(&context->query);
    bufferAppendF(&context->query, "%sSHOW INDEXES YIELD name, state, failureMessage", context->queryPrefix);
    bufferAppendByte(&context->query, 0);
    ErrCode code = boltRun(context->connection, (const char *)context->query.data, NULL, &context->writeOptions);
    if (code != ERR_OK)
        return code;
    int64_t columns[3] = {-1, -1, -1};
    static const char *const names[] = {"name", "state", "failureMessage"};
    for (uint32_t field = 0; field < boltFieldCount(context->connection); field++) {
        for (int column = 0; column < 3; column++) {
            if (strcmp(boltFieldName(context->connection, field), names[column]) == 0)
                columns[column] = field;
        }
    }
    for (;;) {
        const BoltValue *row = NULL;
        code = boltFetch(context->connection, &row);
        if (code != ERR_OK || !row)
            return code;
        const BoltValue *cells[3] = {NULL, NULL, NULL};
        for (int column = 0; column < 3; column++) {
            if (columns[column] >= 0 && (uint32_t)columns[column] < row->as.list.count &&
                row->as.list.items[columns[column]].type == BOLT_STRING)
                cells[column] = &row->as.list.items[columns[column]];
        }
        if (!cells[0])
            continue;
        const char *name = cells[0]->as.string.data;
        const char *reason = cells[2] && cells[2]->as.string.length ? cells[2]->as.string.data : "no reason given";
        int reasonLength = cells[2] && cells[2]->as.string.length ? (int)schemaFirstLineLength(cells[2]) : 15;
        if (restoreStringIs(cells[1], "ONLINE"))
            continue;
        if (!restoreStringIs(cells[1], "FAILED")) {
            if (out->populating++ == 0)
                snprintf(out->firstPopulating, sizeof(out->firstPopulating), "`%.200s` (%s)", name,
                         cells[1] ? cells[1]->as.string.data : "state unknown");
            continue;
        }
        out->failed++;
        const BoltValue *item = restoreFindSchemaItem(context, name, cells[0]->as.string.length);
        if (item && restoreStringIs(boltMapGet(item, "state"), "FAILED")) {
            out->failedAsInSource++;
            if (report) {
                const char *sourceReason = boltMapGetString(item, "failureMessage", "no reason recorded");
                logWarn("Index `%s` FAILED on the target as it had in the source; it stays FAILED. "
                        "Target: %.*s. Source: %.300s", name, reasonLength < 400 ? reasonLength : 400, reason,
                        sourceReason);
            }
        } else if (out->failed - out->failedAsInSource == 1) {
            snprintf(out->firstFailure, sizeof(out->firstFailure), "`%.200s`: %.*s", name,
                     reasonLength < 500 ? reasonLength : 500, reason);
        }
    }
}

/* Waits until every index of the target is ONLINE or FAILED, polling SHOW
 * INDEXES (db.awaitIndexes cannot tell a failed index from a slow one). An
 * index that FAILED here and FAILED in the source too is a warning; one that
 * was ONLINE in the source (or is not in the backup) and FAILED, or one still
 * populating after awaitSeconds, fails the restore. */
static ErrCode restoreAwaitIndexes(RestoreContext *context, int awaitSeconds)
{
    double deadline = timeMonotonic() + awaitSeconds;
    int pauseMs = 20;
    RestoreIndexStates states;
    for (;;) {
        ErrCode code = restoreReadIndexStates(context, false, &states);
        if (code != ERR_OK) {
            errAddContext("while waiting for the indexes");
            return code;
        }
        /* A failure of its own fails the restore now; else wait for the rest. */
        if (states.failed > states.failedAsInSource || states.populating == 0 || timeMonotonic() >= deadline)
            break;
        if (restoreCancelled(context))
            return restoreInterrupted();
        restoreSleepMs(pauseMs);
        pauseMs = pauseMs < 500 ? pauseMs * 2 : 1000;
    }
    if (states.failed > states.failedAsInSource)
        return errSet(RESTORE_FAILED, "index %s FAILED on the target, and had not failed in the source%s",
                      states.firstFailure,
                      states.failed - states.failedAsInSource > 1 ? " (and other indexes failed too)" : "");
    if (states.populating)
        return errSet(RESTORE_FAILED, "index %s did not come online within %d s (%u index%s still populating)",
                      states.firstPopulating, awaitSeconds, states.populating,
                      states.populating == 1 ? "" : "es");
    if (states.failedAsInSource) {
        ErrCode code = restoreReadIndexStates(context, true, &states);
        if (code != ERR_OK)
            return code;
        context->result->indexesFailedAsInSource = states.failedAsInSource;
    }
    return ERR_OK;
}

static ErrCode restoreSchema(RestoreContext *context)
{
    context->phase = RESTORE_PHASE_SCHEMA;
    ErrCode code = ERR_OK;
    /* Constraints first: they create their own indexes. */
    for (size_t index = 0; code == ERR_OK && index < context->schemaCount; index++) {
        const BoltValue *item = &context->schemaItems[index];
        if (!restoreStringIs(boltMapGet(item, "kind"), "constraint"))
            continue;
        code = restoreSchemaStatement(context, item);
        if (code == ERR_OK)
            context->result->schemaItems++;
    }
    if (code != ERR_OK)
        return code;

    /* The target keeps its LOOKUP indexes through the wipe; creating another
     * one for the same entity type would fail. */
    bool hasNodeLookup = false;
    bool hasRelationshipLookup = false;
    Buffer listQuery;
    bufferInit(&listQuery);
    bufferAppendF(&listQuery, "%sSHOW INDEXES YIELD type, entityType WHERE type = 'LOOKUP' "
                              "RETURN entityType", context->queryPrefix);
    bufferAppendByte(&listQuery, 0);
    code = boltRun(context->connection, (const char *)listQuery.data, NULL, &context->writeOptions);
    bufferFree(&listQuery);
    while (code == ERR_OK) {
        const BoltValue *record = NULL;
        code = boltFetch(context->connection, &record);
        if (code != ERR_OK || !record)
            break;
        if (restoreStringIs(&record->as.list.items[0], "NODE"))
            hasNodeLookup = true;
        else if (restoreStringIs(&record->as.list.items[0], "RELATIONSHIP"))
            hasRelationshipLookup = true;
    }
    for (size_t index = 0; code == ERR_OK && index < context->schemaCount; index++) {
        const BoltValue *item = &context->schemaItems[index];
        if (!restoreStringIs(boltMapGet(item, "kind"), "index"))
            continue;
        const BoltValue *owner = boltMapGet(item, "owningConstraint");
        if (owner && owner->type != BOLT_NULL)
            continue;
        if (restoreStringIs(boltMapGet(item, "type"), "LOOKUP")) {
            const BoltValue *entityType = boltMapGet(item, "entityType");
            bool relationshipLookup = restoreStringIs(entityType, "RELATIONSHIP");
            if (relationshipLookup ? hasRelationshipLookup : hasNodeLookup) {
                context->result->schemaItems++;
                continue;
            }
        }
        code = restoreSchemaStatement(context, item);
        if (code == ERR_OK)
            context->result->schemaItems++;
    }
    if (code != ERR_OK)
        return code;

    int awaitSeconds = context->request->awaitIndexesSeconds > 0 ? context->request->awaitIndexesSeconds
                                                                 : RESTORE_DEFAULT_AWAIT_SECONDS;
    code = restoreAwaitIndexes(context, awaitSeconds);
    restoreReportProgress(context);
    return code;
}

/* ---- the run ----------------------------------------------------------------- */

/* The newest link's header: a full's or a differential's format (the chain
 * reader checked each link's against its place). */
static ErrCode restoreCheckHeader(ArcChainReader *reader)
{
    size_t length = 0;
    const uint8_t *header = arcChainHeader(reader, &length);
    if (!header)
        return ERR_OK;
    Arena *arena = arenaNew(0);
    PackReader packReader;
    packReaderInit(&packReader, header, length);
    packReaderLimitDecoded(&packReader, ARC_RECORD_DECODED_MAX);
    BoltValue value;
    ErrCode code = unpackValue(&packReader, arena, &value);
    if (code != ERR_OK) {
        code = errSet(BACKUP_CORRUPTED, "archive header does not decode: %s", errLast()->reason);
    } else if (value.type == BOLT_MAP) {
        const char *format = boltMapGetString(&value, "format", NULL);
        if (format && strcmp(format, ARC_FORMAT_FULL) != 0 && strcmp(format, ARC_FORMAT_DIFF) != 0)
            code = errSet(BACKUP_CORRUPTED, "archive format '%s' is not one this tool restores", format);
    }
    arenaFree(arena);
    return code;
}

/* The archive's records from first (already read by the caller: ended when
 * the archive held nothing else) on. */
static ErrCode restoreReadArchive(RestoreContext *context, ArcChainReader *reader, ArcRecordKind kind,
                                  const uint8_t *packed, size_t length, bool ended)
{
    if (ended)
        return ERR_OK;
    for (bool first = true;; first = false) {
        if (restoreCancelled(context))
            return restoreInterrupted();
        ErrCode code = ERR_OK;
        if (!first) {
            code = arcChainNext(reader, &kind, &packed, &length);
            if (code != ERR_OK)
                return code;
            if (!packed)
                return ERR_OK;
        }
        if (kind == ARC_RECORD_SCHEMA) {
            code = restoreAddSchema(context, packed, length);
            if (code != ERR_OK)
                return code;
            continue;
        }
        arenaReset(context->scratch);
        PackReader packReader;
        packReaderInit(&packReader, packed, length);
        packReaderLimitDecoded(&packReader, ARC_RECORD_DECODED_MAX);
        BoltValue record;
        code = unpackValue(&packReader, context->scratch, &record);
        if (code != ERR_OK)
            return errSet(BACKUP_CORRUPTED, "a %s record does not decode: %s",
                          kind == ARC_RECORD_NODE ? "node" : "relationship", errLast()->reason);
        if (kind == ARC_RECORD_NODE)
            code = restoreAddNode(context, &record);
        else if (kind == ARC_RECORD_RELATIONSHIP)
            code = restoreAddRelationship(context, &record);
        else
            code = errSet(BACKUP_CORRUPTED, "unknown record kind 0x%02x", (unsigned)kind);
        if (code != ERR_OK)
            return code;
    }
}

static void restoreContextFree(RestoreContext *context)
{
    restoreGroupSetFree(&context->nodeGroups);
    restoreGroupSetFree(&context->relationshipGroups);
    idMapFree(context->idMap);
    idMapFree(context->metadataKeys);
    fingerprintFree(context->fingerprint);
    arenaFree(context->scratch);
    arenaFree(context->deferredArena);
    bufferFree(&context->query);
    bufferFree(&context->fragment);
    free(context->newIds);
    free(context->deferred);
    free(context->schemaItems);
}

ErrCode logicalRestoreRun(const LogicalRestoreRequest *request, LogicalRestoreResult *result)
{
    memset(result, 0, sizeof(*result));
    bool located = request && ((request->chain && request->chainCount) ||
                               (request->archive.storage ? request->archive.name != NULL : request->archive.path != NULL));
    if (!request || !request->connection || !located)
        return errSet(ERR_INTERNAL, "logicalRestoreRun needs a connection and an archive location");

    RestoreContext context;
    memset(&context, 0, sizeof(context));
    context.request = request;
    context.result = result;
    context.connection = request->connection;
    context.startTime = timeMonotonic();
    context.phase = RESTORE_PHASE_WIPE;
    context.nodeBatchSize = request->nodeBatchSize ? request->nodeBatchSize : RESTORE_DEFAULT_BATCH;
    context.relationshipBatchSize =
        request->relationshipBatchSize ? request->relationshipBatchSize : RESTORE_DEFAULT_BATCH;
    context.rowsPerTransaction[RESTORE_GROUP_NODES] = context.nodeBatchSize;
    context.rowsPerTransaction[RESTORE_GROUP_RELATIONSHIPS] = context.relationshipBatchSize;
    context.maxRetries = request->maxRetries > 0 ? request->maxRetries : RESTORE_DEFAULT_RETRIES;
    context.writeOptions.database = request->database;
    context.writeOptions.mode = BOLT_ACCESS_WRITE;
    context.writeOptions.fetchSize = -1;

    RestoreServerTraits traits = restoreServerTraits(request->connection);
    context.queryPrefix = traits.prefix;
    context.nodeGroups.kind = RESTORE_GROUP_NODES;
    context.relationshipGroups.kind = RESTORE_GROUP_RELATIONSHIPS;
    /* Static tokens measured faster on 5.26 (docs/restore.md); dynamic ones
     * only when asked for, or when the label sets are too many. */
    bool startDynamic = request->tokenMode == RESTORE_TOKENS_DYNAMIC;
    bool mayTurnDynamic = request->tokenMode == RESTORE_TOKENS_AUTO && traits.dynamicTokens;
    context.nodeGroups.dynamic = context.relationshipGroups.dynamic = startDynamic;
    context.nodeGroups.mayTurnDynamic = context.relationshipGroups.mayTurnDynamic = mayTurnDynamic;

    result->archive.arena = arenaNew(0);
    context.idMap = idMapNew(request->expectedNodes);
    context.metadataKeys = idMapNew(0);
    context.fingerprint = fingerprintNew();
    context.scratch = arenaNew(0);
    context.deferredArena = arenaNew(0);
    bufferInit(&context.query);
    bufferInit(&context.fragment);
    ArcChainReader *reader = NULL;
    ArcChainLink single = {.location = request->archive};
    const ArcChainLink *links = request->chain && request->chainCount ? request->chain : &single;
    size_t linkCount = request->chain && request->chainCount ? request->chainCount : 1;
    const ArcLocation *shown = &links[linkCount - 1].location;
    ErrCode code = ERR_OK;
    if (!context.idMap || !context.metadataKeys) {
        code = errSet(RESTORE_FAILED, "out of memory for the node id map (%llu nodes expected)",
                      (unsigned long long)request->expectedNodes);
        goto done;
    }
    logDebug("restore: server %s, %s labels and types, batches of %u nodes / %u relationships",
             boltServerAgent(request->connection), startDynamic ? "dynamic" : "static",
             context.nodeBatchSize, context.relationshipBatchSize);

    /* Open (and so check) the archive before touching the target. */
    code = arcChainOpen(&reader, links, linkCount);
    if (code == ERR_OK)
        code = restoreCheckHeader(reader);
    if (code != ERR_OK)
        goto done;
    /* Schema records come first (docs/archive-format.md): read and check them
     * all before the wipe, so that an item that cannot be rebuilt refuses the
     * restore with the target untouched. The first other record waits. */
    ArcRecordKind firstKind = ARC_RECORD_SCHEMA;
    const uint8_t *firstPacked = NULL;
    size_t firstLength = 0;
    for (;;) {
        code = arcChainNext(reader, &firstKind, &firstPacked, &firstLength);
        if (code != ERR_OK || !firstPacked || firstKind != ARC_RECORD_SCHEMA)
            break;
        code = restoreAddSchema(&context, firstPacked, firstLength);
        if (code != ERR_OK)
            break;
    }
    if (code != ERR_OK)
        goto done;

    if (request->wipeTarget) {
        restoreReportProgress(&context);
        code = restoreWipeTarget(request->connection, request->database);
        if (code != ERR_OK)
            goto done;
    }
    result->wipeSeconds = timeMonotonic() - context.startTime;
    context.phase = RESTORE_PHASE_NODES;

    code = restoreReadArchive(&context, reader, firstKind, firstPacked, firstLength, !firstPacked);
    if (code == ERR_OK) {
        if (context.phase == RESTORE_PHASE_NODES) {
            result->nodeSeconds = timeMonotonic() - context.startTime - result->wipeSeconds;
            context.phase = RESTORE_PHASE_RELATIONSHIPS;
        }
        code = restoreFinishDeferred(&context);
    }
    if (code != ERR_OK)
        goto done;
    double schemaStart = timeMonotonic();
    result->relationshipSeconds = schemaStart - context.startTime - result->wipeSeconds - result->nodeSeconds;
    code = restoreSchema(&context);
    if (code != ERR_OK)
        goto done;
    result->schemaSeconds = timeMonotonic() - schemaStart;

    /* Hand the archive facts to the health checks. */
    code = fingerprintHex(context.fingerprint, result->archive.fingerprint);
    if (code != ERR_OK)
        goto done;
    result->archive.orphanRelationships = result->orphanRelationships;
    result->archive.schemaCount = context.schemaCount;
    if (context.schemaCount) {
        BoltValue *items = arenaAlloc(result->archive.arena, context.schemaCount * sizeof(BoltValue));
        memcpy(items, context.schemaItems, context.schemaCount * sizeof(BoltValue));
        result->archive.schemaItems = items;
    }
    context.phase = RESTORE_PHASE_DONE;
    restoreReportProgress(&context);

done:
    result->dynamicLabels = context.nodeGroups.dynamic;
    result->dynamicTypes = context.relationshipGroups.dynamic;
    result->idMapBytes = context.idMap ? idMapBytes(context.idMap) : 0;
    result->seconds = timeMonotonic() - context.startTime;
    if (code != ERR_OK && code != OPERATION_INTERRUPTED)
        errAddContext("restore of %s", arcLocationShown(shown));
    arcChainFree(reader);
    restoreContextFree(&context);
    return code;
}

ErrCode logicalRestoreSchema(BoltConnection *connection, const char *database, const ArchiveContent *archive,
                             int awaitIndexesSeconds, uint64_t *created)
{
    LogicalRestoreRequest request = {.connection = connection, .database = database,
                                     .awaitIndexesSeconds = awaitIndexesSeconds};
    LogicalRestoreResult result;
    memset(&result, 0, sizeof(result));
    RestoreContext context;
    memset(&context, 0, sizeof(context));
    context.request = &request;
    context.result = &result;
    context.connection = connection;
    context.startTime = timeMonotonic();
    context.maxRetries = RESTORE_DEFAULT_RETRIES;
    context.writeOptions.database = database;
    context.writeOptions.mode = BOLT_ACCESS_WRITE;
    context.writeOptions.fetchSize = -1;
    context.queryPrefix = restoreServerTraits(connection).prefix;
    /* restoreSchema only reads the items; the cast keeps one code path. */
    context.schemaItems = (BoltValue *)archive->schemaItems;
    context.schemaCount = archive->schemaCount;
    bufferInit(&context.query);
    ErrCode code = restoreSchema(&context);
    bufferFree(&context.query);
    if (created)
        *created = result.schemaItems;
    return code;
}

void logicalRestoreResultFree(LogicalRestoreResult *result)
{
    if (!result)
        return;
    arcContentFree(&result->archive);
}
