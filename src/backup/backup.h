/* The backup service: one online logical backup of a source database into
 * the catalog, with everything resolved in the request. It never prints,
 * reads argv, the environment or the configuration, and never exits: every
 * line the contract shows reaches the front end as an event (BackupEvents),
 * and the outcome as the returned code plus BackupResult.
 *
 * The transaction (docs/architecture.md, "A backup, end to end"): connect,
 * read the server version and the graph counts; then (not in a dry run) take
 * the repository's create lock, remove leftovers of interrupted runs, check
 * free space, write the archive into a temporary backup directory, read it
 * back for its SHA-256, write the manifest, commit the directory (only now is
 * the backup visible: catBackupDirCommit) and record a BackupMetadata node in
 * the source (a failure there is an event, not a failure). On any failure
 * before the commit nothing is left in the catalog.
 *
 * The front ends fill the request from their settings with
 * backupSettingsResolve (backup/backup_settings.h) and usually report events
 * with backupReportEvent, which writes the contract's lines. */
#ifndef NBK_BACKUP_BACKUP_H
#define NBK_BACKUP_BACKUP_H

#include "archive/archive.h"
#include "backup/logical.h"
#include "bolt/connection.h"
#include "catalog/catalog.h"
#include "common/config.h"
#include "common/error.h"
#include "crypto/keys.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* How the service reaches the source instance. The front end wires it to its
 * connection code (routing, the shared routing table, TLS settings); a test
 * wires it to a fake server. */
typedef struct {
    /* Opens an authenticated connection to the source. BOLT_ACCESS_READ is
     * the backup's (a neo4j:// URI may go to a secondary); BOLT_ACCESS_WRITE
     * is asked only for the metadata record of a routed source, because a
     * secondary refuses writes. */
    ErrCode (*connect)(void *payload, BoltAccessMode mode, BoltConnection **out);
    /* The server's version and edition ("unknown" when not reported). */
    ErrCode (*serverVersion)(void *payload, BoltConnection *connection, char *version, size_t versionSize,
                             char *edition, size_t editionSize);
    void *payload;
} BackupConnector;

/* BACKUP_TYPE (docs/differential.md). AUTO is 0: a zeroed request takes a
 * differential when one is due. */
typedef enum {
    BACKUP_TYPE_AUTO,
    BACKUP_TYPE_FULL,
    BACKUP_TYPE_DIFF,
} BackupType;
#define BACKUP_DIFF_DEFAULT_MAX_CHAIN 6u
#define BACKUP_DIFF_DEFAULT_MAX_PERCENT 50u
const char *backupTypeName(BackupType type); /* "auto", "full", "diff" */
/* "auto" | "full" | "diff" (NULL = auto); CONFIG_INVALID otherwise. */
ErrCode backupTypeParse(const char *text, BackupType *out);

typedef enum {
    BACKUP_EVENT_STARTING,         /* before connecting */
    BACKUP_EVENT_SERVER_VERSION,   /* result->serverVersion */
    BACKUP_EVENT_DRY_RUN,          /* result: planned id, counts; nothing changed */
    BACKUP_EVENT_LEFTOVER_REMOVED, /* text: the name of a removed leftover */
    BACKUP_EVENT_SPACE,            /* space: the free-space check's figures */
    BACKUP_EVENT_TYPE,             /* result: differential, parentId, chainDepth or typeReason */
    BACKUP_EVENT_RUNNING,          /* result->id is chosen; the archive is being written */
    BACKUP_EVENT_PROGRESS,         /* progress: the engine's figures */
    BACKUP_EVENT_WRITTEN,          /* result: the archive is finished; the checksum follows */
    BACKUP_EVENT_METADATA_FAILED,  /* text: why the BackupMetadata node was not written */
    BACKUP_EVENT_COMPLETED,        /* result complete: the backup is committed */
} BackupEventKind;

typedef struct {
    uint64_t requiredBytes;
    uint64_t availableBytes;
    double freePercent;
    const char *basis; /* what the estimate came from, e.g. "the previous backup" */
} BackupSpace;

typedef struct BackupResult BackupResult;
typedef struct BackupRequest BackupRequest;

typedef struct {
    BackupEventKind kind;
    const BackupRequest *request;
    const BackupResult *result;               /* the figures known so far */
    const LogicalBackupProgress *progress;    /* BACKUP_EVENT_PROGRESS */
    const BackupSpace *space;                 /* BACKUP_EVENT_SPACE */
    const char *text;                         /* LEFTOVER_REMOVED, METADATA_FAILED */
} BackupEvent;

typedef struct {
    /* Called on the service's thread; may be NULL. */
    void (*onEvent)(const BackupEvent *event, void *payload);
    void *payload;
} BackupEvents;

struct BackupRequest {
    const InstanceConfig *source; /* name, uri (credentials never shown), database */
    BackupConnector connector;
    const char *storagePath;      /* the catalog's root; created when missing */
    /* Borrowed, may be NULL: the repository to back up into, used instead of
     * opening storagePath (so any storage, s3:// later); storagePath then
     * only names it in messages and may be NULL. */
    Catalog *catalog;
    ArcCompression compression;
    int64_t minFreePercent;       /* BACKUP_MIN_FREE_PERCENT */
    /* The store's directory for the space estimate when no backup exists
     * yet (NEO4J_DATA_PATH); NULL: estimate from the counts. */
    const char *dataPath;
    const char *lockPurpose;      /* shown to a second run that finds the create lock; NULL: "backup --create" */
    bool dryRun;                  /* connect and count only; BACKUP_EVENT_DRY_RUN */
    /* Borrowed, may be NULL: the repository's master key. Set: the backup
     * gets its own random data key, the archive is format 2 and the
     * manifest carries the wrapped key, a MAC and the sealed private part
     * (docs/encryption.md). Never logged. */
    const CryptoMasterKey *masterKey;
    /* Full, differential or auto (docs/differential.md); 0s = defaults. */
    BackupType type;
    uint32_t diffMaxChain;        /* BACKUP_DIFF_MAX_CHAIN */
    uint32_t diffMaxPercent;      /* BACKUP_DIFF_MAX_PERCENT */
    /* Set asynchronously (signal handler): the run stops, removes its
     * temporary directory and returns OPERATION_INTERRUPTED. */
    volatile sig_atomic_t *cancelFlag;
};

struct BackupResult {
    char id[CAT_ID_SIZE];      /* the new backup (planned one in a dry run) */
    char safeUri[512];         /* the source URI without user information */
    char serverVersion[64];
    char edition[64];
    uint64_t sourceNodes;      /* the counts before the backup (BackupMetadata left out) */
    uint64_t sourceRelationships;
    uint64_t nodes;            /* nodes and relationships read (in a differential
                                  only changedNodes/-Relationships are written) */
    uint64_t relationships;
    bool differential;         /* written as a differential of parentId */
    char parentId[CAT_ID_SIZE];
    uint32_t chainDepth;       /* differentials since the full (0 for a full) */
    char typeReason[256];      /* why a full was taken (auto), or "" */
    uint64_t changedNodes;
    uint64_t changedRelationships;
    uint64_t deletedNodes;
    uint64_t deletedRelationships;
    uint64_t schemaItems;
    uint64_t lateNodes;
    uint64_t droppedRelationships;
    uint64_t compressedBytes;
    uint64_t uncompressedBytes;
    double seconds;            /* the engine's run */
    char sha256[65];           /* of the committed archive */
    /* A failure an operator must see at once (the disk is full): the front
     * end shows the error block as critical. */
    bool critical;
};

/* Runs the backup. ERR_OK: committed (or, in a dry run, checked), out filled.
 * Otherwise nothing new is visible in the catalog and errLast() says why:
 * CONFIG_INVALID, NEO4J_* (the source), BACKUP_LOCKED (another backup runs),
 * BACKUP_NO_SPACE (out->critical), BACKUP_IO_FAILED, BACKUP_UNSUPPORTED_VALUE,
 * OPERATION_INTERRUPTED. */
ErrCode backupCreate(const BackupRequest *request, BackupResult *out, const BackupEvents *events);

/* The create lock of a repository (one backup at a time, whatever the
 * method): ".create.lock" of the catalog's storage, taken without waiting
 * (BACKUP_LOCKED names the holder and its purpose); then leftovers of
 * interrupted runs removed, each reported through onLeftover (may be NULL).
 * Used by backupCreate and the dump method; release with storageLockRelease. */
ErrCode backupBeginCreate(Catalog *catalog, const char *purpose, StorageLock **createLock,
                          void (*onLeftover)(const char *name, void *payload), void *payload);

/* The archive as stored, read back: its SHA-256 (hex) into sha256, which
 * must equal what the writer computed (totals), at the same size, or
 * BACKUP_IO_FAILED: the checksum describes what is stored, not what was meant
 * to be written. Used by backupCreate and --aggregate. */
ErrCode backupReadBack(const ArcLocation *archive, const ArcTotals *totals, char sha256[65]);
/* The manifest of an encrypted backup: the archive's data key
 * (archive->dataKey) wrapped by masterKey, the MAC over the plain fields and
 * the archive's key section as stored, and the private part sealed
 * (docs/encryption.md section 3). Call after every other field is set. */
ErrCode backupSealManifest(Manifest *manifest, const CryptoMasterKey *masterKey, const ArcLocation *archive);

/* The contract's lines for an event, through common/log: "Starting backup
 * creation...", "Neo4j version: ...", "Backup ID: ...", progress (a live
 * line on a terminal's stderr, else debug lines), and so on. payload: a
 * BackupReport set up by backupReportInit, one per run. Front ends install
 * it; one wanting other output installs its own. */
typedef struct {
    bool terminal;       /* stderr is a terminal */
    uint64_t lastLogged; /* records at the last progress line */
} BackupReport;
void backupReportInit(BackupReport *report);
void backupReportEvent(const BackupEvent *event, void *payload);
/* The contract's failure block after a failed backupCreate. */
void backupReportFailure(const BackupResult *result);

#endif
