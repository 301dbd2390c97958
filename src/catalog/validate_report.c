/* The contract's lines for repository validation (catalog/validate.h), written
 * once for every front end (--validate, neo4j-restore, the API's validate
 * jobs) through common/log. */
#include "catalog/validate.h"

#include "common/log.h"

#include <inttypes.h>

void catValidateReportCorrupted(const char *headline, const char *expected, const char *got)
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

void catValidateReportEvent(const CatValidateEvent *event, void *payload)
{
    switch (event->kind) {
    case CAT_VALIDATE_STARTING:
        logInfo("Validating backup integrity of %s...", event->backupId);
        break;
    case CAT_VALIDATE_CHECKSUM_PASSED:
        logInfo("Checksum verification: PASSED");
        break;
    case CAT_VALIDATE_BLOCKS_PASSED:
        logInfo("Blocks and records: PASSED (%" PRIu64 " nodes, %" PRIu64 " relationships, %" PRIu64
                " schema items)", event->nodes, event->relationships, event->schemaItems);
        break;
    case CAT_VALIDATE_COUNTS_PASSED:
        logInfo("Counts against manifest: PASSED");
        break;
    case CAT_VALIDATE_LABEL_COUNTS_SKIPPED:
        logInfo("Counts per label and type: skipped (the manifest has none: an older backup)");
        break;
    case CAT_VALIDATE_LABEL_COUNTS_PASSED:
        logInfo("Counts per label and type against manifest: PASSED (%zu labels, %zu relationship types)",
                event->labels, event->types);
        break;
    case CAT_VALIDATE_ORPHANS_PASSED:
        logInfo("Orphan detection: PASSED");
        break;
    case CAT_VALIDATE_CORRUPTED:
        catValidateReportCorrupted("Backup validation failed", event->checksum ? event->checksum->expected : NULL,
                              event->checksum ? event->checksum->got : NULL);
        break;
    case CAT_VALIDATE_CONTENT_NOT_CHECKED:
        logInfo("Archive framing and CRC-32C of every section: PASSED (%" PRIu64 " bytes, encrypted)", event->bytes);
        logWarn("Content NOT checked: the backup is encrypted and no key was given (set "
                "BACKUP_ENCRYPTION_KEY_FILE or BACKUP_ENCRYPTION_PASSPHRASE for the full check)");
        break;
    case CAT_VALIDATE_DAMAGE_LOCATED:
        logError("Damage located: %s", event->text);
        break;
    case CAT_VALIDATE_KEY_ACCEPTED:
        logInfo("Encryption: key %s accepted, manifest authenticated", event->text);
        break;
    case CAT_VALIDATE_CHAIN_LINKS_PASSED:
        logInfo("Chain links: PASSED (%zu backups: a full and %zu differential%s)", event->links, event->links - 1, event->links == 2 ? "" : "s");
        break;
    case CAT_VALIDATE_CHAIN_ARCHIVE_PASSED:
        logInfo("Chain link %s: archive checksum PASSED", event->text);
        break;
    case CAT_VALIDATE_CHAIN_CONTENT_NOT_CHECKED:
        logInfo("Archive framing and CRC-32C of every section: PASSED");
        logWarn("Merged content of the chain NOT checked (%s): the verdict is not recorded", event->text);
        break;
    case CAT_VALIDATE_VERDICT_NOT_RECORDED:
        logWarn("Could not record the verdict in the manifest: %s", event->text);
        break;
    }
}
