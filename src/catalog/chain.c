/* Differential chains (catalog.h, catChainLoad): a backup's chain loaded by
 * following parent ids, each link checked against its child's manifest.
 * Reads manifests only (catFind's cheap look at each archive), never an
 * archive, so --list can afford it. */
#include "catalog/catalog.h"

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
    if (!catEntryUsable(parent)) {
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

ErrCode catChainLoad(Catalog *catalog, const char *id, CatChain *out)
{
    out->links = NULL;
    out->count = 0;
    CatEntry last;
    ErrCode result = catFind(catalog, id, &last);
    if (result != ERR_OK)
        return result;
    if (!last.manifest) {
        errSet(BACKUP_CORRUPTED, "backup %s: %s", id, last.damage[0] ? last.damage : "manifest damaged");
        errSetAction("Restore another backup (neo4j-backup --list)");
        catEntryFree(&last);
        return BACKUP_CORRUPTED;
    }
    /* The parser bounds the depth (MANIFEST_CHAIN_DEPTH_MAX), and each link
     * must be exactly one shallower, so the walk ends even on a hostile
     * repository whose parents form a cycle. */
    size_t count = (size_t)chainDepthOf(last.manifest) + 1;
    CatChain chain = {.links = memCalloc(count, sizeof(CatEntry)), .count = count};
    chain.links[count - 1] = last;
    for (size_t index = count - 1; index > 0; index--) {
        const CatEntry *child = &chain.links[index];
        const char *parentId = child->manifest->parent.id;
        CatEntry parent;
        result = catFind(catalog, parentId, &parent);
        char reason[CHAIN_REASON_SIZE];
        if (result == BACKUP_NOT_FOUND) {
            snprintf(reason, sizeof(reason), "it is missing (the parent of %s)", child->id);
            result = chainBroken(id, parentId, reason);
        } else if (result == ERR_OK && linkBroken(child, &parent, reason, sizeof(reason))) {
            result = chainBroken(id, parentId, reason);
            catEntryFree(&parent);
        }
        if (result != ERR_OK) {
            /* Entries below index were never filled (zeroed by memCalloc). */
            catChainFree(&chain);
            return result;
        }
        chain.links[index - 1] = parent;
    }
    *out = chain;
    return ERR_OK;
}
