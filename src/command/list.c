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

/* Every string of the repository goes through fmtPrintable before it reaches
 * the terminal: a manifest is untrusted input and could carry escape sequences. */
static void listPrintEntry(const CatEntry *entry, const RetDecision *decision)
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
        printf("  Status:         DAMAGED (%s)\n\n", fmtPrintable(safe, sizeof(safe), entry->damage));
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
    printf("\n");
}

static void listPrintJson(const CatList *list, const RetDecision *decisions, int64_t now)
{
    json_object *root = json_object_new_object();
    json_object *backups = json_object_new_array();
    for (size_t index = 0; index < list->count; index++)
        json_object_array_add(backups, catEntryJson(&list->entries[index], &decisions[index], now));
    json_object_object_add(root, "backups", backups);
    json_object_object_add(root, "total_backups", json_object_new_int64((int64_t)list->count));
    json_object_object_add(root, "total_bytes", json_object_new_int64((int64_t)catListTotalBytes(list)));
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

ErrCode cmdList(CommandContext *context)
{
    Catalog *catalog = NULL;
    CatList list = {0};
    RetPolicy policy;
    ErrCode code = catRetentionPolicyConfigured(context->config, &policy);
    const char *root = cfgGet(context->config, CFG_BACKUP_STORAGE_PATH);
    if (code == ERR_OK && root && catStorageIsLocal(context->config) && !fsIsDirectory(root)) {
        /* Nothing was ever stored here: an empty catalog, said plainly. */
        logWarn("Storage path %s does not exist: no backups yet", root);
        if (context->json)
            printf("{\"backups\": [], \"total_backups\": 0, \"total_bytes\": 0}\n");
        else
            printf("Available Backups:\n==================\n\nTotal: 0 backups, consuming 0 B of storage\n");
        return ERR_OK;
    }
    if (code == ERR_OK)
        code = supportOpenCatalog(context, false, &catalog);
    if (code == ERR_OK)
        code = catList(catalog, &list);
    if (code != ERR_OK) {
        logErrorBlock("Failed to list backups", false);
        catClose(catalog);
        return code;
    }
    int64_t now = timeNow();
    RetBackup *inputs = memCalloc(list.count ? list.count : 1, sizeof(*inputs));
    RetDecision *decisions = memCalloc(list.count ? list.count : 1, sizeof(*decisions));
    catRetentionInput(catalog, &list, inputs);
    retEvaluate(inputs, list.count, &policy, now, decisions);
    if (context->json) {
        listPrintJson(&list, decisions, now);
    } else {
        printf("Available Backups:\n==================\n\n");
        for (size_t index = 0; index < list.count; index++)
            listPrintEntry(&list.entries[index], &decisions[index]);
        char total[FORMAT_TEXT_SIZE];
        printf("Total: %zu backup%s, consuming %s of storage\n", list.count,
               list.count == 1 ? "" : "s", fmtSize(total, sizeof(total), catListTotalBytes(&list)));
        for (size_t index = 0; index < list.count; index++) {
            if (!retExpiringSoon(&decisions[index], now))
                continue;
            int64_t hours = (decisions[index].expires - now) / 3600;
            char safe[LIST_SAFE_SIZE];
            fmtPrintable(safe, sizeof(safe), list.entries[index].id);
            if (hours >= 24)
                printf("Expiring soon: %s (expires in %lld day%s)\n", safe, (long long)(hours / 24),
                       hours / 24 == 1 ? "" : "s");
            else
                printf("Expiring soon: %s (expires in %lld hour%s)\n", safe, (long long)hours,
                       hours == 1 ? "" : "s");
        }
    }
    free(inputs);
    free(decisions);
    catListFree(&list);
    catClose(catalog);
    return ERR_OK;
}
