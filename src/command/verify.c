/* The contract's lines for a backup's integrity checks (catalog/validate.h),
 * shared by --validate and neo4j-restore. */
#include "command/verify.h"

#include "common/log.h"

void verifyReportCorrupted(const char *headline, const char *expected, const char *got)
{
    catValidateReportCorrupted(headline, expected, got);
}

ErrCode verifyChecksum(const Catalog *catalog, const CatEntry *entry, char *archivePath,
                       size_t archivePathSize)
{
    CatChecksum checksum;
    ErrCode code = catChecksumVerify(catalog, entry, archivePath, archivePathSize, &checksum);
    if (code == BACKUP_CORRUPTED)
        verifyReportCorrupted("Backup validation failed", checksum.mismatch ? checksum.expected : NULL,
                              checksum.mismatch ? checksum.got : NULL);
    else if (code == ERR_OK)
        logInfo("Checksum verification: PASSED");
    return code;
}
