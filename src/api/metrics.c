/* The snapshot of the storage path and its metrics text (see metrics.h). */
#include "api/metrics.h"

#include "catalog/catalog_settings.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static bool apiPidAlive(int64_t pid)
{
    if (pid <= 0)
        return false;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

ErrCode apiSnapshotTake(const Config *config, const SchedState *schedulerState, ApiSnapshot *out)
{
    memset(out, 0, sizeof(*out));
    out->now = timeNow();
    out->newestValid = -1;
    out->minFreePercent = 20;
    cfgGetInt(config, CFG_BACKUP_MIN_FREE_PERCENT, &out->minFreePercent);
    const char *root = cfgGet(config, CFG_BACKUP_STORAGE_PATH);
    if (!root)
        return cfgStoragePathMissing();

    bool local = catStorageIsLocal(config);
    const char *stateDir = catStateDirectory(config);
    if (schedulerState) {
        out->scheduler = *schedulerState;
        out->haveScheduler = true;
    } else {
        char statePath[4096];
        bool found = false;
        if (fsPathJoin(statePath, sizeof(statePath), stateDir, SCHED_STATE_FILE) == ERR_OK &&
            schedStateLoad(statePath, &out->scheduler, &found) == ERR_OK)
            out->haveScheduler = found;
        else
            schedStateInit(&out->scheduler);
    }
    out->schedulerRunning = apiPidAlive(out->scheduler.pid);
    if (recoveryLoad(stateDir, &out->recovery) == ERR_OK)
        out->recoveryInterrupted = recoveryIsStale(&out->recovery);
    else
        memset(&out->recovery, 0, sizeof(out->recovery));

    if (local && !fsIsDirectory(root))
        return ERR_OK; /* nothing stored yet */
    out->catalogExists = true;
    out->haveSpace = local && fsSpace(root, &out->space) == ERR_OK; /* object storage: no capacity */
    RetPolicy policy;
    ErrCode code = catRetentionPolicyConfigured(config, &policy);
    Catalog *catalog = NULL;
    if (code == ERR_OK)
        code = catOpenConfigured(config, false, &catalog);
    if (code == ERR_OK)
        code = catList(catalog, &out->list);
    if (code != ERR_OK) {
        catClose(catalog);
        return code;
    }
    size_t count = out->list.count;
    RetBackup *inputs = memCalloc(count ? count : 1, sizeof(*inputs));
    out->decisions = memCalloc(count ? count : 1, sizeof(*out->decisions));
    catRetentionInput(catalog, &out->list, inputs);
    retEvaluate(inputs, count, &policy, out->now, out->decisions);
    free(inputs);
    catClose(catalog);

    out->totalBytes = catListTotalBytes(&out->list);
    for (size_t index = 0; index < count; index++) {
        const CatEntry *entry = &out->list.entries[index];
        const char *status = catEntryStatus(entry);
        /* Valid means restorable as far as a cheap look tells: a COMPLETE
         * manifest whose archive is missing is never "the latest backup". */
        if (!entry->manifest) {
            out->damagedCount++;
        } else if (catEntryUsable(entry)) {
            out->validCount++;
            if (out->newestValid < 0)
                out->newestValid = (long)index;
        } else if (strcmp(status, MANIFEST_STATUS_CORRUPTED) == 0) {
            out->corruptedCount++;
        } else if (strcmp(status, CAT_STATUS_INCOMPLETE) == 0) {
            out->incompleteCount++;
        } else {
            out->failedCount++;
        }
    }
    return ERR_OK;
}

void apiSnapshotFree(ApiSnapshot *snapshot)
{
    catListFree(&snapshot->list);
    free(snapshot->decisions);
    snapshot->decisions = NULL;
}

/* ---- Prometheus text ---------------------------------------------------------- */

static void apiMetricFamily(Buffer *out, const char *name, const char *type, const char *help)
{
    bufferAppendF(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void apiMetricInt(Buffer *out, const char *name, const char *help, int64_t value)
{
    apiMetricFamily(out, name, "gauge", help);
    bufferAppendF(out, "%s %" PRId64 "\n", name, value);
}

void apiMetricsFormat(const ApiSnapshot *snapshot, Buffer *out)
{
    /* The scheduler's own families first, as it always wrote them. */
    Buffer scheduler;
    bufferInit(&scheduler);
    schedMetricsFormat(&snapshot->scheduler, &scheduler);
    if (scheduler.length > 0)
        bufferAppend(out, scheduler.data, scheduler.length - 1); /* without its NUL */
    bufferFree(&scheduler);

    apiMetricFamily(out, "neo4j_backup_info", "gauge", "Version of the neo4j-backup tool that wrote these metrics.");
    bufferAppendF(out, "neo4j_backup_info{version=\"%s\"} 1\n", NBK_VERSION);
    apiMetricInt(out, "neo4j_backup_scheduler_running", "1 while a scheduler process runs for this storage path.",
                 snapshot->schedulerRunning ? 1 : 0);

    apiMetricFamily(out, "neo4j_backup_catalog_backups", "gauge", "Backups in the catalog by status.");
    bufferAppendF(out, "neo4j_backup_catalog_backups{status=\"valid\"} %zu\n", snapshot->validCount);
    bufferAppendF(out, "neo4j_backup_catalog_backups{status=\"failed\"} %zu\n", snapshot->failedCount);
    bufferAppendF(out, "neo4j_backup_catalog_backups{status=\"corrupted\"} %zu\n", snapshot->corruptedCount);
    bufferAppendF(out, "neo4j_backup_catalog_backups{status=\"damaged\"} %zu\n", snapshot->damagedCount);
    bufferAppendF(out, "neo4j_backup_catalog_backups{status=\"incomplete\"} %zu\n", snapshot->incompleteCount);
    apiMetricInt(out, "neo4j_backup_catalog_bytes", "Bytes stored by all backups of the catalog.",
                 (int64_t)snapshot->totalBytes);

    const Manifest *latest = snapshot->newestValid >= 0
                                 ? snapshot->list.entries[snapshot->newestValid].manifest
                                 : NULL;
    apiMetricInt(out, "neo4j_backup_latest_timestamp_seconds",
                 "Creation time of the newest valid backup, whoever made it (0: none).",
                 latest ? latest->created : 0);
    apiMetricFamily(out, "neo4j_backup_latest_duration_seconds", "gauge", "Duration of the newest valid backup.");
    bufferAppendF(out, "neo4j_backup_latest_duration_seconds %.3f\n", latest ? latest->durationSeconds : 0.0);
    apiMetricFamily(out, "neo4j_backup_latest_size_bytes", "gauge", "Archive size of the newest valid backup.");
    bufferAppendF(out, "neo4j_backup_latest_size_bytes{kind=\"compressed\"} %" PRIu64 "\n",
                  latest ? latest->archive.sizeCompressed : 0);
    bufferAppendF(out, "neo4j_backup_latest_size_bytes{kind=\"uncompressed\"} %" PRIu64 "\n",
                  latest ? latest->archive.sizeUncompressed : 0);
    apiMetricInt(out, "neo4j_backup_latest_nodes", "Nodes in the newest valid backup.",
                 latest ? (int64_t)latest->stats.nodes : 0);
    apiMetricInt(out, "neo4j_backup_latest_relationships", "Relationships in the newest valid backup.",
                 latest ? (int64_t)latest->stats.relationships : 0);
    apiMetricInt(out, "neo4j_backup_latest_validated", "1 when the newest valid backup passed --validate.",
                 latest && strcmp(latest->status, MANIFEST_STATUS_VALIDATED) == 0 ? 1 : 0);

    if (snapshot->haveSpace) {
        apiMetricInt(out, "neo4j_backup_storage_free_bytes", "Bytes available on the storage path's file system.",
                     (int64_t)snapshot->space.availableBytes);
        apiMetricInt(out, "neo4j_backup_storage_size_bytes", "Size of the storage path's file system.",
                     (int64_t)snapshot->space.totalBytes);
    }

    apiMetricFamily(out, "neo4j_backup_recovery_state", "gauge",
                    "Recovery state machine: 1 for the current state (neo4j-restore --status).");
    static const RecoveryState states[] = {RECOVERY_NOT_RECOVERING, RECOVERY_RECOVERING, RECOVERY_VALIDATION,
                                           RECOVERY_SUCCESS, RECOVERY_FAILED};
    for (size_t index = 0; index < sizeof(states) / sizeof(states[0]); index++)
        bufferAppendF(out, "neo4j_backup_recovery_state{state=\"%s\"} %d\n", recoveryStateName(states[index]),
                      snapshot->recovery.state == states[index] ? 1 : 0);
    apiMetricInt(out, "neo4j_backup_recovery_state_timestamp_seconds",
                 "When the recovery state was entered (0: never restored).", snapshot->recovery.since);
    /* Only once a restore finished: absent rather than a false alarm. */
    if (snapshot->recovery.state == RECOVERY_SUCCESS || snapshot->recovery.state == RECOVERY_FAILED)
        apiMetricInt(out, "neo4j_backup_last_restore_success",
                     "1 when the last finished restore passed its health checks, 0 when it failed.",
                     snapshot->recovery.state == RECOVERY_SUCCESS ? 1 : 0);
}

static pthread_mutex_t apiMetricsFileLock = PTHREAD_MUTEX_INITIALIZER;

void apiMetricsWriteFile(const Config *config, const SchedState *schedulerState)
{
    const char *path = cfgGet(config, CFG_BACKUP_METRICS_FILE);
    if (!path)
        return;
    ApiSnapshot snapshot;
    ErrCode code = apiSnapshotTake(config, schedulerState, &snapshot);
    Buffer text;
    bufferInit(&text);
    if (code == ERR_OK)
        apiMetricsFormat(&snapshot, &text);
    apiSnapshotFree(&snapshot);
    /* fsWriteAtomic's temporary name is per process: one writer at a time. */
    pthread_mutex_lock(&apiMetricsFileLock);
    if (code == ERR_OK)
        code = fsWriteAtomic(path, text.data, text.length, 0644);
    pthread_mutex_unlock(&apiMetricsFileLock);
    if (code != ERR_OK)
        logWarn("Could not write BACKUP_METRICS_FILE: %s", errLast()->reason);
    bufferFree(&text);
}
