/* The contract's recovery state machine, persisted beside the catalog in
 * <BACKUP_STORAGE_PATH>/.recovery.json so that `neo4j-restore --status` tells
 * where a recovery stands, also after a crash:
 *
 *   NOT_RECOVERING -> RECOVERING -> VALIDATION -> RECOVERY_SUCCESS
 *                                             \-> RECOVERY_FAILED
 *   RECOVERING / VALIDATION --(operator cancel, signal, error)--> RECOVERY_FAILED
 *
 * A process that dies in RECOVERING or VALIDATION leaves that state behind;
 * --status reports it as interrupted (its pid is gone), and the next restore
 * or --cancel moves it to RECOVERY_FAILED. The history keeps the last 50
 * transitions. */
#ifndef NBK_RESTORE_RECOVERY_STATE_H
#define NBK_RESTORE_RECOVERY_STATE_H

#include "common/error.h"

#include <json-c/json.h>

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    RECOVERY_NOT_RECOVERING,
    RECOVERY_RECOVERING,
    RECOVERY_VALIDATION,
    RECOVERY_SUCCESS,
    RECOVERY_FAILED,
} RecoveryState;

const char *recoveryStateName(RecoveryState state); /* "RECOVERY_SUCCESS", ... */

typedef struct {
    RecoveryState state;
    char backupId[80];
    char target[80];
    char reason[512];   /* why it failed, empty otherwise */
    int64_t since;      /* when the state was entered */
    long pid;           /* process that owns a RECOVERING/VALIDATION state */
    bool promoted;      /* the last success was a promotion to production */
} RecoveryStatus;

/* Current status (NOT_RECOVERING when the file does not exist). */
ErrCode recoveryLoad(const char *storageRoot, RecoveryStatus *out);
/* Moves to a new state, appends it to the history and saves atomically. */
ErrCode recoveryTransition(const char *storageRoot, RecoveryState state, const char *backupId,
                           const char *target, const char *reason, bool promoted);
/* The one JSON form of the recovery state, for `neo4j-restore --status
 * --json` and GET /api/v1/recovery (new reference, the caller puts it):
 *
 *   {"state": "RECOVERY_FAILED",          the current state, always
 *    "backup_id": "...", "target": "...", "since": "<ISO 8601>",
 *    "promoted": false,                   these four unless NOT_RECOVERING
 *    "reason": "...",                     when there is one
 *    "interrupted": false,                its process is gone (recoveryIsStale)
 *    "current": {...},                    the same state as stored, with "pid"
 *    "history": [{...}, ...]}             the last transitions, oldest first
 */
ErrCode recoveryStatusJson(const char *storageRoot, json_object **out);
/* True when the owner process of an in-progress state no longer runs. */
bool recoveryIsStale(const RecoveryStatus *status);

#endif
