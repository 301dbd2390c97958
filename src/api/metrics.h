/* What the operator should know at a glance, read from the storage path: the
 * catalog (with the retention decisions --list shows), the scheduler's state
 * file, the recovery state and the free space. One snapshot feeds the
 * /metrics text, BACKUP_METRICS_FILE and the status page, so they always
 * agree.
 *
 * The metrics text (Prometheus exposition format 0.0.4) is the scheduler's
 * own metrics (schedMetricsFormat: runs, failures, pause, next run) followed
 * by the catalog's, the storage's and the last restore's. The scheduler
 * writes BACKUP_METRICS_FILE through apiMetricsWriteFile, as the API server
 * does after each job: one writer, one set of names (docs/api.md). */
#ifndef NBK_API_METRICS_H
#define NBK_API_METRICS_H

#include "catalog/catalog.h"
#include "common/buffer.h"
#include "common/config.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "restore/recovery_state.h"
#include "schedule/scheduler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t now;
    bool catalogExists;      /* false: nothing stored yet (an empty list) */
    CatList list;            /* newest first */
    RetDecision *decisions;  /* list.count entries (expiry as --list shows) */
    long newestValid;        /* index of the newest usable backup (catEntryUsable), -1 if none */
    size_t validCount;       /* catEntryUsable: COMPLETE* with its archive present */
    size_t failedCount;      /* FAILED */
    size_t corruptedCount;   /* CORRUPTED: by validation, or archive of the wrong size */
    size_t incompleteCount;  /* INCOMPLETE: COMPLETE manifest, archive missing */
    size_t damagedCount;     /* both manifest files unreadable */
    uint64_t totalBytes;
    bool haveSpace;
    FsSpace space;
    int64_t minFreePercent;  /* BACKUP_MIN_FREE_PERCENT */
    bool haveScheduler;      /* .scheduler.json exists (or a state was given) */
    SchedState scheduler;
    bool schedulerRunning;   /* the pid in the state is alive */
    RecoveryStatus recovery; /* NOT_RECOVERING when never restored */
    bool recoveryInterrupted;
} ApiSnapshot;

/* Reads everything. schedulerState: the live state of an in-process
 * scheduler, or NULL to read the state file. Fails only when the catalog
 * cannot be listed (BACKUP_IO_FAILED...); other files that cannot be read
 * are left out. Free with apiSnapshotFree (also after a failure). */
ErrCode apiSnapshotTake(const Config *config, const SchedState *schedulerState, ApiSnapshot *out);
void apiSnapshotFree(ApiSnapshot *snapshot);

/* Appends the metrics text (no terminating NUL). */
void apiMetricsFormat(const ApiSnapshot *snapshot, Buffer *out);
/* Takes a snapshot and writes BACKUP_METRICS_FILE atomically (0644) when it
 * is set; failures are logged as warnings. Serialized inside the process. */
void apiMetricsWriteFile(const Config *config, const SchedState *schedulerState);

#endif
