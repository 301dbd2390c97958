/* The contract's lines for the backup service's events (backup/backup.h):
 * what `neo4j-backup --create`, the scheduler and the API's create jobs show,
 * written once for all of them through common/log. */
#include "backup/backup.h"

#include "common/format.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <inttypes.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

void backupReportInit(BackupReport *report)
{
    report->terminal = isatty(STDERR_FILENO) == 1;
    report->lastLogged = 0;
}

static void backupReportProgress(BackupReport *report, const LogicalBackupProgress *progress)
{
    uint64_t records = progress->nodes + progress->relationships;
    double rate = progress->seconds > 0 ? (double)records / progress->seconds : 0;
    char written[FORMAT_TEXT_SIZE];
    fmtSize(written, sizeof(written), progress->bytesWritten);
    if (report->terminal) {
        fprintf(stderr, "\r  %-22s %" PRIu64 " nodes, %" PRIu64 " relationships, %.0f records/s, %s written   ",
                logicalBackupPhaseName(progress->phase), progress->nodes, progress->relationships, rate, written);
        if (progress->phase == LOGICAL_PHASE_DONE)
            fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    /* Plain log lines: phase changes and every million records. */
    if (records - report->lastLogged >= 1000000 || progress->phase != LOGICAL_PHASE_NODES) {
        if (progress->phase == LOGICAL_PHASE_NODES || progress->phase == LOGICAL_PHASE_RELATIONSHIPS ||
            records - report->lastLogged >= 1000000) {
            logDebug("Progress: %s, %" PRIu64 " nodes, %" PRIu64 " relationships, %.0f records/s, %s written",
                     logicalBackupPhaseName(progress->phase), progress->nodes, progress->relationships, rate,
                     written);
            report->lastLogged = records;
        }
    }
}

static void backupReportWritten(const BackupEvent *event)
{
    const BackupResult *result = event->result;
    logInfo("Backup created successfully in %.0f seconds", result->seconds);
    if (result->lateNodes || result->droppedRelationships)
        logInfo("Consistency: %" PRIu64 " nodes created during the backup were added; %" PRIu64
                " relationships whose endpoint was deleted during the backup were left out",
                result->lateNodes, result->droppedRelationships);
    char compressed[FORMAT_TEXT_SIZE];
    char original[FORMAT_TEXT_SIZE];
    char percent[FORMAT_TEXT_SIZE];
    if (event->request->compression != ARC_COMPRESSION_NONE)
        logInfo("Compressing backup with %s...", arcCompressionName(event->request->compression));
    logInfo("Compressed size: %s (%s of original %s)",
            fmtSize(compressed, sizeof(compressed), result->compressedBytes),
            fmtPercent(percent, sizeof(percent), result->compressedBytes, result->uncompressedBytes),
            fmtSize(original, sizeof(original), result->uncompressedBytes));
    logInfo("Computing checksum...");
}

void backupReportEvent(const BackupEvent *event, void *payload)
{
    const BackupRequest *request = event->request;
    const BackupResult *result = event->result;
    switch (event->kind) {
    case BACKUP_EVENT_STARTING:
        logInfo("Starting backup creation...");
        break;
    case BACKUP_EVENT_SERVER_VERSION:
        logInfo("Neo4j version: %s", result->serverVersion);
        break;
    case BACKUP_EVENT_DRY_RUN:
        logInfo("Dry run: would back up database %s at %s (%" PRIu64 " nodes, %" PRIu64 " relationships)",
                request->source->database, result->safeUri, result->sourceNodes, result->sourceRelationships);
        logInfo("Dry run: would write %s/%s/%s (%s) and a BackupMetadata node; nothing was changed",
                request->storagePath, result->id, arcFileName(request->compression),
                arcCompressionName(request->compression));
        break;
    case BACKUP_EVENT_LEFTOVER_REMOVED:
        logWarn("Removed leftover of an interrupted run: %s", event->text);
        break;
    case BACKUP_EVENT_SPACE: {
        char required[FORMAT_TEXT_SIZE];
        char available[FORMAT_TEXT_SIZE];
        logDebug("Space: %s required (estimated from %s), %s available (%.1f%% free)",
                 fmtSizeWhole(required, sizeof(required), event->space->requiredBytes), event->space->basis,
                 fmtSizeWhole(available, sizeof(available), event->space->availableBytes),
                 event->space->freePercent);
        break;
    }
    case BACKUP_EVENT_TYPE:
        if (result->parentId[0])
            logInfo("Backup type: differential of %s (link %u of its chain)", result->parentId,
                    result->chainDepth + 1);
        else
            logInfo("Backup type: full (%s)", result->typeReason);
        break;
    case BACKUP_EVENT_RUNNING:
        logInfo("Running: online logical backup of database %s (%s) into %s/%s", request->source->database,
                result->safeUri, request->storagePath, result->id);
        break;
    case BACKUP_EVENT_PROGRESS:
        if (payload)
            backupReportProgress(payload, event->progress);
        break;
    case BACKUP_EVENT_WRITTEN:
        backupReportWritten(event);
        break;
    case BACKUP_EVENT_METADATA_FAILED:
        logWarn("Could not record the BackupMetadata node in %s: %s", request->source->database, event->text);
        break;
    case BACKUP_EVENT_COMPLETED:
        logInfo("Backup ID: %s", result->id);
        logInfo("Checksum SHA256: %s", result->sha256);
        logInfo("Graph stats: %" PRIu64 " nodes, %" PRIu64 " relationships, %" PRIu64 " schema items",
                result->nodes, result->relationships, result->schemaItems);
        if (result->differential)
            logInfo("Differential of %s: %" PRIu64 " nodes and %" PRIu64 " relationships new or changed, %" PRIu64
                    " nodes and %" PRIu64 " relationships deleted",
                    result->parentId, result->changedNodes, result->changedRelationships, result->deletedNodes,
                    result->deletedRelationships);
        else if (result->typeReason[0] && strncmp(result->typeReason, "the schema changed", 18) == 0)
            logInfo("Backup type: full (%s)", result->typeReason);
        logSuccess("Backup completed");
        break;
    }
}

void backupReportFailure(const BackupResult *result)
{
    logErrorBlock("Failed to create backup", result && result->critical);
}
