/* The restore as a service, below every front end (neo4j-restore, the HTTP
 * API, a library user): verification of the backup, the choice of the load
 * (auto, bolt or import, with its reason), the load into the test instance,
 * the health checks, the recovery state (restore/recovery_state.h), and with
 * promote: the confirmation, a safety backup of production, the restore into
 * production and its checks, and on failure the rollback to the safety
 * backup. The production guard refuses a target that is production.
 *
 * The request carries everything resolved: the open catalog, the instances,
 * the load, the flags, the cancel flag. The service never prints, never
 * reads argv, the environment or the configuration, and never exits: every
 * contract line reaches the front end as a RestoreEvent (text + log level),
 * which prints it as it is; the front end adds the generic failure block
 * ("Restore failed", logErrorBlock) unless result->reported says the
 * failure's own lines were sent already.
 *
 * What the restore needs from other layers comes in as callbacks the front
 * end wires: the safety backup (the backup service lives in backup/, which
 * restore/ does not include), and until the offline lifecycle lives below
 * command/, the connection, the import load and the dump restore.
 *
 * Ownership: everything in the request is borrowed for the call. */
#ifndef NBK_RESTORE_RESTORE_SERVICE_H
#define NBK_RESTORE_RESTORE_SERVICE_H

#include "bolt/connection.h"
#include "catalog/catalog.h"
#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "crypto/keys.h"
#include "restore/health.h"
#include "restore/logical_restore.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* RESTORE_LOAD / --load: auto picks import when the instance can be stopped
 * (NEO4J_HOME and stop and start commands), Bolt otherwise. */
typedef enum {
    RESTORE_LOAD_AUTO,
    RESTORE_LOAD_BOLT,
    RESTORE_LOAD_IMPORT,
} RestoreLoad;

/* "auto", "bolt", "import" (NULL = auto); CONFIG_INVALID for anything else. */
ErrCode restoreLoadParse(const char *text, RestoreLoad *out);

/* Which load restores into instance under setting (BOLT or IMPORT, never
 * AUTO); why receives the reason for the "Load: ..." line. */
RestoreLoad restoreChooseLoad(RestoreLoad setting, const InstanceConfig *instance, char *why, size_t whySize);

/* CONFIG_INVALID, with the action, unless instance has NEO4J_HOME and stop
 * and start commands (what the import load needs); checked before anything
 * is touched. */
ErrCode restoreImportPreflight(const InstanceConfig *instance);

typedef enum {
    RESTORE_EVENT_LINE,         /* a line of the run: print text at level */
    RESTORE_EVENT_LOAD_CHOSEN,  /* "Load: ..." (text, level), with load and reason */
    RESTORE_EVENT_HEALTH_CHECK, /* "Health check: <name> ... PASS|FAIL" (text, level), with check */
    RESTORE_EVENT_PROGRESS,     /* the Bolt load's progress (no text): for a terminal */
} RestoreEventKind;

typedef struct {
    RestoreEventKind kind;
    LogLevel level;
    const char *text;                        /* the line without its "INFO: " prefix; NULL for PROGRESS */
    RestoreLoad load;                        /* LOAD_CHOSEN: BOLT or IMPORT */
    const char *reason;                      /* LOAD_CHOSEN */
    const InstanceConfig *instance;          /* LOAD_CHOSEN, HEALTH_CHECK: where */
    const HealthCheckResult *check;          /* HEALTH_CHECK */
    const LogicalRestoreProgress *progress;  /* PROGRESS */
} RestoreEvent;

typedef struct {
    /* Every line and progress report; may be NULL (nothing shown). */
    void (*onEvent)(const RestoreEvent *event, void *payload);
    /* Asked before production is touched, after the test restore passed:
     * ERR_OK to go on, or an error (RESTORE_REFUSED, set with errSet) to
     * leave production alone. NULL refuses. */
    ErrCode (*confirmPromotion)(const char *backupId, const char *productionUri, void *payload);
    void *payload;
} RestoreEvents;

/* Takes a backup of production into the catalog; idOut receives its id. */
typedef ErrCode (*RestoreSafetyBackup)(void *payload, char idOut[CAT_ID_SIZE]);

/* Instance work that still lives above restore/ (the offline lifecycle is
 * moving into neo4j/): wired by the front end. */
typedef struct {
    /* A write connection to instance (neo4j:// routed to a primary). */
    ErrCode (*connect)(const InstanceConfig *instance, BoltConnection **out);
    /* The import load: stop, neo4j-admin database import, start, fix-ups,
     * schema; on success *connection is open and *content filled. chain:
     * the archive (count 1) or a differential's chain (archive/chain.h),
     * read merged. */
    ErrCode (*importLoad)(void *payload, const ArcChainLink *chain, size_t chainCount, uint64_t expectedBytes,
                          uint64_t expectedRecords, const InstanceConfig *instance, BoltConnection **connection,
                          ArchiveContent *content);
    /* CONFIG_INVALID unless a dump can be restored into instance. */
    ErrCode (*dumpPreflight)(const CatEntry *entry, const InstanceConfig *instance);
    /* The dump restore with its own health checks (failedCheck as restoreRun's). */
    /* archive: the dump in the catalog's storage (catArchiveLocation). */
    ErrCode (*dumpRestore)(void *payload, const CatEntry *entry, const ArcLocation *archive,
                           const InstanceConfig *instance, bool validate, char *failedCheck, size_t failedCheckSize);
    void *payload;
} RestoreInstanceOps;

typedef struct {
    Catalog *catalog;                    /* open; holds the backup and receives the safety backup */
    const char *backupId;
    const InstanceConfig *target;        /* the test instance */
    const InstanceConfig *production;    /* the promotion's target, and the guard's reference */
    RestoreLoad load;                    /* RESTORE_LOAD / --load */
    bool validate;                       /* run the health checks (--no-validate: false) */
    bool promote;                        /* then promote to production (needs validate) */
    bool dryRun;                         /* say what would be done, change nothing */
    const char *scratchDirectory;        /* per-node tables past 8 MB spill here; NULL = the state directory */
    const char *stateDirectory;          /* the recovery state lives here; NULL = the catalog's root */
    volatile sig_atomic_t *cancelFlag;   /* non-zero: stop at the next batch; may be NULL */
    RestoreSafetyBackup safetyBackup;    /* required with promote */
    void *safetyBackupPayload;
    const RestoreInstanceOps *ops;       /* required */
    /* Borrowed, may be NULL: the repository's master key, for encrypted
     * backups (catEntryUnlock before anything is touched). Never logged. */
    const CryptoMasterKey *masterKey;
    /* Test hooks (front ends set them only in NBK_TEST_HOOKS builds; NULL otherwise):
     * a label taken off one node after the load, before the checks; a
     * production check that fails on demand (not in the rollback). */
    const char *faultDropLabel;
    const char *faultPromoteHealth;
} RestoreRequest;

typedef struct {
    char failedCheck[64];                /* the first failing health check, if any */
    char safetyBackupId[CAT_ID_SIZE];    /* promote: the safety backup taken */
    bool promoted;                       /* production now holds the backup */
    bool rolledBack;                     /* promotion failed and production was restored from the safety backup */
    /* The failure's own lines (corrupted backup, failed health check) were
     * sent as events: the front end adds no generic failure block. */
    bool reported;
} RestoreResult;

/* Runs the restore. ERR_OK when the backup is in the target (and with
 * promote, in production) and passed the checks; RESTORE_REFUSED for the
 * guard, a refused confirmation or promote without validate;
 * BACKUP_CORRUPTED, RESTORE_HEALTH_FAILED, OPERATION_INTERRUPTED, NEO4J_*,
 * CONFIG_INVALID otherwise, with errLast() telling why. */
ErrCode restoreRun(const RestoreRequest *request, RestoreResult *result, const RestoreEvents *events);

#endif
