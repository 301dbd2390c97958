/* Differential chains (catalog.h, catChainLoad): a backup's chain loaded by
 * following parent ids, each link checked against its child's manifest.
 * Reads manifests only (catFind's cheap look at each archive), never an
 * archive, so --list can afford it. */
#include "catalog/catalog.h"
#include "catalog/chain_internal.h"

#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAIN_REASON_SIZE 512

static uint32_t chainDepthOf(const Manifest *manifest) { return manifestIsDiff(manifest) ? manifest->chainDepth : 0; }

static bool sameText(const char *left, const char *right)
{
    return left && right ? strcmp(left, right) == 0 : left == right;
}

static bool logicalMethod(const Manifest *manifest)
{
    return manifest->method && strcmp(manifest->method, "logical") == 0;
}

/* Why parent cannot be child's parent; false when it can. */
static bool linkBroken(const CatEntry *child, const CatEntry *parent, char *reason, size_t reasonSize)
{
    const Manifest *childManifest = child->manifest;
    const Manifest *manifest = parent->manifest;
    if (!manifest) {
        snprintf(reason, reasonSize, "its manifest is damaged");
        return true;
    }
    /* The parent's own chain is the caller's to follow. */
    if (!manifestIsValid(manifest) || parent->archiveState != CAT_ARCHIVE_PRESENT) {
        char problem[CHAIN_REASON_SIZE / 2];
        catEntryProblem(parent, problem, sizeof(problem));
        snprintf(reason, reasonSize, "it is %s%s%s", catEntryStatus(parent), problem[0] ? ": " : "", problem);
        return true;
    }
    char digest[65];
    manifestLinkSha256(manifest, digest);
    if (!childManifest->parent.manifestSha256 || strcmp(digest, childManifest->parent.manifestSha256) != 0) {
        snprintf(reason, reasonSize, "its manifest changed after %s was taken (link digest %.16s..., expected %.16s...)",
                 child->id, digest,
                 childManifest->parent.manifestSha256 ? childManifest->parent.manifestSha256 : "(none)");
        return true;
    }
    if (chainDepthOf(manifest) + 1 != childManifest->chainDepth) {
        snprintf(reason, reasonSize, "its chain depth is %u, %s declares %u", chainDepthOf(manifest), child->id,
                 childManifest->chainDepth);
        return true;
    }
    if (!sameText(manifest->source.database, childManifest->source.database)) {
        snprintf(reason, reasonSize, "it is a backup of database %s, %s of %s",
                 manifest->source.database ? manifest->source.database : "(none)", child->id,
                 childManifest->source.database ? childManifest->source.database : "(none)");
        return true;
    }
    if (!logicalMethod(manifest) || !logicalMethod(childManifest)) {
        snprintf(reason, reasonSize, "a chain needs the logical method (%s: %s, %s: %s)", parent->id,
                 manifest->method ? manifest->method : "(none)", child->id,
                 childManifest->method ? childManifest->method : "(none)");
        return true;
    }
    return false;
}

static ErrCode chainBroken(const char *id, const char *at, const char *reason)
{
    errSet(BACKUP_CORRUPTED, "the chain of %s is broken at %s: %s", id, at, reason);
    errSetAction("Restore a backup whose chain is intact (neo4j-backup --list), and take a full backup "
                 "(neo4j-backup --create --type full)");
    return BACKUP_CORRUPTED;
}

void catChainFree(CatChain *chain)
{
    if (!chain)
        return;
    for (size_t index = 0; index < chain->count; index++)
        catEntryFree(&chain->links[index]);
    free(chain->links);
    chain->links = NULL;
    chain->count = 0;
}

/* The chain ending at last: links[0..count-2] found and checked, the last
 * slot left empty for the caller. A broken link is BACKUP_CORRUPTED with
 * `at` and `reason` filled (errLast() untouched); other codes (a parent that
 * cannot be looked at) come with errLast(). */
static ErrCode chainBuild(Catalog *catalog, const CatEntry *last, CatChain *out, char at[CAT_ID_SIZE], char *reason,
                          size_t reasonSize)
{
    /* The parser bounds the depth (MANIFEST_CHAIN_DEPTH_MAX), and each link
     * must be exactly one shallower, so the walk ends even on a hostile
     * repository whose parents form a cycle. */
    size_t count = (size_t)chainDepthOf(last->manifest) + 1;
    CatChain chain = {.links = memCalloc(count, sizeof(CatEntry)), .count = count};
    ErrCode result = ERR_OK;
    const CatEntry *child = last;
    for (size_t index = count - 1; index > 0 && result == ERR_OK; index--) {
        const char *parentId = child->manifest->parent.id;
        snprintf(at, CAT_ID_SIZE, "%s", parentId);
        CatEntry *parent = &chain.links[index - 1];
        result = catFindOne(catalog, parentId, parent);
        if (result == BACKUP_NOT_FOUND) {
            snprintf(reason, reasonSize, "it is missing (the parent of %s)", child->id);
            result = BACKUP_CORRUPTED;
        } else if (result == ERR_OK && linkBroken(child, parent, reason, reasonSize)) {
            result = BACKUP_CORRUPTED;
        }
        child = parent;
    }
    if (result != ERR_OK) {
        catChainFree(&chain); /* slots never filled are zeroed */
        return result;
    }
    *out = chain;
    return ERR_OK;
}

ErrCode catChainLoad(Catalog *catalog, const char *id, CatChain *out)
{
    out->links = NULL;
    out->count = 0;
    CatEntry last;
    ErrCode result = catFindOne(catalog, id, &last);
    if (result != ERR_OK)
        return result;
    if (!last.manifest) {
        errSet(BACKUP_CORRUPTED, "backup %s: %s", id, last.damage[0] ? last.damage : "manifest damaged");
        errSetAction("Restore another backup (neo4j-backup --list)");
        catEntryFree(&last);
        return BACKUP_CORRUPTED;
    }
    char at[CAT_ID_SIZE] = "", reason[CHAIN_REASON_SIZE] = "";
    CatChain chain;
    result = chainBuild(catalog, &last, &chain, at, reason, sizeof(reason));
    if (result != ERR_OK) {
        if (result == BACKUP_CORRUPTED)
            chainBroken(id, at, reason);
        catEntryFree(&last);
        return result;
    }
    chain.links[chain.count - 1] = last;
    *out = chain;
    return ERR_OK;
}

static void setProblem(CatEntry *entry, const char *at, const char *reason)
{
    snprintf(entry->chainProblem, sizeof(entry->chainProblem), "the chain is broken at %s: %s", at, reason);
}

void catChainCheckEntry(Catalog *catalog, CatEntry *entry)
{
    entry->chainProblem[0] = '\0';
    if (!entry->manifest || !manifestIsDiff(entry->manifest))
        return;
    ErrDetail saved = errSave();
    char at[CAT_ID_SIZE] = "", reason[CHAIN_REASON_SIZE] = "";
    CatChain chain;
    ErrCode result = chainBuild(catalog, entry, &chain, at, reason, sizeof(reason));
    if (result == ERR_OK)
        catChainFree(&chain);
    else if (result == BACKUP_CORRUPTED)
        setProblem(entry, at, reason);
    else {
        char why[CHAIN_REASON_SIZE];
        snprintf(why, sizeof(why), "%.400s", errLast()->reason);
        setProblem(entry, at, why); /* unconfirmed: not usable */
    }
    errRestore(&saved);
}

enum { CHAIN_UNKNOWN, CHAIN_CHECKING, CHAIN_DONE };

static void checkListed(CatList *list, size_t index, unsigned char *state)
{
    CatEntry *entry = &list->entries[index];
    if (state[index] != CHAIN_UNKNOWN)
        return;
    state[index] = CHAIN_CHECKING;
    entry->chainProblem[0] = '\0';
    if (entry->manifest && manifestIsDiff(entry->manifest)) {
        const char *parentId = entry->manifest->parent.id;
        size_t parentIndex = CAT_NONE;
        for (size_t other = 0; other < list->count && parentIndex == CAT_NONE; other++)
            if (strcmp(list->entries[other].id, parentId) == 0)
                parentIndex = other;
        char reason[CHAIN_REASON_SIZE];
        if (parentIndex == CAT_NONE) {
            snprintf(reason, sizeof(reason), "it is missing (the parent of %s)", entry->id);
            setProblem(entry, parentId, reason);
        } else if (linkBroken(entry, &list->entries[parentIndex], reason, sizeof(reason))) {
            setProblem(entry, parentId, reason);
        } else {
            /* The depth check passed, so the parent is shallower: no cycle,
             * and at most MANIFEST_CHAIN_DEPTH_MAX calls deep. */
            checkListed(list, parentIndex, state);
            const CatEntry *parent = &list->entries[parentIndex];
            snprintf(entry->chainProblem, sizeof(entry->chainProblem), "%s", parent->chainProblem);
        }
    }
    state[index] = CHAIN_DONE;
}

void catChainCheckList(CatList *list)
{
    if (!list->count)
        return;
    unsigned char *state = memCalloc(list->count, 1);
    for (size_t index = 0; index < list->count; index++)
        checkListed(list, index, state);
    free(state);
}

size_t catListParent(const CatList *list, size_t index)
{
    const Manifest *manifest = list->entries[index].manifest;
    if (!manifest || !manifestIsDiff(manifest) || !manifest->parent.id)
        return CAT_NONE;
    for (size_t other = 0; other < list->count; other++)
        if (other != index && strcmp(list->entries[other].id, manifest->parent.id) == 0)
            return other;
    return CAT_NONE;
}

size_t catListDepth(const CatList *list, size_t index)
{
    size_t depth = 0;
    for (size_t parent = catListParent(list, index); parent != CAT_NONE && depth < list->count;
         parent = catListParent(list, parent))
        depth++;
    return depth;
}

typedef struct {
    size_t index;
    size_t depth;
} ChainOrder;

static int compareDeepestFirst(const void *left, const void *right)
{
    const ChainOrder *first = left, *second = right;
    if (first->depth != second->depth)
        return first->depth > second->depth ? -1 : 1;
    /* The list is newest first. */
    return first->index < second->index ? -1 : first->index > second->index;
}

/* True when target is among the listed ancestors of index. */
static bool dependsOn(const CatList *list, size_t index, size_t target)
{
    size_t steps = 0;
    for (size_t parent = catListParent(list, index); parent != CAT_NONE && steps < list->count;
         parent = catListParent(list, parent), steps++)
        if (parent == target)
            return true;
    return false;
}

void catListDependants(const CatList *list, size_t index, size_t **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    ChainOrder *order = NULL;
    for (size_t other = 0; other < list->count; other++) {
        if (other == index || !dependsOn(list, other, index))
            continue;
        order = memRealloc(order, (*count + 1) * sizeof(*order));
        order[(*count)++] = (ChainOrder){other, catListDepth(list, other)};
    }
    if (!*count)
        return;
    qsort(order, *count, sizeof(*order), compareDeepestFirst);
    *out = memCalloc(*count, sizeof(**out));
    for (size_t position = 0; position < *count; position++)
        (*out)[position] = order[position].index;
    free(order);
}

static bool sameKey(const Manifest *left, const Manifest *right)
{
    if (left->encryption.present != right->encryption.present)
        return false;
    return !left->encryption.present || sameText(left->encryption.keyId, right->encryption.keyId);
}

void catListChainInfo(const CatList *list, size_t index, CatChainInfo *out)
{
    memset(out, 0, sizeof(*out));
    const Manifest *manifest = list->entries[index].manifest;
    if (!manifest)
        return;
    out->diff = manifestIsDiff(manifest);
    out->parentId = out->diff ? manifest->parent.id : NULL;
    out->ownBytes = manifest->archive.sizeCompressed;
    out->chainBytes = out->ownBytes;
    out->links = 1;
    size_t current = index;
    while (list->entries[current].manifest && manifestIsDiff(list->entries[current].manifest)
           && out->links <= list->count) {
        size_t parent = catListParent(list, current);
        if (parent == CAT_NONE || !list->entries[parent].manifest)
            return; /* incomplete */
        const Manifest *link = list->entries[parent].manifest;
        out->chainBytes += link->archive.sizeCompressed;
        out->links++;
        if (!sameKey(manifest, link))
            out->mixedKeys = true;
        current = parent;
    }
    out->complete = out->links <= list->count;
}

bool catListHasDiffs(const CatList *list)
{
    for (size_t index = 0; index < list->count; index++)
        if (list->entries[index].manifest && manifestIsDiff(list->entries[index].manifest))
            return true;
    return false;
}
