/* The import load of a logical backup (RESTORE_LOAD=import, --load import):
 * the archive becomes neo4j-admin import CSV files while the target still
 * runs, then the target is stopped, rebuilt by `neo4j-admin database import
 * full`, started, and given its fix-ups and schema (restore/import_csv.h).
 * The downtime is the import alone; the CSV files are removed afterwards. */
#include "command/import.h"
#include "catalog/catalog_settings.h"

#include "catalog/catalog.h"
#include "command/dump.h"
#include "common/lock.h"
#include "common/format.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "neo4j/offline.h"
#include "restore/logical_restore.h"
#include "restore/restore_service.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* <RESTORE_IMPORT_DIR or BACKUP_STORAGE_PATH>/.tmp-import-<pid>, created
 * empty and locked: the catalog's leftover cleanup (catalog.h) then removes
 * it only once this process is gone, e.g. after a crash, never while the
 * import runs. */
static ErrCode cmdImportScratch(CommandContext *context, char *out, size_t size, const char **parentOut,
                                Lock **lock)
{
    const char *parent = cfgGet(context->config, CFG_RESTORE_IMPORT_DIR);
    if (!parent)
        parent = catStateDirectory(context->config); /* the storage path when it is a directory */
    *parentOut = parent;
    char name[64];
    snprintf(name, sizeof(name), ".tmp-import-%ld", (long)getpid());
    ErrCode code = fsPathJoin(out, size, parent, name);
    if (code == ERR_OK)
        code = fsMkdirP(parent, 0700);
    /* Same name as ours: a leftover of a dead process that had our pid. */
    if (code == ERR_OK)
        code = fsRemoveTree(parent, out);
    if (code == ERR_OK && mkdir(out, 0700) != 0)
        code = fsErrorFromErrno(errno, "create", out);
    char lockFile[IMPORT_PATH_SIZE];
    if (code == ERR_OK)
        code = fsPathJoin(lockFile, sizeof(lockFile), out, CAT_LOCK_FILE_NAME);
    if (code == ERR_OK)
        code = lockAcquire(lock, lockFile, LOCK_EXCLUSIVE, 0, "writing restore import files");
    return code;
}

typedef struct {
    CommandContext *context;
    const InstanceConfig *instance;
    const ImportCsv *csv;
} CmdImportRun;

/* The importer's stage lines ("(1/4) Node import ...", "IMPORT DONE in ..."),
 * so that a long import shows where it is. */
static void cmdImportOnLine(const char *line, void *payload)
{
    (void)payload;
    bool stage = line[0] == '(' && line[1] >= '1' && line[1] <= '9' && line[2] == '/';
    if (stage || strncmp(line, "IMPORT DONE", 11) == 0)
        logInfo("neo4j-admin: %s", line);
}

/* On a terminal: records written into the import files so far. */
static void cmdImportOnProgress(uint64_t records, uint64_t expected, void *payload)
{
    (void)payload;
    if (!isatty(STDERR_FILENO))
        return;
    fprintf(stderr, "\r  %" PRIu64 "/%" PRIu64 " records written to the import files   ", records, expected);
    if (records >= expected)
        fputc('\n', stderr);
    fflush(stderr);
}

static ErrCode cmdImportWork(const Neo4jAdmin *admin, void *payload, ProcRun *run)
{
    const CmdImportRun *import = payload;
    const InstanceConfig *instance = import->instance;
    char storage[3][2 * IMPORT_PATH_SIZE + 32];
    const char *args[IMPORT_ADMIN_ARGS];
    importCsvAdminArgs(import->csv, instance->database, storage, args);
    char shown[1024];
    size_t used = (size_t)snprintf(shown, sizeof(shown), "neo4j-admin");
    for (size_t index = 0; args[index] && used < sizeof(shown); index++)
        used += (size_t)snprintf(shown + used, sizeof(shown) - used, " %s", args[index]);
    logInfo("Running: %s (%s)", shown, admin->executable);
    ProcIo io = {.cancelFlag = import->context->cancelFlag, .onLine = cmdImportOnLine};
    ErrCode code = neo4jAdminRun(admin, args, &io, run);
    if (code == ERR_OK)
        logInfo("neo4j-admin imported %" PRIu64 " nodes and %" PRIu64 " relationships into %s in %.1f seconds",
                import->csv->nodes, import->csv->relationships, instance->name, run->seconds);
    else if (code == NEO4J_ADMIN_FAILED)
#ifdef NBK_TEST_HOOKS
        errSetAction("Read neo4j-admin's output above (NBK_IMPORT_KEEP_FILES=1 keeps the import files and its "
                     "import.report), or restore with --load bolt");
#else
        errSetAction("Read neo4j-admin's output above, or restore with --load bolt");
#endif
    return code;
}

ErrCode cmdImportLoadInto(CommandContext *context, const ArcChainLink *chain, size_t chainCount,
                          uint64_t expectedBytes, uint64_t expectedRecords, const InstanceConfig *instance, BoltConnection **connection,
                          ArchiveContent *content)
{
    *connection = NULL;
    memset(content, 0, sizeof(*content));
    ErrCode code = restoreImportPreflight(instance);
    Neo4jAdmin admin;
    char adminVersion[64] = "";
    if (code == ERR_OK)
        code = cmdOfflineAdmin(context, instance, &admin, adminVersion, sizeof(adminVersion));
    if (code == ERR_OK && neo4jVersionCompare(adminVersion, "5.0") < 0) {
        errSet(CONFIG_INVALID, "the import load needs Neo4j 5 or newer (neo4j-admin database import); %s runs %s",
               instance->name, adminVersion);
        errSetAction("Restore with --load bolt");
        code = CONFIG_INVALID;
    }
    char scratch[IMPORT_PATH_SIZE] = "";
    const char *parent = NULL;
    Lock *scratchLock = NULL;
    if (code == ERR_OK)
        code = cmdImportScratch(context, scratch, sizeof(scratch), &parent, &scratchLock);
    if (code != ERR_OK) {
        if (scratch[0] && parent)
            fsRemoveTree(parent, scratch);
        lockRelease(scratchLock);
        return code;
    }
    /* The CSV takes about as much room as the archive uncompressed (0.7x for
     * the benchmark graph): refuse before writing rather than fill the disk. */
    FsSpace space;
    if (fsSpace(scratch, &space) == ERR_OK && space.availableBytes < expectedBytes) {
        char needed[FORMAT_TEXT_SIZE];
        char available[FORMAT_TEXT_SIZE];
        errSet(BACKUP_NO_SPACE, "the import files need about %s in %s, and only %s are free",
               fmtSize(needed, sizeof(needed), expectedBytes), parent,
               fmtSize(available, sizeof(available), space.availableBytes));
        errSetAction("Point RESTORE_IMPORT_DIR at a file system with more room, or restore with --load bolt");
        fsRemoveTree(parent, scratch);
        lockRelease(scratchLock);
        return BACKUP_NO_SPACE;
    }

    ImportCsv csv;
    logInfo("Writing the import files into %s (the target keeps running meanwhile)...", scratch);
    ImportCsvRequest request = {.archive = chain[chainCount - 1].location, .chain = chain, .chainCount = chainCount,
                                .directory = scratch,
                                .cancelFlag = context->cancelFlag, .progress = cmdImportOnProgress,
                                .expectedRecords = expectedRecords};
    code = importCsvWrite(&request, &csv);
    if (code == ERR_OK) {
        char size[FORMAT_TEXT_SIZE];
        char peak[FORMAT_TEXT_SIZE];
        struct rusage usage;
        getrusage(RUSAGE_SELF, &usage);
        logInfo("Import files: %" PRIu64 " nodes, %" PRIu64 " relationships, %s of CSV in %.1f seconds "
                "(peak memory %s); %" PRIu64 " node and %" PRIu64 " relationship records need fix-ups",
                csv.nodes, csv.relationships, fmtSize(size, sizeof(size), csv.csvBytes), csv.seconds,
                fmtSize(peak, sizeof(peak), (uint64_t)usage.ru_maxrss * 1024u), csv.fixupNodes,
                csv.fixupRelationships);
        if (csv.orphanRelationships)
            logWarn("%" PRIu64 " relationships have an endpoint outside the backup and are left out",
                    csv.orphanRelationships);
        CmdImportRun run = {context, instance, &csv};
        code = cmdOfflineRun(context, instance, &admin, cmdImportWork, &run, connection);
    }
    if (code == ERR_OK)
        code = importCsvApplyFixups(*connection, instance->database, &csv);
    if (code == ERR_OK) {
        uint64_t created = 0;
        double started = timeMonotonic();
        code = logicalRestoreSchema(*connection, instance->database, &csv.archive, 0, &created);
        if (code == ERR_OK)
            logInfo("Schema: %" PRIu64 " constraints and indexes online in %.1f seconds", created,
                    timeMonotonic() - started);
    }
    ErrDetail failure = errSave();
    bool keepFiles = false;
#ifdef NBK_TEST_HOOKS
    /* NBK_IMPORT_KEEP_FILES=1 keeps them for a look at what neo4j-admin read. */
    const char *keep = getenv("NBK_IMPORT_KEEP_FILES");
    keepFiles = keep && strcmp(keep, "1") == 0;
#endif
    ErrCode removed = keepFiles ? ERR_OK : fsRemoveTree(parent, scratch);
    if (removed != ERR_OK)
        logWarn("Could not remove the import files in %s: %s", scratch, errLast()->reason);
    lockRelease(scratchLock);
    errRestore(&failure);
    if (code == ERR_OK) {
        *content = csv.archive; /* handed over: the caller frees it */
        memset(&csv.archive, 0, sizeof(csv.archive));
    }
    importCsvFree(&csv);
    return code;
}
