/* The logical backup engine: reads a live database over Bolt (schema, nodes,
 * relationships) inside one read transaction and writes them as records into
 * a new archive file (layouts in graph/records.h, consistency and format in
 * docs/archive-format.md, "Record payloads" and "Consistency").
 *
 * Guarantees of a successful run:
 *  - the archive is referentially complete: every relationship record
 *    follows the node records of both its endpoints (relationships whose
 *    endpoint appeared after the node scan get that node fetched at the end;
 *    those whose endpoint vanished are dropped and counted);
 *  - no key is written twice; nodes labelled BackupMetadata (the tool's own
 *    records) and their relationships are left out;
 *  - a value the negotiated Bolt version could not carry (a placeholder sent
 *    by a newer server) fails the run with BACKUP_UNSUPPORTED_VALUE instead
 *    of being stored as data.
 *
 * The engine builds the archive header itself (the map of records.h) from the
 * request's identity fields and what it learns from the server, so the
 * header's layout is defined in one place.
 *
 * Memory: one Bolt batch (fetchSize records), one archive block, a set of
 * seen node keys and one of relationship keys (a bitmap: 1 bit per id up to
 * the highest id, never more than max(8 MiB, 8 bytes per key); ids too
 * sparse for it go to a hash set, 16-32 bytes each), one count per distinct
 * label and relationship type, pending relationships up to
 * pendingMemoryLimit (then spilled to an unlinked temp file beside the
 * archive), and, with computeFingerprint, 16 bytes per node (at most about 16 MB in
 * memory: graph/fingerprint.h). */
#ifndef NBK_BACKUP_LOGICAL_H
#define NBK_BACKUP_LOGICAL_H

#include "archive/archive.h"
#include "backup/diff_state.h"
#include "graph/schema.h"
#include "bolt/connection.h"
#include "common/buffer.h"
#include "common/error.h"
#include "graph/counts.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define LOGICAL_FORMAT_NAME "nbk-logical-1"
#define LOGICAL_DEFAULT_FETCH_SIZE 20000
#define LOGICAL_DEFAULT_PENDING_MEMORY (64u * 1024u * 1024u)
/* Records between two progress calls (phase changes always call). */
#define LOGICAL_PROGRESS_INTERVAL 50000

typedef enum {
    LOGICAL_PHASE_STARTING,
    LOGICAL_PHASE_SCHEMA,
    LOGICAL_PHASE_NODES,
    LOGICAL_PHASE_RELATIONSHIPS,
    LOGICAL_PHASE_LATE_NODES,           /* fetching endpoints created after the node scan */
    LOGICAL_PHASE_PENDING_RELATIONSHIPS, /* writing the relationships that waited for them */
    LOGICAL_PHASE_FINISHING,
    LOGICAL_PHASE_DONE,
} LogicalBackupPhase;

const char *logicalBackupPhaseName(LogicalBackupPhase phase); /* "nodes", ... */

typedef struct {
    LogicalBackupPhase phase;
    uint64_t schemaItems;
    uint64_t nodes;                /* written so far, late nodes included */
    uint64_t relationships;        /* written so far */
    uint64_t pendingRelationships; /* waiting for a late endpoint */
    uint64_t lateNodes;
    uint64_t bytesWritten;         /* archive bytes on disk so far */
    double seconds;                /* since the run started */
} LogicalBackupProgress;

typedef struct {
    BoltConnection *connection; /* connected and authenticated; no transaction open */
    const char *database;       /* NULL = the user's home database */
    /* Where the archive goes: a path (created O_EXCL) or a storage name
     * (written with STORAGE_WRITE_NO_REPLACE, visible once finished); nothing
     * is left on any failure. Pending relationships spill beside its path. */
    ArcLocation archive;
    ArcCompression compression;
    int compressionLevel;       /* 0 = the format's default */

    /* Identity written into the header. */
    const char *backupId;       /* e.g. "neo4j-20251227-153000" */
    const char *createdUtc;     /* ISO-8601 UTC, e.g. "2025-12-27T15:30:00Z" */
    const char *sourceUri;      /* the Bolt URI, never with credentials */

    int64_t fetchSize;          /* records per PULL; 0 = LOGICAL_DEFAULT_FETCH_SIZE */
    int64_t txTimeoutMs;        /* read transaction timeout; 0 = the server's default */
    uint64_t pendingMemoryLimit; /* 0 = LOGICAL_DEFAULT_PENDING_MEMORY */
    bool computeFingerprint;    /* fills LogicalBackupResult.fingerprint (graph/fingerprint.h) */
    /* A differential (docs/differential.md): the parent's state, loaded by
     * the caller with diffStateLoad and met by this run. Only records whose
     * content hash differs from the parent's are written, then a deletion
     * record for every parent key the scan did not meet; the header says
     * format ARC_FORMAT_DIFF and parent_id. NULL: a full backup. Counts,
     * per-label maps and the fingerprint still cover every record read. */
    DiffState *parentState;
    const char *parentId;
    /* With parentState: write a full backup instead when the schema read
     * differs from the parent's (BACKUP_TYPE auto); result.schemaChanged. */
    bool fullWhenSchemaChanged;

    /* Called at every phase change and every LOGICAL_PROGRESS_INTERVAL
     * records; may be NULL. Must not call into the connection. */
    void (*progress)(const LogicalBackupProgress *progress, void *payload);
    void *progressPayload;
    /* Set asynchronously (signal handler): the run stops within one record,
     * rolls back, removes the archive and returns OPERATION_INTERRUPTED. */
    volatile sig_atomic_t *cancelFlag;
} LogicalBackupRequest;

typedef struct {
    uint64_t nodes;                 /* nodes read (lateNodes included): in a
                                       differential, not all are written */
    uint64_t relationships;         /* relationships read and kept */
    bool differential;              /* written as a differential of parentState */
    bool schemaChanged;             /* the schema differs from the parent's */
    uint64_t changedNodes;          /* a differential's node records (new or changed) */
    uint64_t changedRelationships;
    uint64_t deletedNodes;          /* its deletion records */
    uint64_t deletedRelationships;
    uint64_t schemaItems;
    uint64_t lateNodes;             /* endpoints fetched after the relationship scan */
    uint64_t droppedRelationships;  /* an endpoint was deleted during the backup */
    uint64_t excludedRelationships; /* touching a BackupMetadata node */
    uint64_t duplicateRecords;      /* seen twice by a scan, written once */
    SchemaSummary schema;
    ArcTotals totals;               /* as written by the archive */
    double seconds;
    char database[128];             /* the database actually read */
    char serverVersion[64];         /* e.g. "5.26.0" */
    char edition[32];               /* "community" | "enterprise" */
    char fingerprint[66];           /* empty unless request->computeFingerprint */
    GraphCounts counts;             /* nodes per label, relationships per type, of the
                                       records written (BackupMetadata left out like the
                                       totals); free with logicalBackupResultFree
                                       (a failed run leaves it empty) */
} LogicalBackupResult;

/* Runs the whole backup. On success the archive is finished and fsynced and
 * out is filled; on failure the file is removed, the read transaction rolled
 * back when the connection still allows it, and errLast() says why:
 *   NEO4J_*                   the server or the connection failed (after
 *                             NEO4J_UNREACHABLE/PROTOCOL_ERROR/TIMEOUT the
 *                             connection is defunct: close it)
 *   BACKUP_UNSUPPORTED_VALUE  a property the Bolt version cannot carry
 *   BACKUP_IO_FAILED, BACKUP_NO_SPACE  writing the archive failed
 *   OPERATION_INTERRUPTED     *cancelFlag was set */
ErrCode logicalBackupRun(const LogicalBackupRequest *request, LogicalBackupResult *out);
/* Releases what a result owns (its counts); safe after a failed run too. */
void logicalBackupResultFree(LogicalBackupResult *result);

/* The archive header map (records.h) as PackStream, appended to out. */
typedef struct {
    const char *backupId, *createdUtc, *sourceUri, *serverAgent, *serverVersion, *edition,
        *database;
    const char *parentId; /* a differential's parent: format ARC_FORMAT_DIFF; NULL for a full */
    uint8_t boltMajor, boltMinor;
} LogicalHeaderFields;
void logicalBackupPackHeader(Buffer *out, const LogicalHeaderFields *fields);

#endif
