/* Logical restore: loads a logical archive (archive/archive.h, records in
 * graph/records.h) into a running Neo4j over Bolt.
 *
 *   1. (optional) wipe the target: drop constraints and non-LOOKUP indexes,
 *      delete every relationship and node in server-side batches;
 *   2. nodes in batches of UNWIND + CREATE, one auto-commit transaction per
 *      batch; the new id of every node is kept in an IdMap (restore/idmap.h)
 *      keyed by the archive's node key;
 *   3. relationships in batches, endpoints looked up by new id;
 *   4. schema after the data (faster than maintaining indexes while
 *      loading): constraints, then indexes not owned by a constraint, then
 *      db.awaitIndexes.
 * The archive is read once; its fingerprint and schema are collected on the
 * way into the result's ArchiveContent for the health checks.
 *
 * Memory: IdMap 21-43 bytes per node plus the fingerprint's 30-60 bytes per
 * node; batches are bounded by the batch sizes (docs/restore.md).
 *
 * Retries: a batch that fails with Neo.TransientError.* is sent again after
 * a backoff (each batch is one auto-commit transaction, so a failed one
 * created nothing); a batch over the server's transaction memory limit is
 * split in halves. */
#ifndef NBK_RESTORE_LOGICAL_RESTORE_H
#define NBK_RESTORE_LOGICAL_RESTORE_H

#include "archive/archive.h"
#include "archive/chain.h"
#include "bolt/connection.h"
#include "common/error.h"
#include "restore/health.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    RESTORE_PHASE_WIPE,
    RESTORE_PHASE_NODES,          /* also covers relationships interleaved in the archive */
    RESTORE_PHASE_RELATIONSHIPS,
    RESTORE_PHASE_SCHEMA,
    RESTORE_PHASE_DONE,
} LogicalRestorePhase;

typedef struct {
    LogicalRestorePhase phase;
    uint64_t nodesDone;
    uint64_t relationshipsDone;
    uint64_t schemaDone;
    uint64_t nodesExpected;          /* 0 = unknown */
    uint64_t relationshipsExpected;  /* 0 = unknown */
    double elapsedSeconds;
} LogicalRestoreProgress;

/* How labels and relationship types reach the server:
 * STATIC groups rows by label set / type and writes them into the query text
 * (backtick-quoted); DYNAMIC passes them as parameters (CREATE (n:$(...)),
 * Neo4j 5.26+). AUTO is STATIC (measured faster on 5.26, docs/restore.md)
 * and turns DYNAMIC, on servers that have it, when more than 64 label sets
 * (or types) are pending at once. */
typedef enum {
    RESTORE_TOKENS_AUTO,
    RESTORE_TOKENS_STATIC,
    RESTORE_TOKENS_DYNAMIC,
} LogicalRestoreTokenMode;

typedef struct {
    BoltConnection *connection;      /* the TARGET, connected (borrowed) */
    const char *database;            /* NULL = the user's home database */
    ArcLocation archive;             /* a path or a repository storage name */
    /* A differential's chain (archive/chain.h), read merged in place of
     * archive; NULL/0 = the single archive above. */
    const ArcChainLink *chain;
    size_t chainCount;
    bool wipeTarget;                 /* call restoreWipeTarget first */
    uint64_t expectedNodes;          /* manifest counts: presizing and progress; 0 = unknown */
    uint64_t expectedRelationships;
    uint32_t nodeBatchSize;          /* rows per transaction; 0 = 10000 */
    uint32_t relationshipBatchSize;  /* 0 = 10000 */
    LogicalRestoreTokenMode tokenMode;
    int maxRetries;                  /* per batch for transient errors; 0 = 6 */
    int awaitIndexesSeconds;         /* 0 = 300 */
    void (*progress)(const LogicalRestoreProgress *progress, void *payload); /* may be NULL */
    void *progressPayload;
    volatile sig_atomic_t *cancelFlag; /* non-zero = stop at the next batch; may be NULL */
} LogicalRestoreRequest;

typedef struct {
    uint64_t nodes;                  /* created */
    uint64_t relationships;          /* created */
    uint64_t schemaItems;            /* created or already present (LOOKUP indexes) */
    uint32_t indexesFailedAsInSource; /* FAILED here as in the source: warned about, not failures */
    uint64_t orphanRelationships;    /* skipped: an endpoint is not in the archive */
    uint64_t retries;                /* batches sent again after a transient error */
    uint64_t memorySplits;           /* batches halved for the server's transaction memory limit */
    uint64_t batches;
    double seconds;                  /* total */
    double wipeSeconds, nodeSeconds, relationshipSeconds, schemaSeconds;
    size_t idMapBytes;               /* peak memory of the id map */
    bool dynamicLabels;              /* nodes ended in dynamic-label mode */
    bool dynamicTypes;               /* relationships ended in dynamic-type mode */
    ArchiveContent archive;          /* fingerprint, counts, schema: free with logicalRestoreResultFree */
} LogicalRestoreResult;

/* Runs the restore. On failure the target holds a partial graph (it is a
 * disposable target: run again, with wipeTarget). OPERATION_INTERRUPTED when
 * cancelFlag was raised, BACKUP_CORRUPTED for a bad archive, RESTORE_FAILED
 * when the server refused data or schema, NEO4J_* for connection trouble. */
ErrCode logicalRestoreRun(const LogicalRestoreRequest *request, LogicalRestoreResult *result);
void logicalRestoreResultFree(LogicalRestoreResult *result);

/* Step 4 alone, for loads that wrote the data another way (import.h):
 * creates the archive's constraints and indexes on a target that holds the
 * data and waits for them (awaitIndexesSeconds, 0 = 300). *created counts
 * the items made or already present. */
ErrCode logicalRestoreSchema(BoltConnection *connection, const char *database, const ArchiveContent *archive,
                             int awaitIndexesSeconds, uint64_t *created);

/* Empties database so that it holds exactly the backup afterwards: drops
 * every constraint and every non-LOOKUP index, deletes all relationships and
 * nodes in batches of 10000 (auto-commit CALL ... IN TRANSACTIONS). The two
 * default LOOKUP indexes stay. */
ErrCode restoreWipeTarget(BoltConnection *connection, const char *database);

#endif
