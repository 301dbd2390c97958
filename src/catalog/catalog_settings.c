/* Opening the catalog and reading its policy from the configuration, and a
 * backup's JSON form: the same for every front end (catalog/catalog_settings.h). */
#include "catalog/catalog_settings.h"

#include "common/timeutil.h"
#include "storage/storage_settings.h"

#include <string.h>

ErrCode catOpenConfigured(const Config *config, bool create, Catalog **out)
{
    const char *root = cfgGet(config, CFG_BACKUP_STORAGE_PATH);
    if (!root) {
        cfgStoragePathMissing();
        errSetAction("Set BACKUP_STORAGE_PATH to the directory that holds the backups");
        return CONFIG_INVALID;
    }
    StorageLocation location;
    if (storageLocationParse(root, &location) == ERR_OK && location.kind == STORAGE_LOCATION_POSIX)
        return catOpen(out, root, create);
    /* Object storage (or a location storageOpenConfigured refuses with the reason). */
    Storage *storage = NULL;
    ErrCode code = storageOpenConfigured(config, create, &storage);
    if (code != ERR_OK)
        return code;
    return catOpenStorage(out, storage);
}

bool catStorageIsLocal(const Config *config)
{
    const char *root = cfgGet(config, CFG_BACKUP_STORAGE_PATH);
    StorageLocation location;
    return root && storageLocationParse(root, &location) == ERR_OK && location.kind == STORAGE_LOCATION_POSIX;
}

const char *catStateDirectory(const Config *config)
{
    const char *stateDir = cfgGet(config, CFG_BACKUP_STATE_DIR);
    if (stateDir && stateDir[0])
        return stateDir;
    if (!cfgGet(config, CFG_BACKUP_STORAGE_PATH)) {
        cfgStoragePathMissing();
        return NULL;
    }
    return catStorageIsLocal(config) ? cfgGet(config, CFG_BACKUP_STORAGE_PATH) : CAT_STATE_DIR_DEFAULT;
}

ErrCode catRetentionPolicyConfigured(const Config *config, RetPolicy *out)
{
    ErrCode code = cfgGetInt(config, CFG_BACKUP_RETENTION_DAYS, &out->days);
    if (code == ERR_OK)
        code = cfgGetInt(config, CFG_BACKUP_KEEP_WEEKLY, &out->weeks);
    if (code == ERR_OK)
        code = cfgGetInt(config, CFG_BACKUP_KEEP_MONTHLY, &out->months);
    return code;
}

bool catCopyConfigured(const Config *config)
{
    const char *copy = cfgGet(config, CFG_BACKUP_COPY_PATH);
    return copy && copy[0];
}

ErrCode catCopyOpenConfigured(const Config *config, bool create, Catalog **out)
{
    *out = NULL;
    const char *copy = cfgGet(config, CFG_BACKUP_COPY_PATH);
    if (!copy || !copy[0])
        return ERR_OK;
    StorageLocation location;
    ErrCode code = storageLocationParse(copy, &location);
    if (code != ERR_OK) {
        errSetAction("Check BACKUP_COPY_PATH: a directory, or s3://bucket/prefix");
        return code;
    }
    if (location.kind == STORAGE_LOCATION_POSIX) {
        code = catOpen(out, location.path, create);
        if (code != ERR_OK)
            errSetAction("Check BACKUP_COPY_PATH");
        return code;
    }
    Storage *storage = NULL;
    code = storageOpenLocation(config, copy, "BACKUP_COPY_PATH", create, &storage);
    if (code != ERR_OK)
        return code;
    return catOpenStorage(out, storage);
}

/* A copy setting when set, else the primary's. */
static ErrCode catCopySetting(const Config *config, CfgKey copyKey, CfgKey primaryKey, int64_t *out)
{
    const char *value = cfgGet(config, copyKey);
    return cfgGetInt(config, value && value[0] ? copyKey : primaryKey, out);
}

ErrCode catCopyRetentionPolicyConfigured(const Config *config, RetPolicy *out)
{
    ErrCode code = catCopySetting(config, CFG_BACKUP_COPY_RETENTION_DAYS, CFG_BACKUP_RETENTION_DAYS, &out->days);
    if (code == ERR_OK)
        code = catCopySetting(config, CFG_BACKUP_COPY_KEEP_WEEKLY, CFG_BACKUP_KEEP_WEEKLY, &out->weeks);
    if (code == ERR_OK)
        code = catCopySetting(config, CFG_BACKUP_COPY_KEEP_MONTHLY, CFG_BACKUP_KEEP_MONTHLY, &out->months);
    return code;
}

static json_object *catLocationJson(const CatEntry *entry)
{
    json_object *item = json_object_new_object();
    json_object_object_add(item, "present", json_object_new_boolean(entry != NULL));
    json_object_object_add(item, "valid", json_object_new_boolean(entry && catEntryUsable(entry)));
    if (entry)
        json_object_object_add(item, "status", json_object_new_string(catEntryStatus(entry)));
    return item;
}

void catEntryAddLocations(json_object *item, const CatEntry *primary, const CatEntry *copy, bool copyListed)
{
    json_object_object_add(item, "location", json_object_new_string(primary && copy ? "both"
                                                                     : primary       ? "primary"
                                                                                     : "copy"));
    json_object *copies = json_object_new_object();
    json_object_object_add(copies, "primary", catLocationJson(primary));
    json_object *copyItem = catLocationJson(copy);
    if (!copyListed)
        json_object_object_add(copyItem, "listed", json_object_new_boolean(false));
    json_object_object_add(copies, "copy", copyItem);
    json_object_object_add(item, "copies", copies);
}

json_object *catEntryJson(const CatEntry *entry, const RetDecision *decision, int64_t now)
{
    json_object *item = entry->manifest ? manifestToJson(entry->manifest) : json_object_new_object();
    if (!entry->manifest) {
        json_object_object_add(item, "id", json_object_new_string(entry->id));
        json_object_object_add(item, "status", json_object_new_string("DAMAGED"));
        json_object_object_add(item, "damage", json_object_new_string(entry->damage));
    } else if (strcmp(catEntryStatus(entry), entry->manifest->status) != 0) {
        /* The archive contradicts the manifest: show what holds, keep what was recorded. */
        char problem[512];
        json_object_object_add(item, "recorded_status", json_object_new_string(entry->manifest->status));
        json_object_object_add(item, "status", json_object_new_string(catEntryStatus(entry)));
        json_object_object_add(item, "problem",
                               json_object_new_string(catEntryProblem(entry, problem, sizeof(problem))));
    }
    char text[TIME_TEXT_SIZE];
    if (decision->expires > 0) {
        timeFormatIso(decision->expires, text);
        json_object_object_add(item, "expires", json_object_new_string(text));
    }
    json_object_object_add(item, "encrypted",
                           json_object_new_boolean(entry->manifest && entry->manifest->encryption.present));
    json_object_object_add(item, "expiring_soon", json_object_new_boolean(retExpiringSoon(decision, now)));
    json_object_object_add(item, "disk_bytes", json_object_new_int64((int64_t)entry->diskBytes));
    return item;
}

void catEntryAddChain(json_object *item, const CatList *list, size_t index)
{
    if (!list->entries[index].manifest)
        return;
    CatChainInfo info;
    catListChainInfo(list, index, &info);
    json_object_object_add(item, "type", json_object_new_string(info.diff ? MANIFEST_TYPE_DIFF : MANIFEST_TYPE_FULL));
    if (info.parentId)
        json_object_object_add(item, "parent_id", json_object_new_string(info.parentId));
    json_object_object_add(item, "own_bytes", json_object_new_int64((int64_t)info.ownBytes));
    json_object_object_add(item, "chain_bytes", json_object_new_int64((int64_t)info.chainBytes));
    json_object_object_add(item, "chain_backups", json_object_new_int64((int64_t)info.links));
    json_object_object_add(item, "chain_complete", json_object_new_boolean(info.complete));
    json_object_object_add(item, "chain_mixed_keys", json_object_new_boolean(info.mixedKeys));
}
