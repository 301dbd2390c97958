/* A temporary repository for the catalog unit tests (catalog_test.c,
 * catalog_services_test.c, catalog_chain_test.c, copy_test.c): a fresh
 * /tmp/<prefix>-XXXXXX work directory with one or more catalogs below it,
 * a quiet log sink while the test runs, and the whole tree removed after. */
#ifndef NBK_TESTS_UNIT_TEMP_REPO_H
#define NBK_TESTS_UNIT_TEMP_REPO_H

#include "catalog/catalog.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define TEMP_REPO_SLOTS 2

typedef struct {
    char workDir[256];
    char storages[TEMP_REPO_SLOTS][300];
    size_t opened;
} TempRepo;

/* One per test program: a function-local static keeps the header free of
 * unused-variable warnings in files that use only part of it. */
static inline TempRepo *tempRepo(void)
{
    static TempRepo repo;
    return &repo;
}

static inline void tempRepoQuietSink(LogLevel level, const char *line, void *payload)
{
    (void)level;
    (void)line;
    (void)payload;
}

/* The work directory /tmp/<prefix>-XXXXXX, with nothing below it yet. */
static inline int tempRepoBegin(const char *prefix)
{
    TempRepo *repo = tempRepo();
    logSetSink(tempRepoQuietSink, NULL);
    repo->opened = 0;
    snprintf(repo->workDir, sizeof(repo->workDir), "/tmp/%s-XXXXXX", prefix);
    return mkdtemp(repo->workDir) ? 0 : -1;
}

/* A catalog created at <workDir>/<name>, in the next storage slot. */
static inline int tempRepoOpen(const char *name, Catalog **catalog)
{
    TempRepo *repo = tempRepo();
    if (repo->opened >= TEMP_REPO_SLOTS)
        return -1;
    char *storage = repo->storages[repo->opened++];
    if (fsPathJoin(storage, sizeof(repo->storages[0]), repo->workDir, name) != ERR_OK)
        return -1;
    return catOpen(catalog, storage, true) == ERR_OK ? 0 : -1;
}

static inline int tempRepoEnd(void)
{
    logSetSink(NULL, NULL);
    return fsRemoveTree("/tmp", tempRepo()->workDir) == ERR_OK ? 0 : -1;
}

static inline const char *tempRepoWorkDir(void)
{
    return tempRepo()->workDir;
}

/* The path of the catalog opened in slot (0: the first). */
static inline const char *tempRepoStorageAt(size_t slot)
{
    return tempRepo()->storages[slot];
}

static inline const char *tempRepoStorage(void)
{
    return tempRepoStorageAt(0);
}

/* The usual fixture: one catalog at <workDir>/backups as the test's state. */
static inline int tempRepoSetUp(void **state, const char *prefix)
{
    Catalog *catalog = NULL;
    if (tempRepoBegin(prefix) != 0 || tempRepoOpen("backups", &catalog) != 0)
        return -1;
    *state = catalog;
    return 0;
}

static inline int tempRepoTearDown(void **state)
{
    catClose(*state);
    return tempRepoEnd();
}

#endif
