/* The restore's settings from the configuration, resolved once for every
 * front end (restore_settings.h). */
#include "restore/restore_settings.h"

#include "catalog/catalog_key.h"
#include "catalog/catalog_settings.h"

#include <string.h>

ErrCode restoreSettingsResolve(const Config *config, const char *targetName, RestoreSettings *out)
{
    memset(out, 0, sizeof(*out));
    /* TEST_NEO4J_CONTAINER is that target's container, not a target. */
    ErrCode code = cfgInstance(config, targetName ? targetName : CFG_DEFAULT_TARGET, &out->target);
    if (code == ERR_OK)
        code = cfgInstance(config, CFG_PRODUCTION_INSTANCE, &out->production);
    if (code == ERR_OK)
        code = restoreLoadParse(cfgGet(config, CFG_RESTORE_LOAD), &out->load);
    out->scratchDirectory = cfgGet(config, CFG_RESTORE_IMPORT_DIR);
    /* Without a storage path there is none: the catalog's own open reports
     * that, and the error of the steps above must survive this look. */
    ErrDetail saved = errSave();
    out->stateDirectory = catStateDirectory(config);
    errRestore(&saved);
    return code;
}

void restoreSettingsApply(const RestoreSettings *settings, RestoreRequest *request)
{
    request->target = &settings->target;
    request->production = &settings->production;
    request->load = settings->load;
    request->scratchDirectory = settings->scratchDirectory;
    request->stateDirectory = settings->stateDirectory;
    request->masterKey = settings->hasMasterKey ? &settings->masterKey : NULL;
}

ErrCode restoreSettingsResolveKey(const Config *config, Catalog *catalog, RestoreSettings *settings)
{
    return catMasterKeyConfigured(config, catalog, false, &settings->masterKey, &settings->hasMasterKey);
}

void restoreSettingsFree(RestoreSettings *settings)
{
    cfgInstanceFree(&settings->target);
    cfgInstanceFree(&settings->production);
    cryptoMasterKeyWipe(&settings->masterKey);
    settings->hasMasterKey = false;
}
