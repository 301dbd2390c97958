/* neo4j-backup --list: the contract's "Available Backups" layout, or JSON. */
#include "command/support.h"

#include "common/format.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A label or type name on one line: control bytes (a name may hold any)
 * shown as \xNN so they cannot break the layout or the terminal. */
static void listPrintCountName(const char *name)
{
    for (const unsigned char *cursor = (const unsigned char *)name; *cursor; cursor++) {
        if (*cursor < 0x20 || *cursor == 0x7f)
            printf("\\x%02x", *cursor);
        else
            putchar(*cursor);
    }
}

/* -v: nodes per label and relationships per type, one per line. */
static void listPrintCounts(const Manifest *manifest)
{
    if (!manifest->privateOpen) {
        printf("  Per label/type: encrypted (label and type names are sealed in the manifest)\n");
        return;
    }
    if (!manifestHasCounts(manifest)) {
        printf("  Per label/type: not recorded (an older backup, or a dump taken while Neo4j was stopped)\n");
        return;
    }
    const struct {
        const char *title;
        const ManifestCount *counts;
        size_t count;
    } groups[] = {
        {"Nodes by label:", manifest->stats.labels, manifest->stats.labelCount},
        {"Relationships by type:", manifest->stats.types, manifest->stats.typeCount},
    };
    for (size_t group = 0; group < sizeof(groups) / sizeof(groups[0]); group++) {
        printf("  %s%s\n", groups[group].title, groups[group].count ? "" : " none");
        for (size_t index = 0; index < groups[group].count; index++) {
            printf("    ");
            listPrintCountName(groups[group].counts[index].name);
            printf(": %llu\n", (unsigned long long)groups[group].counts[index].count);
        }
    }
}

/* Room for a repository string once fmtPrintable has escaped it. */
#define LIST_SAFE_SIZE 2048

/* One entry's lines, without the blank line that ends it. Every string of the repository goes through fmtPrintable before it reaches
 * the terminal: a manifest is untrusted input and could carry escape sequences. */
/* A repository with differentials: each backup's type, and for a
 * differential its parent, own size and chain size (catListChainInfo). */
static void listPrintChain(const CatList *list, size_t index)
{
    char safe[LIST_SAFE_SIZE];
    char own[FORMAT_TEXT_SIZE], chain[FORMAT_TEXT_SIZE];
    CatChainInfo info;
    catListChainInfo(list, index, &info);
    if (!info.diff) {
        printf("  Type:           full\n");
        return;
    }
    printf("  Type:           differential (depth %u) of %s\n", list->entries[index].manifest->chainDepth,
           fmtPrintable(safe, sizeof(safe), info.parentId ? info.parentId : ""));
    printf("  Own Size:       %s\n", fmtSize(own, sizeof(own), info.ownBytes));
    printf("  Chain Size:     %s (%zu backup%s%s)\n", fmtSize(chain, sizeof(chain), info.chainBytes), info.links,
           info.links == 1 ? "" : "s", info.complete ? "" : ", incomplete: a parent is not listed");
    if (info.mixedKeys)
        printf("  Chain Keys:     MIXED: its links are not all encrypted with the same key\n");
}

static void listPrintEntry(const CatEntry *entry, const RetDecision *decision, const CatList *list, size_t index,
                           bool chains)
{
    char text[TIME_TEXT_SIZE];
    char sizeA[FORMAT_TEXT_SIZE];
    char sizeB[FORMAT_TEXT_SIZE];
    char percent[FORMAT_TEXT_SIZE];
    char safe[LIST_SAFE_SIZE];
    const Manifest *manifest = entry->manifest;
    printf("%s\n", fmtPrintable(safe, sizeof(safe), entry->id));
    timeFormatDisplay(entry->created, text);
    printf("  Created:        %s\n", text);
    if (decision->expires > 0) {
        timeFormatDisplay(decision->expires, text);
        printf("  Expires:        %s\n", text);
    } else {
        printf("  Expires:        never (kept)\n");
    }
    if (!manifest) {
        printf("  Status:         DAMAGED (%s)\n", fmtPrintable(safe, sizeof(safe), entry->damage));
        return;
    }
    char problem[512];
    catEntryProblem(entry, problem, sizeof(problem));
    printf("  Status:         %s%s\n", fmtPrintable(safe, sizeof(safe), catEntryStatus(entry)),
           manifest->keep ? " (kept)" : "");
    if (problem[0])
        printf("  Problem:        %s\n", fmtPrintable(safe, sizeof(safe), problem));
    if (manifest->method && strcmp(manifest->method, "logical") != 0)
        printf("  Method:         %s\n", fmtPrintable(safe, sizeof(safe), manifest->method));
    if (chains)
        listPrintChain(list, index);
    printf("  Uncompressed:   %s\n", fmtSize(sizeA, sizeof(sizeA), manifest->archive.sizeUncompressed));
    printf("  Compressed:     %s (%s)\n", fmtSize(sizeB, sizeof(sizeB), manifest->archive.sizeCompressed),
           fmtPercent(percent, sizeof(percent), manifest->archive.sizeCompressed,
                      manifest->archive.sizeUncompressed));
    if (manifest->encryption.present)
        printf("  Encryption:     encrypted (key id %s)\n",
               fmtPrintable(safe, sizeof(safe), manifest->encryption.keyId ? manifest->encryption.keyId : ""));
    char checksum[13];
    snprintf(checksum, sizeof(checksum), "%s", manifest->archive.sha256 ? manifest->archive.sha256 : "");
    printf("  Checksum:       %s...\n", fmtPrintable(safe, sizeof(safe), checksum));
    printf("  Graph Stats:    %llu nodes, %llu relationships\n",
           (unsigned long long)manifest->stats.nodes,
           (unsigned long long)manifest->stats.relationships);
    if (logVerbose())
        listPrintCounts(manifest);
    printf("  Backup Duration: %.0f seconds\n", manifest->durationSeconds);
    if (manifest->hasDowntime)
        printf("  Downtime:       %.0f seconds\n", manifest->downtimeSeconds);
}

/* Where one backup exists when a second location is configured. */
typedef struct {
    const CatEntry *entry;       /* what is shown: the primary's, else the copy's */
    const CatEntry *primary;     /* NULL: not in the primary */
    const CatEntry *copy;        /* NULL: not in the copy (or the copy could not be listed) */
    const RetDecision *decision; /* by the policy of the location shown */
    const CatList *list;         /* the listing entry is from, and its index there */
    size_t index;
} ListRow;

static const char *listLocationState(const CatEntry *entry)
{
    return catEntryUsable(entry) ? "valid" : catEntryStatus(entry);
}

static void listPrintLocations(const ListRow *row, bool copyListed)
{
    char safe[LIST_SAFE_SIZE];
    printf("  Locations:      ");
    if (row->primary)
        printf("primary (%s)", fmtPrintable(safe, sizeof(safe), listLocationState(row->primary)));
    else
        printf("primary: missing");
    if (row->copy)
        printf(", copy (%s)\n", fmtPrintable(safe, sizeof(safe), listLocationState(row->copy)));
    else
        printf(", copy: %s\n", copyListed ? "missing" : "unknown (not listed)");
}

static void listPrintJson(const ListRow *rows, size_t count, bool copyConfigured, bool copyListed,
                          uint64_t totalBytes, uint64_t copyBytes, int64_t now)
{
    json_object *root = json_object_new_object();
    json_object *backups = json_object_new_array();
    for (size_t index = 0; index < count; index++) {
        const ListRow *row = &rows[index];
        json_object *item = catEntryJson(row->entry, row->decision, now);
        catEntryAddChain(item, row->list, row->index);
        if (copyConfigured)
            catEntryAddLocations(item, row->primary, row->copy, copyListed);
        json_object_array_add(backups, item);
    }
    json_object_object_add(root, "backups", backups);
    json_object_object_add(root, "total_backups", json_object_new_int64((int64_t)count));
    json_object_object_add(root, "total_bytes", json_object_new_int64((int64_t)totalBytes));
    if (copyConfigured)
        json_object_object_add(root, "copy_total_bytes", json_object_new_int64((int64_t)copyBytes));
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

/* One location's list and the decisions of its policy; an absent local
 * directory lists as empty. */
typedef struct {
    Catalog *catalog;
    CatList list;
    RetDecision *decisions;
} ListLocation;

static void listLocationFree(ListLocation *location)
{
    free(location->decisions);
    catListFree(&location->list);
    catClose(location->catalog);
    memset(location, 0, sizeof(*location));
}

static void listDecide(ListLocation *location, const RetPolicy *policy, int64_t now)
{
    size_t count = location->list.count;
    RetBackup *inputs = memCalloc(count ? count : 1, sizeof(*inputs));
    location->decisions = memCalloc(count ? count : 1, sizeof(*location->decisions));
    if (location->catalog)
        catRetentionInput(location->catalog, &location->list, inputs);
    retEvaluate(inputs, count, policy, now, location->decisions);
    free(inputs);
}

/* The copy location's listing; a failure there is a warning, not a failed --list. */
static bool listCopyLocation(CommandContext *context, int64_t now, ListLocation *out)
{
    const char *where = cfgGet(context->config, CFG_BACKUP_COPY_PATH);
    RetPolicy policy;
    StorageLocation location;
    ErrCode code = catCopyRetentionPolicyConfigured(context->config, &policy);
    bool absent = code == ERR_OK && storageLocationParse(where, &location) == ERR_OK &&
                  location.kind == STORAGE_LOCATION_POSIX && !fsIsDirectory(location.path);
    if (code == ERR_OK && !absent)
        code = catCopyOpenConfigured(context->config, false, &out->catalog);
    if (code == ERR_OK && out->catalog)
        code = catList(out->catalog, &out->list);
    if (code != ERR_OK) {
        logWarn("Cannot list the copy location %s: %s", where, errLast()->reason);
        listLocationFree(out);
        return false;
    }
    listDecide(out, &policy, now);
    return true;
}

static const CatEntry *listFindEntry(const CatList *list, const char *id)
{
    for (size_t index = 0; index < list->count; index++)
        if (strcmp(list->entries[index].id, id) == 0)
            return &list->entries[index];
    return NULL;
}

static int listRowNewestFirst(const void *left, const void *right)
{
    const CatEntry *a = ((const ListRow *)left)->entry, *b = ((const ListRow *)right)->entry;
    if (a->created != b->created)
        return a->created > b->created ? -1 : 1;
    return -strcmp(a->id, b->id);
}

ErrCode cmdList(CommandContext *context)
{
    ListLocation primary = {0};
    ListLocation copy = {0};
    RetPolicy policy;
    ErrCode code = catRetentionPolicyConfigured(context->config, &policy);
    const char *root = cfgGet(context->config, CFG_BACKUP_STORAGE_PATH);
    bool copyConfigured = catCopyConfigured(context->config);
    bool primaryAbsent = code == ERR_OK && root && catStorageIsLocal(context->config) && !fsIsDirectory(root);
    if (primaryAbsent && !copyConfigured) {
        /* Nothing was ever stored here: an empty catalog, said plainly. */
        logWarn("Storage path %s does not exist: no backups yet", root);
        if (context->json)
            printf("{\"backups\": [], \"total_backups\": 0, \"total_bytes\": 0}\n");
        else
            printf("Available Backups:\n==================\n\nTotal: 0 backups, consuming 0 B of storage\n");
        return ERR_OK;
    }
    if (primaryAbsent)
        logWarn("Storage path %s does not exist: no backups there yet", root);
    if (code == ERR_OK && !primaryAbsent)
        code = supportOpenCatalog(context, false, &primary.catalog);
    if (code == ERR_OK && primary.catalog)
        code = catList(primary.catalog, &primary.list);
    if (code != ERR_OK) {
        logErrorBlock("Failed to list backups", false);
        listLocationFree(&primary);
        return code;
    }
    int64_t now = timeNow();
    listDecide(&primary, &policy, now);
    bool copyListed = copyConfigured && listCopyLocation(context, now, &copy);

    /* Every backup of the primary, then those only in the copy. */
    ListRow *rows = memCalloc(primary.list.count + copy.list.count + 1, sizeof(*rows));
    size_t count = 0;
    for (size_t index = 0; index < primary.list.count; index++) {
        const CatEntry *entry = &primary.list.entries[index];
        const CatEntry *copied = listFindEntry(&copy.list, entry->id);
        /* A primary whose manifests are both damaged says nothing; the copy's says it all. */
        bool fromCopy = !entry->manifest && copied && copied->manifest;
        rows[count++] = (ListRow){.entry = fromCopy ? copied : entry,
                                  .primary = entry, .copy = copied, .decision = &primary.decisions[index],
                                  .list = fromCopy ? &copy.list : &primary.list,
                                  .index = fromCopy ? (size_t)(copied - copy.list.entries) : index};
    }
    for (size_t index = 0; index < copy.list.count; index++) {
        const CatEntry *entry = &copy.list.entries[index];
        if (!listFindEntry(&primary.list, entry->id))
            rows[count++] = (ListRow){.entry = entry, .copy = entry, .decision = &copy.decisions[index],
                                      .list = &copy.list, .index = index};
    }
    if (count != primary.list.count)
        qsort(rows, count, sizeof(*rows), listRowNewestFirst);
    uint64_t copyBytes = catListTotalBytes(&copy.list);
    if (context->json) {
        listPrintJson(rows, count, copyConfigured, copyListed, catListTotalBytes(&primary.list), copyBytes, now);
    } else {
        printf("Available Backups:\n==================\n\n");
        bool chains = catListHasDiffs(&primary.list) || catListHasDiffs(&copy.list);
        for (size_t index = 0; index < count; index++) {
            listPrintEntry(rows[index].entry, rows[index].decision, rows[index].list, rows[index].index, chains);
            if (copyConfigured)
                listPrintLocations(&rows[index], copyListed);
            printf("\n");
        }
        char total[FORMAT_TEXT_SIZE];
        printf("Total: %zu backup%s, consuming %s of storage", count, count == 1 ? "" : "s",
               fmtSize(total, sizeof(total), catListTotalBytes(&primary.list)));
        if (copyConfigured)
            printf(" (copy location: %s)", fmtSize(total, sizeof(total), copyBytes));
        printf("\n");
        for (size_t index = 0; index < count; index++) {
            if (!retExpiringSoon(rows[index].decision, now))
                continue;
            int64_t hours = (rows[index].decision->expires - now) / 3600;
            char safe[LIST_SAFE_SIZE];
            fmtPrintable(safe, sizeof(safe), rows[index].entry->id);
            if (hours >= 24)
                printf("Expiring soon: %s (expires in %lld day%s)\n", safe, (long long)(hours / 24),
                       hours / 24 == 1 ? "" : "s");
            else
                printf("Expiring soon: %s (expires in %lld hour%s)\n", safe, (long long)hours,
                       hours == 1 ? "" : "s");
        }
    }
    free(rows);
    listLocationFree(&copy);
    listLocationFree(&primary);
    return ERR_OK;
}
