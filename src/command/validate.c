/* neo4j-backup --validate: the archive's checksum, then every block, record,
 * count and relationship endpoint of the archive. */
#include "command/dump.h"
#include "command/support.h"
#include "command/verify.h"

#include "common/log.h"
#include "common/timeutil.h"
#include "restore/health.h"

#include <inttypes.h>
#include <string.h>

typedef struct {
    bool valid;
    const char *fingerprint;
} ValidateVerdict;

static ErrCode validateRecordVerdict(Manifest *manifest, void *payload)
{
    const ValidateVerdict *verdict = payload;
    manifestSetString(&manifest->status, verdict->valid ? MANIFEST_STATUS_VALIDATED : MANIFEST_STATUS_CORRUPTED);
    if (verdict->valid) {
        manifest->validatedAt = timeNow();
        if (!manifest->contentFingerprint && verdict->fingerprint[0])
            manifestSetString(&manifest->contentFingerprint, verdict->fingerprint);
    }
    return ERR_OK;
}

/* Reads the whole archive and compares it with the manifest. */
static ErrCode validateContent(const char *archivePath, const Manifest *manifest, ArchiveContent *content)
{
    ErrCode code = healthArchiveContentRead(archivePath, content);
    if (code != ERR_OK)
        return code;
    logInfo("Blocks and records: PASSED (%" PRIu64 " nodes, %" PRIu64 " relationships, %" PRIu64
            " schema items)", content->nodes, content->relationships, content->schemaCount);
    if (content->nodes != manifest->stats.nodes || content->relationships != manifest->stats.relationships)
        return errSet(BACKUP_CORRUPTED,
                      "the archive holds %" PRIu64 " nodes and %" PRIu64 " relationships, the manifest "
                      "says %" PRIu64 " and %" PRIu64, content->nodes, content->relationships,
                      manifest->stats.nodes, manifest->stats.relationships);
    logInfo("Counts against manifest: PASSED");
    if (!manifestHasCounts(manifest)) {
        logInfo("Counts per label and type: skipped (the manifest has none: an older backup)");
    } else {
        GraphCounts recorded;
        manifestGetCounts(manifest, &recorded);
        char finding[512];
        uint32_t differences = graphCountsCompare(&recorded, &content->counts, finding, sizeof(finding));
        graphCountsFree(&recorded);
        if (differences)
            return errSet(BACKUP_CORRUPTED,
                          "the archive's counts per label and type differ from the manifest's: %s", finding);
        logInfo("Counts per label and type against manifest: PASSED (%zu labels, %zu relationship types)",
                content->counts.labels.count, content->counts.types.count);
    }
    if (content->orphanRelationships)
        return errSet(BACKUP_CORRUPTED, "Found %" PRIu64 " orphaned relationships in the archive",
                      content->orphanRelationships);
    logInfo("Orphan detection: PASSED");
    if (manifest->contentFingerprint && strcmp(manifest->contentFingerprint, content->fingerprint) != 0)
        return errSet(BACKUP_CORRUPTED, "content fingerprint %s differs from the manifest's %s",
                      content->fingerprint, manifest->contentFingerprint);
    return ERR_OK;
}

ErrCode cmdValidate(CommandContext *context, const char *backupId)
{
    Catalog *catalog = NULL;
    CatEntry entry = {0};
    Lock *backupLock = NULL;
    ArchiveContent content;
    memset(&content, 0, sizeof(content));
    bool reported = false;
    ErrCode code = catIdCheck(backupId);
    if (code == ERR_OK)
        code = supportOpenCatalog(context, false, &catalog);
    if (code == ERR_OK)
        code = catFind(catalog, backupId, &entry);
    if (code == ERR_OK)
        code = catLockBackup(catalog, backupId, LOCK_SHARED, 5000, "backup --validate", &backupLock);
    char archivePath[4096] = "";
    if (code == ERR_OK) {
        logInfo("Validating backup integrity of %s...", backupId);
        code = verifyChecksum(catalog, &entry, archivePath, sizeof(archivePath));
        reported = code == BACKUP_CORRUPTED;
    }
    if (code == ERR_OK && cmdDumpIsDump(entry.manifest)) {
        code = cmdDumpValidate(context, catalog, &entry, archivePath, &reported);
    } else if (code == ERR_OK) {
        code = validateContent(archivePath, entry.manifest, &content);
        if (code == BACKUP_CORRUPTED) {
            verifyReportCorrupted("Backup validation failed", NULL, NULL);
            reported = true;
        }
    }
    /* Record the verdict so that --list and retention see it (not in a dry run). */
    lockRelease(backupLock);
    backupLock = NULL;
    if (entry.manifest && !context->dryRun && (code == ERR_OK || code == BACKUP_CORRUPTED)) {
        ErrDetail failure = errSave();
        ValidateVerdict verdict = {code == ERR_OK, content.fingerprint};
        ErrCode saveCode = catManifestUpdate(catalog, backupId, validateRecordVerdict, &verdict);
        if (saveCode != ERR_OK && code == ERR_OK)
            code = saveCode;
        else if (saveCode != ERR_OK)
            logWarn("Could not record the verdict in the manifest: %s", errLast()->reason);
        if (code == BACKUP_CORRUPTED)
            errRestore(&failure);
    }
    healthArchiveContentFree(&content);
    lockRelease(backupLock);
    catEntryFree(&entry);
    catClose(catalog);
    if (code == ERR_OK) {
        logSuccess("Backup %s is valid%s", backupId, context->dryRun ? " (dry run: status not updated)" : "");
    } else if (!reported) {
        logErrorBlock("Backup validation failed", false);
    }
    return code;
}
