/* Integrity checks of a backup shared by --validate and neo4j-restore:
 * checksum, every block, record structure, counts and orphans. */
#include "command/verify.h"

#include "archive/archive.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>

void verifyReportCorrupted(const char *headline, const char *expected, const char *got)
{
    logError("%s", headline);
    logError("Code: %s (%s)", errName(BACKUP_CORRUPTED), errDefaultMessage(BACKUP_CORRUPTED));
    if (expected && got) {
        logError("Checksum mismatch!");
        logError("Expected: %s", expected);
        logError("Got: %s", got);
    } else {
        logError("Reason: %s", errLast()->reason);
    }
    logError("This backup appears to be corrupted on disk");
    logError("Action: %s", errDefaultAction(BACKUP_CORRUPTED));
}

ErrCode verifyChecksum(const Catalog *catalog, const CatEntry *entry, char *archivePath,
                       size_t archivePathSize)
{
    if (!entry->manifest) {
        errSet(BACKUP_CORRUPTED, "%s", entry->damage);
        verifyReportCorrupted("Backup validation failed", NULL, NULL);
        return BACKUP_CORRUPTED;
    }
    const Manifest *manifest = entry->manifest;
    char directory[4096];
    ErrCode code = catBackupPath(catalog, entry->id, directory, sizeof(directory));
    if (code == ERR_OK)
        code = fsPathJoin(archivePath, archivePathSize, directory,
                          manifest->archive.file ? manifest->archive.file : "");
    if (code != ERR_OK)
        return code;
    if (!manifest->archive.file || !fsExists(archivePath)) {
        errSet(BACKUP_CORRUPTED, "the archive file %s is missing", archivePath);
        verifyReportCorrupted("Backup validation failed", NULL, NULL);
        return BACKUP_CORRUPTED;
    }
    char got[65];
    uint64_t size = 0;
    code = arcSha256File(archivePath, got, &size);
    if (code != ERR_OK)
        return code;
    const char *expected = manifest->archive.sha256 ? manifest->archive.sha256 : "(none)";
    if (strcmp(got, expected) != 0) {
        errSet(BACKUP_CORRUPTED, "checksum mismatch for %s", archivePath);
        verifyReportCorrupted("Backup validation failed", expected, got);
        return BACKUP_CORRUPTED;
    }
    logInfo("Checksum verification: PASSED");
    return ERR_OK;
}
