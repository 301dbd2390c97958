/* The restore's settings resolved from the configuration, for the front
 * ends that fill a RestoreRequest (neo4j-restore, the HTTP API): the test
 * target and production as instances, RESTORE_LOAD, RESTORE_IMPORT_DIR.
 * The service itself (restore_service.h) reads no configuration.
 *
 * Ownership: RestoreSettings owns its instances (restoreSettingsFree); the
 * Config must outlive it (scratchDirectory is borrowed from it). */
#ifndef NBK_RESTORE_RESTORE_SETTINGS_H
#define NBK_RESTORE_RESTORE_SETTINGS_H

#include "common/config.h"
#include "restore/restore_service.h"

typedef struct {
    InstanceConfig target;
    InstanceConfig production;
    RestoreLoad load;
    const char *scratchDirectory; /* RESTORE_IMPORT_DIR, NULL when unset */
    const char *stateDirectory;   /* BACKUP_STATE_DIR or its default (catStateDirectory) */
    CryptoMasterKey masterKey;    /* restoreSettingsResolveKey; wiped by restoreSettingsFree */
    bool hasMasterKey;
} RestoreSettings;

/* Resolves targetName (NULL = CFG_DEFAULT_TARGET) and production; errors
 * as cfgInstance's, CONFIG_INVALID for a bad RESTORE_LOAD. out is zeroed
 * first and may be freed after a failure. */
ErrCode restoreSettingsResolve(const Config *config, const char *targetName, RestoreSettings *out);
/* Points request's instances, load and scratch directory at settings. */
void restoreSettingsApply(const RestoreSettings *settings, RestoreRequest *request);
void restoreSettingsFree(RestoreSettings *settings);
/* The master key of the settings (a key file, or a passphrase under the
 * repository's key record in catalog), for encrypted backups; nothing set
 * leaves hasMasterKey false. A wrong passphrase is BACKUP_KEY_INVALID. */
ErrCode restoreSettingsResolveKey(const Config *config, Catalog *catalog, RestoreSettings *settings);

#endif
