/* Integrity checks of a backup shared by --validate and neo4j-restore. */
#ifndef NBK_COMMAND_VERIFY_H
#define NBK_COMMAND_VERIFY_H

#include "catalog/catalog.h"
#include "catalog/validate.h"
#include "common/error.h"

/* Recomputes the SHA-256 of the backup's archive and compares it with the
 * manifest. On a mismatch prints the contract's corrupted-backup lines and
 * returns BACKUP_CORRUPTED; a missing archive is BACKUP_CORRUPTED too. The
 * archive's path is written to archivePath. */
ErrCode verifyChecksum(const Catalog *catalog, const CatEntry *entry, char *archivePath,
                       size_t archivePathSize);
/* Prints the contract's failure block for a corrupted backup. */
void verifyReportCorrupted(const char *headline, const char *expected, const char *got);

#endif
