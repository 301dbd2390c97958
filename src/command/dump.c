/* The dump method in the commands (dump.h): physical backups with
 * `neo4j-admin database dump`, their validation, and their restore.
 *
 * Community Edition can dump only a stopped DBMS. With NEO4J_STOP_COMMAND and
 * NEO4J_START_COMMAND the tool records the graph's stats over Bolt, stops
 * Neo4j, dumps, and starts it again whatever happened in between; without
 * them it refuses a server that is running. */
#include "command/dump.h"

#include "archive/archive.h"
#include "archive/dump_file.h"
#include "backup/metadata.h"
#include "command/support.h"
#include "command/verify.h"
#include "common/format.h"
#include "common/fsutil.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "graph/schema.h"
#include "neo4j/instance.h"
#include "neo4j/store.h"
#include "restore/dump_restore.h"
#include "restore/health.h"
#include "restore/recovery_state.h"
#include "storage/posix.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DUMP_MAX_ARCHIVES 2

bool cmdDumpIsDump(const Manifest *manifest)
{
    return catManifestIsDump(manifest);
}

/* ---- small helpers ----------------------------------------------------------- */

static const char *cmdDumpBaseName(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "neo4j-admin database dump neo4j --to-stdout (/opt/neo4j/bin/neo4j-admin)":
 * the contract's "Running: neo4j-admin ..." with the executable that runs. */
static void cmdDumpLogRunning(const Neo4jAdmin *admin, const char *const *args)
{
    char text[1024];
    size_t used = (size_t)snprintf(text, sizeof(text), "%s", cmdDumpBaseName(admin->executable));
    for (size_t index = 0; args[index] && used < sizeof(text); index++)
        used += (size_t)snprintf(text + used, sizeof(text) - used, " %s", args[index]);
    logInfo("Running: %s (%s)", text, admin->executable);
}

/* The contract's failure block, with the command, its exit status and the
 * tail of its output when a child process failed. */
static void cmdDumpErrorBlock(const char *headline, const ProcRun *run, bool critical)
{
    const ErrDetail *detail = errLast();
    ErrCode code = detail->code == ERR_OK ? ERR_INTERNAL : detail->code;
    logError("%s", headline);
    logError("Code: %s (%s)", errName(code), errDefaultMessage(code));
    logError("Reason: %s", detail->reason[0] ? detail->reason : errDefaultMessage(code));
    if (run && run->command[0] && run->exitStatus != 0) {
        logError("Command: %s", run->command);
        if (run->exitStatus >= 0)
            logError("Exit status: %d", run->exitStatus);
        if (run->tailCount) {
            logError("Output (last %u lines):", run->tailCount);
            for (unsigned index = 0; index < run->tailCount; index++)
                logError("  %s", run->tail[index]);
        }
    } else if (detail->details[0]) {
        logError("%s", detail->details);
    }
    if (detail->serverCode[0])
        logError("Neo4j status: %s", detail->serverCode);
    logError("Action: %s", detail->action[0] ? detail->action : errDefaultAction(code));
    if (critical)
        logCritical("Operator attention required");
}

/* The failed child's command, exit status and output tail as ERROR lines,
 * for a failure whose block the caller prints. */
static void cmdDumpLogRun(const ProcRun *run)
{
    if (!run->command[0] || run->exitStatus == 0)
        return;
    logError("Command: %s", run->command);
    if (run->exitStatus >= 0)
        logError("Exit status: %d", run->exitStatus);
    for (unsigned index = 0; index < run->tailCount; index++)
        logError("  %s", run->tail[index]);
}

/* The store directory of the production database: NEO4J_DATA_PATH when set
 * explicitly, else derived from NEO4J_HOME, else NEO4J_DATA_PATH's default. */
static ErrCode cmdDumpProductionStore(const Config *config, const InstanceConfig *source, char *out, size_t size)
{
    const char *dataPath = cfgGet(config, CFG_NEO4J_DATA_PATH);
    CfgSource origin = cfgSource(config, CFG_NEO4J_DATA_PATH);
    if (dataPath && origin != CFG_SOURCE_DEFAULT) {
        snprintf(out, size, "%s", dataPath);
        return ERR_OK;
    }
    if (source->neo4jHome)
        return neo4jDatabaseDirectory(source->neo4jHome, source->database, out, size);
    snprintf(out, size, "%s", dataPath ? dataPath : "");
    return ERR_OK;
}

/* ---- the manifest's "dump" object ------------------------------------------------ */

typedef struct {
    char database[128];
    char file[160];
    DumpFileInfo info;
} CmdDumpArchive;

static json_object *cmdDumpExtraJson(const char *adminVersion, bool statsRecorded, bool stoppedByTool,
                                     const CmdDumpArchive *archives, size_t archiveCount)
{
    json_object *dump = json_object_new_object();
    json_object_object_add(dump, "format", json_object_new_string(archives[0].info.format));
    json_object_object_add(dump, "neo4j_admin_version", json_object_new_string(adminVersion));
    json_object_object_add(dump, "stats_recorded", json_object_new_boolean(statsRecorded));
    json_object_object_add(dump, "stopped_by_tool", json_object_new_boolean(stoppedByTool));
    json_object *list = json_object_new_array();
    for (size_t index = 0; index < archiveCount; index++) {
        json_object *item = json_object_new_object();
        json_object_object_add(item, "database", json_object_new_string(archives[index].database));
        json_object_object_add(item, "file", json_object_new_string(archives[index].file));
        json_object_object_add(item, "size", json_object_new_int64((int64_t)archives[index].info.bytes));
        json_object_object_add(item, "content_size",
                               json_object_new_int64((int64_t)archives[index].info.contentBytes));
        json_object_object_add(item, "sha256", json_object_new_string(archives[index].info.sha256));
        json_object_array_add(list, item);
    }
    json_object_object_add(dump, "archives", list);
    return dump;
}

/* The "dump" object of a manifest, or NULL. Borrowed from the manifest. */
static json_object *cmdDumpExtra(const Manifest *manifest)
{
    json_object *dump = NULL;
    if (manifest->extra && json_object_object_get_ex(manifest->extra, "dump", &dump) &&
        json_object_is_type(dump, json_type_object))
        return dump;
    return NULL;
}

static bool cmdDumpStatsRecorded(const Manifest *manifest)
{
    json_object *dump = cmdDumpExtra(manifest);
    json_object *recorded = NULL;
    if (dump && json_object_object_get_ex(dump, "stats_recorded", &recorded))
        return json_object_get_boolean(recorded);
    return manifest->contentFingerprint != NULL;
}

/* Archives listed in the manifest besides the main one (e.g. the system
 * database); file names are checked so that none escapes the backup dir. */
static size_t cmdDumpOtherArchives(const Manifest *manifest, CmdDumpArchive *out, size_t capacity)
{
    json_object *dump = cmdDumpExtra(manifest);
    json_object *list = NULL;
    size_t count = 0;
    if (!dump || !json_object_object_get_ex(dump, "archives", &list) || !json_object_is_type(list, json_type_array))
        return 0;
    for (size_t index = 0; index < json_object_array_length(list) && count < capacity; index++) {
        json_object *item = json_object_array_get_idx(list, index);
        json_object *field = NULL;
        const char *file = json_object_object_get_ex(item, "file", &field) ? json_object_get_string(field) : NULL;
        if (!file || !catIdValid(file) || (manifest->archive.file && strcmp(file, manifest->archive.file) == 0))
            continue;
        CmdDumpArchive *archive = &out[count++];
        memset(archive, 0, sizeof(*archive));
        snprintf(archive->file, sizeof(archive->file), "%s", file);
        if (json_object_object_get_ex(item, "database", &field))
            snprintf(archive->database, sizeof(archive->database), "%s", json_object_get_string(field));
        if (json_object_object_get_ex(item, "sha256", &field))
            snprintf(archive->info.sha256, sizeof(archive->info.sha256), "%s", json_object_get_string(field));
    }
    return count;
}

/* ---- --create --method dump ------------------------------------------------------ */

typedef struct {
    CommandContext *context;
    const Config *config;
    InstanceConfig source;
    Neo4jAdmin admin;
    char adminVersion[64];
    char serverVersion[64];
    char edition[64];
    char boltVersion[16];
    char safeUri[512];
    char databaseDir[NEO4J_PATH_SIZE];
    bool boltAnswered;
    bool includeSystem;
    bool statsRecorded;
    uint64_t nodes;
    uint64_t relationships;
    char fingerprint[66];
    GraphCounts counts;          /* nodes per label, relationships per type */
    Manifest *manifest;          /* schema items are collected into it early */
    ProcRun failedRun;           /* the child that failed, for the report */
} CmdDumpCreateJob;

static ErrCode cmdDumpSchemaSink(const BoltValue *value, void *payload)
{
    Manifest *manifest = payload;
    SchemaItem item;
    ErrCode code = schemaItemFromValue(value, &item);
    if (code == ERR_OK) {
        manifestAddSchemaItem(manifest, item.name, item.type, item.isConstraint ? "constraint" : "index",
                              item.createStatement);
        manifestSetSchemaState(manifest, item.state, item.failureMessage);
    }
    return code;
}

/* Counts, schema and content fingerprint, read over Bolt before the stop:
 * what a restore of this dump is checked against. */
static ErrCode cmdDumpRecordStats(CmdDumpCreateJob *job, BoltConnection *connection)
{
    const char *database = job->source.database;
    logInfo("Recording graph stats over Bolt before the stop (counts, schema, content fingerprint)...");
    ErrCode code = healthGraphCounts(connection, database, &job->nodes, &job->relationships);
    if (code == ERR_OK)
        code = healthGraphLabelCounts(connection, database, NULL, &job->counts);
    if (code == ERR_OK)
        code = boltBegin(connection, &(BoltQueryOptions){.database = database, .mode = BOLT_ACCESS_READ});
    if (code == ERR_OK) {
        code = schemaCapture(connection, cmdDumpSchemaSink, job->manifest, NULL);
        ErrCode endCode = code == ERR_OK ? boltCommit(connection) : boltRollback(connection);
        if (code == ERR_OK)
            code = endCode;
    }
    FingerprintCounts counted = {0};
    if (code == ERR_OK)
        code = healthFingerprintOfDatabase(connection, database, job->fingerprint, &counted);
    if (code != ERR_OK) {
        errAddContext("reading the graph stats of %s before the dump", database);
        return code;
    }
    if (counted.nodes != job->nodes || counted.relationships != job->relationships)
        logWarn("The database changed while its stats were read (%" PRIu64 " then %" PRIu64 " nodes): writes "
                "around a dump make the restore's counts and fingerprint checks fail; stop the writers first",
                job->nodes, counted.nodes);
    job->statsRecorded = true;
    logInfo("Graph stats: %" PRIu64 " nodes, %" PRIu64 " relationships, %zu schema items, fingerprint %.12s...",
            job->nodes, job->relationships, job->manifest->schemaCount, job->fingerprint);
    return ERR_OK;
}

/* Is the server running, may we stop it, and does neo4j-admin match it? */
static ErrCode cmdDumpPreflight(CmdDumpCreateJob *job, BoltConnection **connection)
{
    const InstanceConfig *source = &job->source;
    ErrCode code = neo4jAdminResolve(cfgGet(job->config, CFG_NEO4J_ADMIN), source->neo4jHome, &job->admin);
    if (code != ERR_OK)
        return code;
    code = neo4jConnect(source, connection);
    if (code == ERR_OK) {
        job->boltAnswered = true;
        code = neo4jServerVersion(*connection, job->serverVersion, sizeof(job->serverVersion), job->edition,
                                    sizeof(job->edition));
        snprintf(job->boltVersion, sizeof(job->boltVersion), "%u.%u", boltVersionMajor(*connection),
                 boltVersionMinor(*connection));
        if (code != ERR_OK)
            return code;
        logInfo("Neo4j version: %s", job->serverVersion);
    } else if (code == NEO4J_UNREACHABLE) {
        logInfo("Neo4j does not answer at %s: taking it as stopped", job->safeUri);
        errClear();
    } else {
        return code;
    }
    code = cmdDumpProductionStore(job->config, source, job->databaseDir, sizeof(job->databaseDir));
    if (code != ERR_OK)
        return code;
    long pid = 0;
    char lockPath[NEO4J_PATH_SIZE] = "";
    bool locked = neo4jStoreLockHeld(job->databaseDir, &pid, lockPath, sizeof(lockPath));
    bool canStop = source->stopCommand && source->startCommand;
    if ((job->boltAnswered || locked) && !canStop) {
        char lockText[NEO4J_PATH_SIZE + 64] = "";
        if (locked)
            snprintf(lockText, sizeof(lockText), "%sthe store lock %s is held by pid %ld",
                     job->boltAnswered ? " and " : "", lockPath, pid);
        errSet(NEO4J_ADMIN_FAILED, "Neo4j is running (%s%s%s): neo4j-admin database dump needs the DBMS stopped",
               job->boltAnswered ? "it answers at " : "", job->boltAnswered ? job->safeUri : "", lockText);
        errSetAction("Set NEO4J_STOP_COMMAND and NEO4J_START_COMMAND so that the tool stops Neo4j for the dump and "
                     "starts it again (downtime), or stop Neo4j first, or use --method logical for an online backup");
        return NEO4J_ADMIN_FAILED;
    }
    if (!job->boltAnswered && locked) {
        errSet(NEO4J_ADMIN_FAILED, "the store lock %s is held by pid %ld but Neo4j does not answer at %s", lockPath,
               pid, job->safeUri);
        errSetAction("Wait until Neo4j has started or stopped completely, then retry");
        return NEO4J_ADMIN_FAILED;
    }
    if (job->boltAnswered && !locked)
        logWarn("Neo4j answers at %s but nothing holds the store lock under %s: check that NEO4J_HOME (or "
                "NEO4J_DATA_PATH) belongs to that server", job->safeUri, job->databaseDir);
    if (!job->boltAnswered)
        logWarn("Neo4j is stopped: the dump is taken as it is, without counts, schema or fingerprint recorded "
                "over Bolt, so a restore of it can check connectivity and orphans only");

    ProcRun run;
    code = neo4jAdminVersion(&job->admin, job->adminVersion, sizeof(job->adminVersion), &run);
    if (code != ERR_OK) {
        job->failedRun = run;
        return code;
    }
    logInfo("neo4j-admin version: %s (%s)", job->adminVersion, job->admin.executable);
    if (job->boltAnswered && neo4jVersionCompare(job->adminVersion, job->serverVersion) != 0) {
        errSet(NEO4J_ADMIN_FAILED, "%s is Neo4j %s but the server at %s runs Neo4j %s", job->admin.executable,
               job->adminVersion, job->safeUri, job->serverVersion);
        errSetAction("Point NEO4J_HOME (or NEO4J_ADMIN) at the installation of the server being backed up");
        return NEO4J_ADMIN_FAILED;
    }
    return ERR_OK;
}

static ErrCode cmdDumpCheckSpace(Catalog *catalog, const char *root, const char *databaseDir, int64_t minFreePercent)
{
    /* The previous dump's size, else the store's (a dump is smaller). */
    uint64_t required = 0;
    const char *basis = "the store size";
    CatList list = {0};
    if (catList(catalog, &list) == ERR_OK) {
        for (size_t index = 0; index < list.count && !required; index++) {
            const Manifest *manifest = list.entries[index].manifest;
            if (manifest && manifestIsValid(manifest) && cmdDumpIsDump(manifest)) {
                required = manifest->archive.sizeCompressed + manifest->archive.sizeCompressed / 5;
                basis = "the previous dump";
            }
        }
        catListFree(&list);
    }
    if (!required && fsIsDirectory(databaseDir))
        fsDirSize(databaseDir, &required);
    FsSpace space;
    ErrCode code = fsSpace(root, &space);
    if (code != ERR_OK)
        return code;
    char requiredText[FORMAT_TEXT_SIZE];
    char availableText[FORMAT_TEXT_SIZE];
    fmtSizeWhole(requiredText, sizeof(requiredText), required);
    fmtSizeWhole(availableText, sizeof(availableText), space.availableBytes);
    logDebug("Space: %s required (estimated from %s), %s available (%.1f%% free)", requiredText, basis, availableText,
             space.freePercent);
    if (space.availableBytes < required)
        errSet(BACKUP_NO_SPACE, "No space left on device (%s filesystem is full)", root);
    else if (space.freePercent < (double)minFreePercent)
        errSet(BACKUP_NO_SPACE,
               "Only %.1f%% of the %s filesystem is free, less than BACKUP_MIN_FREE_PERCENT=%" PRId64 "%%",
               space.freePercent, root, minFreePercent);
    else
        return ERR_OK;
    errSetDetails("Required: %s | Available: %s", requiredText, availableText);
    return BACKUP_NO_SPACE;
}

/* One `neo4j-admin database dump <database> --to-stdout` into path, or, when
 * storage is set, streamed into its file `name` (object storage: a multipart
 * upload as the dump runs, nothing staged on local disk). */
static ErrCode cmdDumpOne(CmdDumpCreateJob *job, const char *database, const char *path, Storage *storage,
                          const char *name, DumpFileInfo *info)
{
    /* "--" ends the options: a database name is never read as one. */
    const char *const args[] = {"database", "dump", "--to-stdout", "--", database, NULL};
    cmdDumpLogRunning(&job->admin, args);
    DumpWriter *writer = NULL;
    ErrCode code = storage ? dumpWriterOpenStorage(&writer, storage, name, path) : dumpWriterOpen(&writer, path);
    ProcRun run;
    memset(&run, 0, sizeof(run));
    if (code == ERR_OK) {
        ProcIo io = {.sink = dumpWriterAdd, .sinkPayload = writer, .cancelFlag = job->context->cancelFlag};
        code = neo4jAdminRun(&job->admin, args, &io, &run);
        if (code != ERR_OK)
            job->failedRun = run;
    }
    if (code == ERR_OK)
        code = dumpWriterFinish(writer, info);
    dumpWriterFree(writer);
    if (code == ERR_OK) {
        char size[FORMAT_TEXT_SIZE];
        logInfo("Dumped %s in %.0f seconds: %s", database, run.seconds, fmtSize(size, sizeof(size), info->bytes));
    }
    return code;
}

static void cmdDumpRecordMetadata(BoltConnection *connection, const char *database, const Manifest *manifest)
{
    if (backupMetadataRecord(connection, database, manifest) != ERR_OK)
        logWarn("Could not record the BackupMetadata node in %s: %s", database, errLast()->reason);
}

static void cmdDumpFillManifest(CmdDumpCreateJob *job, const char *id, int64_t created, const CmdDumpArchive *archives,
                                size_t archiveCount, bool stoppedByTool, double downtime, double seconds)
{
    Manifest *manifest = job->manifest;
    manifestSetString(&manifest->id, id);
    manifest->created = created;
    manifestSetString(&manifest->status, MANIFEST_STATUS_COMPLETE);
    manifestSetString(&manifest->method, "dump");
    manifestSetString(&manifest->source.uri, job->safeUri);
    manifestSetString(&manifest->source.serverVersion, job->boltAnswered ? job->serverVersion : job->adminVersion);
    if (job->boltAnswered) {
        manifestSetString(&manifest->source.edition, job->edition);
        manifestSetString(&manifest->source.boltVersion, job->boltVersion);
    }
    manifestSetString(&manifest->source.database, job->source.database);
    manifestSetString(&manifest->toolVersion, NBK_VERSION);
    manifestSetString(&manifest->compression, "none");
    manifestSetString(&manifest->archive.file, archives[0].file);
    manifest->archive.sizeCompressed = archives[0].info.bytes;
    manifest->archive.sizeUncompressed = archives[0].info.contentBytes ? archives[0].info.contentBytes
                                                                       : archives[0].info.bytes;
    manifestSetString(&manifest->archive.sha256, archives[0].info.sha256);
    manifest->stats.nodes = job->nodes;
    manifest->stats.relationships = job->relationships;
    manifest->stats.schemaItems = manifest->schemaCount;
    manifestSetCounts(manifest, &job->counts);
    if (job->statsRecorded)
        manifestSetString(&manifest->contentFingerprint, job->fingerprint);
    manifest->durationSeconds = seconds;
    manifest->hasDowntime = stoppedByTool;
    manifest->downtimeSeconds = downtime;
    if (!manifest->extra)
        manifest->extra = json_object_new_object();
    json_object_object_add(manifest->extra, "dump",
                           cmdDumpExtraJson(job->adminVersion, job->statsRecorded, stoppedByTool, archives,
                                            archiveCount));
}

/* The dump files of one backup: the user database, then system. */
static size_t cmdDumpPlanArchives(const CmdDumpCreateJob *job, CmdDumpArchive *archives)
{
    size_t count = 0;
    const char *databases[DUMP_MAX_ARCHIVES] = {job->source.database, "system"};
    size_t wanted = job->includeSystem && strcmp(job->source.database, "system") != 0 ? 2 : 1;
    for (size_t index = 0; index < wanted; index++) {
        CmdDumpArchive *archive = &archives[count++];
        memset(archive, 0, sizeof(*archive));
        snprintf(archive->database, sizeof(archive->database), "%s", databases[index]);
        snprintf(archive->file, sizeof(archive->file), "%s.dump", databases[index]);
    }
    return count;
}

/* The dump files of one backup, written while Neo4j is stopped. */
typedef struct {
    CmdDumpCreateJob *job;
    Catalog *catalog;
    CatBackupDir *backupDir;
    CmdDumpArchive *archives;
    size_t archiveCount;
    bool noSpace;
} CmdDumpFiles;

/* The storage name of a dump file below the backup's directory, and how
 * messages show it (s3://bucket/prefix/<id>/<file>). */
static ErrCode cmdDumpStorageName(const CommandContext *context, const char *dir, const char *file, char *name,
                                  size_t nameSize, char *shown, size_t shownSize)
{
    if ((size_t)snprintf(name, nameSize, "%s/%s", dir, file) >= nameSize)
        return errSet(BACKUP_IO_FAILED, "the name %s/%s is too long", dir, file);
    const char *root = cfgGet(context->config, CFG_BACKUP_STORAGE_PATH);
    size_t rootLength = root ? strlen(root) : 0;
    while (rootLength > 0 && root[rootLength - 1] == '/')
        rootLength--;
    snprintf(shown, shownSize, "%.*s/%s", (int)rootLength, root ? root : "", name);
    return ERR_OK;
}

static ErrCode cmdDumpFilesWork(const Neo4jAdmin *admin, void *payload, ProcRun *run)
{
    (void)admin; /* the job's */
    CmdDumpFiles *files = payload;
    ErrCode code = ERR_OK;
    /* No paths (object storage): each dump streams into the storage. */
    bool streamed = !catBackupDirPath(files->backupDir)[0];
    for (size_t index = 0; code == ERR_OK && index < files->archiveCount; index++) {
        char path[NEO4J_PATH_SIZE];
        char name[NEO4J_PATH_SIZE] = "";
        if (streamed)
            code = cmdDumpStorageName(files->job->context, catBackupDirName(files->backupDir),
                                      files->archives[index].file, name, sizeof(name), path, sizeof(path));
        else
            code = fsPathJoin(path, sizeof(path), catBackupDirPath(files->backupDir), files->archives[index].file);
        if (code == ERR_OK)
            code = cmdDumpOne(files->job, files->archives[index].database, path,
                              streamed ? catStorage(files->catalog) : NULL, name, &files->archives[index].info);
        files->noSpace = files->noSpace || code == BACKUP_NO_SPACE;
    }
    *run = files->job->failedRun;
    return code;
}

/* The dump's stop and start as INFO lines (a failed start is reported after
 * the backup's own outcome). */
static void cmdDumpCreateEvent(const Neo4jOfflineEvent *event, void *payload)
{
    (void)payload;
    if (event->kind == NEO4J_OFFLINE_STOPPING)
        logInfo("Stopping Neo4j for the dump: %s", event->command);
    else if (event->kind == NEO4J_OFFLINE_STOPPED)
        logInfo("Neo4j stopped in %.0f seconds", event->seconds);
    else if (event->kind == NEO4J_OFFLINE_STARTING)
        logInfo("Starting Neo4j again: %s", event->command);
    else if (event->kind == NEO4J_OFFLINE_STARTED)
        logInfo("Neo4j answers again: downtime %.0f seconds", event->seconds);
}

ErrCode cmdDumpCreate(CommandContext *context, char idOut[CAT_ID_SIZE])
{
    idOut[0] = '\0';
    CmdDumpCreateJob job;
    memset(&job, 0, sizeof(job));
    job.context = context;
    job.config = context->config;
    job.includeSystem = context->options && optionsHas(context->options, OPT_INCLUDE_SYSTEM);
    job.manifest = manifestNew();
    int64_t minFreePercent = 20;
    ErrCode code = cfgGetInt(job.config, CFG_BACKUP_MIN_FREE_PERCENT, &minFreePercent);
    if (code == ERR_OK)
        code = cfgInstance(job.config, CFG_PRODUCTION_INSTANCE, &job.source);
    const char *root = cfgGet(job.config, CFG_BACKUP_STORAGE_PATH);
    if (code == ERR_OK && !root)
        code = cfgStoragePathMissing();
    if (code != ERR_OK) {
        logErrorBlock("Failed to create backup", false);
        cfgInstanceFree(&job.source);
        manifestFree(job.manifest);
        graphCountsFree(&job.counts);
        return code;
    }
    boltUriSafe(job.source.uri, job.safeUri, sizeof(job.safeUri));
    logInfo("Starting backup creation...");
    logInfo("Method: dump (neo4j-admin database dump of database %s; Neo4j is offline while it runs)",
            job.source.database);
    const char *compression = cfgGet(job.config, CFG_BACKUP_COMPRESSION);
    if (compression && strcmp(compression, "none") != 0 &&
        cfgSource(job.config, CFG_BACKUP_COMPRESSION) != CFG_SOURCE_DEFAULT)
        logInfo("Compression: neo4j-admin already compresses the dump with zstd; it is stored as is "
                "(BACKUP_COMPRESSION=%s applies to logical backups)", compression);

    BoltConnection *connection = NULL;
    Catalog *catalog = NULL;
    StorageLock *createLock = NULL;
    CatBackupDir *backupDir = NULL;
    CmdDumpArchive archives[DUMP_MAX_ARCHIVES];
    size_t archiveCount = 0;
    bool critical = false;
    bool stopped = false;
    double downtime = 0;
    ErrCode restartCode = ERR_OK;
    ErrDetail restartFailure;
    memset(&restartFailure, 0, sizeof(restartFailure));
    ProcRun restartRun;
    memset(&restartRun, 0, sizeof(restartRun));
    double started = timeMonotonic();
    int64_t created = timeNow();
    char id[CAT_ID_SIZE] = "";

    code = cmdDumpPreflight(&job, &connection);
    if (code == ERR_OK && context->dryRun) {
        timeBackupId(created, id);
        archiveCount = cmdDumpPlanArchives(&job, archives);
        logInfo("Dry run: would %srun %s database dump %s --to-stdout into %s/%s/%s%s%s",
                job.boltAnswered ? "record the graph stats, stop Neo4j with NEO4J_STOP_COMMAND, " : "",
                job.admin.executable, job.source.database, root, id, archives[0].file,
                archiveCount > 1 ? " (and the system database into system.dump)" : "",
                job.boltAnswered ? ", then start it again with NEO4J_START_COMMAND" : "");
        logInfo("Dry run: nothing was changed");
        boltClose(connection);
        cfgInstanceFree(&job.source);
        manifestFree(job.manifest);
        graphCountsFree(&job.counts);
        return ERR_OK;
    }
    /* One backup at a time per storage path, as the logical method. */
    if (code == ERR_OK)
        code = supportBeginCreate(context, "backup --create --method dump", &catalog, &createLock);
    bool local = !catalog || catRoot(catalog) != NULL;
    if (code == ERR_OK && local) {
        code = cmdDumpCheckSpace(catalog, root, job.databaseDir, minFreePercent);
        critical = code == BACKUP_NO_SPACE;
    } else if (code == ERR_OK) {
        logDebug("Space: not checked, object storage has no fixed capacity");
    }
    /* Last step before the stop: what is read now is what the dump will hold. */
    if (code == ERR_OK && job.boltAnswered)
        code = cmdDumpRecordStats(&job, connection);
    created = timeNow();
    if (code == ERR_OK)
        code = catNewId(catalog, created, id);
    if (code == ERR_OK)
        code = catBackupDirBegin(catalog, id, &backupDir);

    /* From the stop on, the start command runs whatever happens. */
    if (code == ERR_OK)
        archiveCount = cmdDumpPlanArchives(&job, archives);
    CmdDumpFiles files = {&job, catalog, backupDir, archives, archiveCount, false};
    if (code == ERR_OK && job.boltAnswered) {
        boltClose(connection);
        connection = NULL;
        Neo4jOfflineRequest request = {
            .instance = &job.source,
            .admin = &job.admin,
            .databaseDir = job.databaseDir,
            .work = cmdDumpFilesWork,
            .workPayload = &files,
            .wantConnection = true,
            .cancelFlag = context->cancelFlag,
            .label = "Neo4j",
            .stopSetting = "NEO4J_STOP_COMMAND",
            .startSetting = "NEO4J_START_COMMAND",
            .onEvent = cmdDumpCreateEvent,
        };
        Neo4jOfflineResult offline;
        neo4jOfflineRun(&request, &offline, &connection);
        stopped = offline.stopped;
        downtime = offline.offlineSeconds;
        restartCode = offline.startCode;
        restartFailure = offline.startFailure;
        restartRun = offline.startRun;
        code = offline.workCode;
        if (code != ERR_OK) {
            if (offline.failedRun.command[0])
                job.failedRun = offline.failedRun;
            errRestore(&offline.workFailure);
        }
    } else if (code == ERR_OK) {
        ProcRun run;
        code = cmdDumpFilesWork(&job.admin, &files, &run);
    }
    critical = critical || files.noSpace;
    if (code == ERR_OK) {
        logInfo("Backup created successfully in %.0f seconds", timeMonotonic() - started);
        char size[FORMAT_TEXT_SIZE];
        char content[FORMAT_TEXT_SIZE];
        char percent[FORMAT_TEXT_SIZE];
        logInfo("Dump size: %s (%s of the %s of store files it holds; compressed by neo4j-admin, format %s)",
                fmtSize(size, sizeof(size), archives[0].info.bytes),
                fmtPercent(percent, sizeof(percent), archives[0].info.bytes, archives[0].info.contentBytes),
                fmtSize(content, sizeof(content), archives[0].info.contentBytes),
                archives[0].info.format[0] ? archives[0].info.format : "unknown");
        if (local)
            logInfo("Computing checksum...");
    }
    /* Object storage: the SHA-256 was computed as the bytes were uploaded,
     * and the service checked each part against its signed payload hash;
     * reading the whole dump back would download it again. Its size is
     * checked against what was sent. */
    for (size_t index = 0; code == ERR_OK && !local && index < archiveCount; index++) {
        char name[NEO4J_PATH_SIZE];
        char shown[NEO4J_PATH_SIZE];
        StorageInfo info;
        code = cmdDumpStorageName(context, catBackupDirName(backupDir), archives[index].file, name, sizeof(name),
                                  shown, sizeof(shown));
        if (code == ERR_OK)
            code = storageStat(catStorage(catalog), name, &info);
        if (code == ERR_OK && info.size != archives[index].info.bytes)
            code = errSet(BACKUP_IO_FAILED, "%s holds %" PRIu64 " bytes after the upload, %" PRIu64 " were sent",
                          shown, info.size, archives[index].info.bytes);
    }
    /* Read the files back: the checksum must describe what is on disk. */
    for (size_t index = 0; code == ERR_OK && local && index < archiveCount; index++) {
        char path[NEO4J_PATH_SIZE];
        char onDisk[65];
        uint64_t size = 0;
        code = fsPathJoin(path, sizeof(path), catBackupDirPath(backupDir), archives[index].file);
        if (code == ERR_OK)
            code = arcSha256File(path, onDisk, &size);
        if (code == ERR_OK && (strcmp(onDisk, archives[index].info.sha256) != 0 || size != archives[index].info.bytes))
            code = errSet(BACKUP_IO_FAILED, "the dump read back differs from what was written (%s)", path);
    }
    if (code == ERR_OK) {
        cmdDumpFillManifest(&job, id, created, archives, archiveCount, stopped, downtime, timeMonotonic() - started);
        code = catBackupDirSaveManifest(backupDir, job.manifest);
    }
    if (code == ERR_OK) {
        code = catBackupDirCommit(backupDir);
        backupDir = NULL;
    }
    if (code == ERR_OK) {
        if (connection)
            cmdDumpRecordMetadata(connection, job.source.database, job.manifest);
        logInfo("Backup ID: %s", id);
        logInfo("Checksum SHA256: %s", archives[0].info.sha256);
        if (archiveCount > 1)
            logInfo("System database: %s, SHA256 %s", archives[1].file, archives[1].info.sha256);
        if (job.statsRecorded)
            logInfo("Graph stats: %" PRIu64 " nodes, %" PRIu64 " relationships, %zu schema items", job.nodes,
                    job.relationships, job.manifest->schemaCount);
        if (stopped)
            logInfo("Downtime: %.0f seconds", downtime);
        snprintf(idOut, CAT_ID_SIZE, "%s", id);
        if (restartCode == ERR_OK)
            logSuccess("Backup completed");
    } else {
        catBackupDirAbort(backupDir);
        cmdDumpErrorBlock("Failed to create backup", &job.failedRun, critical);
    }
    if (restartCode != ERR_OK) {
        /* Worse than a failed backup: production is down. */
        errRestore(&restartFailure);
        cmdDumpErrorBlock("Neo4j was stopped for the dump and is NOT running again", &restartRun, true);
        if (code == ERR_OK) {
            logInfo("The backup %s itself is complete", id);
            code = restartCode;
        } else {
            errRestore(&restartFailure);
            code = restartCode;
        }
    }
    manifestFree(job.manifest);
    graphCountsFree(&job.counts);
    storageLockRelease(createLock);
    catClose(catalog);
    boltClose(connection);
    cfgInstanceFree(&job.source);
    return code;
}

/* ---- --validate of a dump --------------------------------------------------------- */

/* Where a dump of a backup is: its path (local repository), or its name in
 * the storage and how messages show it (object storage: storage set). */
typedef struct {
    Storage *storage;
    char name[NEO4J_PATH_SIZE];
    char path[NEO4J_PATH_SIZE];
} CmdDumpPlace;

static ErrCode cmdDumpPlaceOf(CommandContext *context, Catalog *catalog, const char *directory, const char *id,
                              const char *file, CmdDumpPlace *out)
{
    memset(out, 0, sizeof(*out));
    if (directory)
        return fsPathJoin(out->path, sizeof(out->path), directory, file);
    out->storage = catStorage(catalog);
    return cmdDumpStorageName(context, id, file, out->name, sizeof(out->name), out->path, sizeof(out->path));
}

static ErrCode cmdDumpVerifyOthers(CommandContext *context, Catalog *catalog, const CatEntry *entry,
                                   const char *directory, const CmdDumpArchive *others, size_t count, bool *reported)
{
    for (size_t index = 0; index < count; index++) {
        CmdDumpPlace place;
        char got[65];
        uint64_t size = 0;
        StorageInfo info;
        ErrCode code = cmdDumpPlaceOf(context, catalog, directory, entry->id, others[index].file, &place);
        const char *path = place.path;
        if (code == ERR_OK && (place.storage ? storageInfo(place.storage, place.name, &info) != ERR_OK
                                             : !fsExists(path))) {
            errSet(BACKUP_CORRUPTED, "the archive file %s is missing", path);
            verifyReportCorrupted("Backup validation failed", NULL, NULL);
            *reported = true;
            return BACKUP_CORRUPTED;
        }
        if (code == ERR_OK)
            code = place.storage ? arcSha256Storage(place.storage, place.name, got, &size)
                                 : arcSha256File(path, got, &size);
        if (code != ERR_OK)
            return code;
        if (strcmp(got, others[index].info.sha256) != 0) {
            errSet(BACKUP_CORRUPTED, "checksum mismatch for %s of backup %s", path, entry->id);
            verifyReportCorrupted("Backup validation failed", others[index].info.sha256, got);
            *reported = true;
            return BACKUP_CORRUPTED;
        }
        logInfo("Checksum verification (%s): PASSED", others[index].file);
    }
    return ERR_OK;
}

static ErrCode cmdDumpInspect(const CmdDumpPlace *place, const char *label, const Manifest *manifest,
                              bool *reported)
{
    DumpFileInfo info;
    ErrCode code = place->storage ? dumpStorageInspect(place->storage, place->name, place->path, &info)
                                  : dumpFileInspect(place->path, &info);
    if (code == BACKUP_CORRUPTED) {
        verifyReportCorrupted("Backup validation failed", NULL, NULL);
        *reported = true;
        return code;
    }
    if (code != ERR_OK)
        return code;
    char content[FORMAT_TEXT_SIZE];
    if (!info.format[0])
        logInfo("Dump structure (%s): not checked, the format is not one this version knows (the checksum passed)",
                label);
    else
        logInfo("Dump structure (%s): PASSED (%s, compressed stream complete, %s of store files)", label, info.format,
                fmtSize(content, sizeof(content), info.contentBytes));
    if (manifest && info.format[0] && manifest->archive.sizeUncompressed &&
        manifest->archive.sizeUncompressed != info.contentBytes) {
        errSet(BACKUP_CORRUPTED, "the dump holds %" PRIu64 " bytes of store files, the manifest says %" PRIu64,
               info.contentBytes, manifest->archive.sizeUncompressed);
        verifyReportCorrupted("Backup validation failed", NULL, NULL);
        *reported = true;
        return BACKUP_CORRUPTED;
    }
    return ERR_OK;
}

/* neo4j-admin database check of every dump of the backup, in a scratch
 * directory under the storage root (removed afterwards; the catalog's
 * leftover cleaning removes it after a crash: it is a locked .tmp-* dir). */
static ErrCode cmdDumpDeepCheck(CommandContext *context, Catalog *catalog, const CatEntry *entry, const char *directory,
                                const CmdDumpArchive *archives, size_t count, bool *reported)
{
    InstanceConfig production = {0};
    Neo4jAdmin admin;
    ProcRun run;
    memset(&run, 0, sizeof(run));
    ErrCode code = cfgInstance(context->config, CFG_PRODUCTION_INSTANCE, &production);
    if (code == ERR_OK)
        code = neo4jAdminResolve(cfgGet(context->config, CFG_NEO4J_ADMIN), production.neo4jHome, &admin);
    cfgInstanceFree(&production);
    if (code != ERR_OK) {
        errAddContext("--deep runs neo4j-admin database check");
        return code;
    }
    /* No --version run first: the check itself reports a neo4j-admin that
     * cannot read this dump, and every JVM start costs seconds. */
    const char *dumpedBy = entry->manifest->source.serverVersion;
    logInfo("Deep check: the dump was made by Neo4j %s", dumpedBy ? dumpedBy : "(unknown version)");
    char scratch[NEO4J_PATH_SIZE];
    char scratchName[CAT_ID_SIZE + 48];
    snprintf(scratchName, sizeof(scratchName), ".tmp-check-%s-%ld", entry->id, (long)getpid());
    code = fsPathJoin(scratch, sizeof(scratch), catRoot(catalog), scratchName);
    Lock *scratchLock = NULL;
    char lockPath[NEO4J_PATH_SIZE];
    if (code == ERR_OK)
        code = fsMkdirP(scratch, 0700);
    if (code == ERR_OK)
        code = fsPathJoin(lockPath, sizeof(lockPath), scratch, CAT_LOCK_FILE_NAME);
    if (code == ERR_OK)
        code = lockAcquire(&scratchLock, lockPath, LOCK_EXCLUSIVE, 0, "backup --validate --deep");
    for (size_t index = 0; code == ERR_OK && index < count; index++) {
        char path[NEO4J_PATH_SIZE];
        char work[NEO4J_PATH_SIZE];
        code = fsPathJoin(path, sizeof(path), directory, archives[index].file);
        if (code == ERR_OK)
            code = fsPathJoin(work, sizeof(work), scratch, archives[index].database);
        if (code != ERR_OK)
            break;
        logInfo("Running: %s database check --from-path=<scratch copy> %s (%s)", cmdDumpBaseName(admin.executable),
                archives[index].database, admin.executable);
        DumpCheckFindings findings;
        code = fsMkdirP(work, 0700);
        if (code == ERR_OK)
            code = dumpRestoreCheckConsistency(&admin, path, archives[index].database, work, context->cancelFlag, &run,
                                               &findings);
        if (code == ERR_OK) {
            logInfo("Consistency check (%s, neo4j-admin database check): PASSED in %.0f seconds",
                    archives[index].database, run.seconds);
        } else if (code == BACKUP_CORRUPTED) {
            ErrDetail failure = errSave();
            logError("Consistency check (%s, neo4j-admin database check): FAILED", archives[index].database);
            for (unsigned line = 0; line < findings.reportLineCount; line++)
                logError("  %s", findings.reportLines[line]);
            for (unsigned line = 0; !findings.reportLineCount && line < run.tailCount; line++)
                logError("  %s", run.tail[line]);
            errRestore(&failure);
            verifyReportCorrupted("Backup validation failed", NULL, NULL);
            *reported = true;
        } else {
            cmdDumpErrorBlock("Backup validation failed", &run, false);
            *reported = true;
        }
    }
    ErrDetail outcome = errSave();
    lockRelease(scratchLock);
    if (fsIsDirectory(scratch) && fsRemoveTree(catRoot(catalog), scratch) != ERR_OK)
        logWarn("Could not remove the scratch directory %s", scratch);
    errRestore(&outcome);
    return code;
}

ErrCode cmdDumpValidate(CommandContext *context, Catalog *catalog, const CatEntry *entry, const char *archivePath,
                        bool *reported)
{
    const Manifest *manifest = entry->manifest;
    char directory[NEO4J_PATH_SIZE];
    /* Object storage: the dumps are read through the storage (ranged GETs). */
    bool local = catRoot(catalog) != NULL;
    ErrCode code = local ? catBackupPath(catalog, entry->id, directory, sizeof(directory)) : ERR_OK;
    const char *at = local ? directory : NULL;
    CmdDumpArchive archives[DUMP_MAX_ARCHIVES];
    memset(archives, 0, sizeof(archives));
    snprintf(archives[0].database, sizeof(archives[0].database), "%s",
             manifest->source.database ? manifest->source.database : "neo4j");
    snprintf(archives[0].file, sizeof(archives[0].file), "%s", manifest->archive.file ? manifest->archive.file : "");
    size_t count = 1 + cmdDumpOtherArchives(manifest, archives + 1, DUMP_MAX_ARCHIVES - 1);
    if (code == ERR_OK)
        code = cmdDumpVerifyOthers(context, catalog, entry, at, archives + 1, count - 1, reported);
    CmdDumpPlace place;
    if (code == ERR_OK) {
        code = cmdDumpPlaceOf(context, catalog, at, entry->id, archives[0].file, &place);
        if (code == ERR_OK && local)
            snprintf(place.path, sizeof(place.path), "%s", archivePath);
    }
    if (code == ERR_OK)
        code = cmdDumpInspect(&place, archives[0].file, manifest, reported);
    for (size_t index = 1; code == ERR_OK && index < count; index++) {
        code = cmdDumpPlaceOf(context, catalog, at, entry->id, archives[index].file, &place);
        if (code == ERR_OK)
            code = cmdDumpInspect(&place, archives[index].file, NULL, reported);
    }
    if (code == ERR_OK) {
        if (cmdDumpStatsRecorded(manifest))
            logInfo("Recorded at backup time: %" PRIu64 " nodes, %" PRIu64 " relationships, %zu schema items, "
                    "fingerprint %.12s... (a restore is checked against them)",
                    manifest->stats.nodes, manifest->stats.relationships, manifest->schemaCount,
                    manifest->contentFingerprint ? manifest->contentFingerprint : "");
        else
            logInfo("No graph stats were recorded at backup time (Neo4j was already stopped)");
    }
    if (code == ERR_OK && context->options && optionsHas(context->options, OPT_DEEP) && !local) {
        errSet(CONFIG_INVALID, "--deep runs neo4j-admin database check, which reads a dump from a local path; "
                               "this backup is on object storage");
        errSetAction("Validate without --deep (checksum and the dump's structure are checked through the "
                     "storage), or restore the dump into a test instance, which checks it against the graph "
                     "stats recorded at backup time");
        code = CONFIG_INVALID;
    } else if (code == ERR_OK && context->options && optionsHas(context->options, OPT_DEEP)) {
        code = cmdDumpDeepCheck(context, catalog, entry, directory, archives, count, reported);
    }
    else if (code == ERR_OK)
        logInfo("Neo4j's own consistency check was not run: add --deep for neo4j-admin database check");
    return code;
}

/* ---- restoring a dump --------------------------------------------------------------- */

ErrCode cmdDumpRestorePreflight(const CatEntry *entry, const InstanceConfig *instance)
{
    const char *missing = neo4jOfflineMissing(instance);
    if (!missing)
        return ERR_OK;
    if (instance->isProduction) {
        errSet(CONFIG_INVALID, "backup %s is a dump (method dump): it can be restored only into an instance with a "
                               "NEO4J_HOME and stop/start commands, and production has no %s%s", entry->id,
               strcmp(missing, "NEO4J_HOME") == 0 ? "" : "NEO4J_", missing);
        errSetAction("Set NEO4J_HOME, NEO4J_STOP_COMMAND and NEO4J_START_COMMAND for production, or promote a "
                     "logical backup (it restores into any instance)");
    } else {
        errSet(CONFIG_INVALID, "backup %s is a dump (method dump): it can be restored only into an instance with a "
                               "NEO4J_HOME and stop/start commands, and target %s has no %s", entry->id, instance->name,
               missing);
        errSetAction("Add NEO4J_HOME, STOP_COMMAND and START_COMMAND to [instance %s] in the config file, or "
                     "restore a logical backup (it restores into any instance)", instance->name);
    }
    return CONFIG_INVALID;
}

ErrCode cmdOfflineAdmin(CommandContext *context, const InstanceConfig *instance, Neo4jAdmin *admin,
                        char *adminVersion, size_t adminVersionSize)
{
    const char *configuredAdmin = instance->isProduction ? cfgGet(context->config, CFG_NEO4J_ADMIN) : NULL;
    Neo4jAdminCheck check;
    ErrCode code = neo4jAdminOfInstance(instance, configuredAdmin, &check);
    *admin = check.admin;
    snprintf(adminVersion, adminVersionSize, "%s", check.adminVersion);
    if (check.unreachable)
        logInfo("Target %s does not answer: taking it as stopped", instance->name);
    if (check.adminVersion[0])
        logInfo("neo4j-admin of %s: version %s (%s)", instance->name, check.adminVersion, check.admin.executable);
    else if (code != ERR_OK)
        cmdDumpLogRun(&check.run);
    return code;
}

/* The offline sequence of a load as the restore shows it. */
static void cmdOfflineLoadEvent(const Neo4jOfflineEvent *event, void *payload)
{
    (void)payload;
    const InstanceConfig *instance = event->instance;
    switch (event->kind) {
    case NEO4J_OFFLINE_STOPPING:
        logInfo("Stopping %s for the load: %s", instance->name, event->command);
        break;
    case NEO4J_OFFLINE_STARTING:
        logInfo("Starting %s again: %s", instance->name, event->command);
        break;
    case NEO4J_OFFLINE_STARTED:
        if (!event->workFailed)
            logInfo("%s answers again after %.0f seconds offline", instance->name, event->seconds);
        else
            logWarn("%s runs again, but the failed load may have left database %s incomplete or unavailable; "
                    "restoring again replaces it", instance->name, instance->database);
        break;
    case NEO4J_OFFLINE_START_FAILED:
        /* Worse than a failed load: the target is down. */
        cmdDumpErrorBlock("The target is NOT running again after the load", event->run, true);
        break;
    case NEO4J_OFFLINE_STOPPED:
        break;
    }
}

ErrCode cmdOfflineRun(CommandContext *context, const InstanceConfig *instance, const Neo4jAdmin *admin,
                      Neo4jOfflineWork work, void *payload, BoltConnection **connection)
{
    Neo4jOfflineRequest request = {
        .instance = instance,
        .admin = admin,
        .work = work,
        .workPayload = payload,
        .wantConnection = true,
        .cancelFlag = context->cancelFlag,
        .onEvent = cmdOfflineLoadEvent,
    };
    Neo4jOfflineResult result;
    ErrCode code = neo4jOfflineRun(&request, &result, connection);
    if (result.workCode != ERR_OK) {
        cmdDumpLogRun(&result.failedRun);
        errRestore(&result.workFailure);
    }
    return code;
}

typedef struct {
    CommandContext *context;
    const InstanceConfig *instance;
    const CatEntry *entry;
    const ArcLocation *archive;
} CmdDumpLoad;

static ErrCode cmdDumpLoadWork(const Neo4jAdmin *admin, void *payload, ProcRun *run)
{
    const CmdDumpLoad *load = payload;
    const InstanceConfig *instance = load->instance;
    const Manifest *manifest = load->entry->manifest;
    const char *const args[] = {"database", "load", "--from-stdin", "--overwrite-destination=true", "--",
                                instance->database, NULL};
    cmdDumpLogRunning(admin, args);
    ErrCode code = dumpRestoreLoad(admin, instance->database, load->archive, manifest->archive.sha256,
                                   load->context->cancelFlag, run);
    if (code == ERR_OK)
        logInfo("Loaded %s into %s in %.0f seconds", manifest->archive.file, instance->name, run->seconds);
    return code;
}

/* Stop, load, start (always once stopped), wait. */
static ErrCode cmdDumpLoadInto(CommandContext *context, const CatEntry *entry, const ArcLocation *archive,
                               const InstanceConfig *instance, BoltConnection **connection)
{
    const Manifest *manifest = entry->manifest;
    Neo4jAdmin admin;
    char adminVersion[64] = "";
    *connection = NULL;
    ErrCode code = cmdOfflineAdmin(context, instance, &admin, adminVersion, sizeof(adminVersion));
    if (code != ERR_OK)
        return code;
    const char *dumpedBy = manifest->source.serverVersion;
    if (dumpedBy && neo4jVersionCompare(adminVersion, dumpedBy) < 0) {
        errSet(RESTORE_FAILED, "backup %s is a dump of Neo4j %s, which Neo4j %s of %s cannot load (it is older)",
               entry->id, dumpedBy, adminVersion, instance->name);
        errSetAction("Restore into an instance running Neo4j %s or newer", dumpedBy);
        return RESTORE_FAILED;
    }
    CmdDumpLoad load = {context, instance, entry, archive};
    return cmdOfflineRun(context, instance, &admin, cmdDumpLoadWork, &load, connection);
}

ErrCode cmdDumpRestoreInto(CommandContext *context, const char *root, const CatEntry *entry,
                           const ArcLocation *archive, const InstanceConfig *instance, bool validate,
                           char *failedCheck, size_t failedCheckSize)
{
    const Manifest *manifest = entry->manifest;
    failedCheck[0] = '\0';
    ErrCode code = cmdDumpRestorePreflight(entry, instance);
    if (code != ERR_OK)
        return code;
    /* A local repository's dump is read by its path, as it always was. */
    ArcLocation where = *archive;
    if (where.path && where.storage && storagePosixRoot(where.storage))
        where.storage = NULL;
    logInfo("Restoring data into %s (database %s) from the dump %s...", instance->name, instance->database,
            manifest->archive.file);
    double started = timeMonotonic();
    BoltConnection *connection = NULL;
    code = cmdDumpLoadInto(context, entry, &where, instance, &connection);
    if (code != ERR_OK) {
        boltClose(connection);
        return code;
    }
    char duration[FORMAT_TEXT_SIZE];
    logInfo("Restore completed in %s", fmtDuration(duration, sizeof(duration), timeMonotonic() - started));
    if (validate) {
        recoveryTransition(root, RECOVERY_VALIDATION, manifest->id, instance->name, NULL, instance->isProduction);
        logInfo("Running health checks on restored instance...");
        bool recorded = cmdDumpStatsRecorded(manifest);
        GraphCounts perName = {0};
        bool havePerName = recorded && manifestHasCounts(manifest);
        if (havePerName)
            manifestGetCounts(manifest, &perName);
        else if (recorded)
            logInfo("The backup carries no counts per label and type (an older backup): only the totals are "
                    "compared");
        DumpHealthExpectations expected = {
            .fingerprint = recorded ? manifest->contentFingerprint : NULL,
            .haveCounts = recorded,
            .nodes = manifest->stats.nodes,
            .relationships = manifest->stats.relationships,
            .counts = havePerName ? &perName : NULL,
            .haveSchema = recorded,
            .schema = manifest->schema,
            .schemaCount = manifest->schemaCount,
        };
        HealthCheckResult checks[HEALTH_CHECK_COUNT];
        bool skipped[HEALTH_CHECK_COUNT];
        dumpRestoreHealth(connection, instance->database, &expected, checks, skipped);
        graphCountsFree(&perName);
        /* The test hook of restore.c's promotion rollback, for dumps too. */
#ifdef NBK_TEST_HOOKS
        const char *fault = getenv("NBK_FAULT_PROMOTE_HEALTH");
#endif
        for (int index = 0; index < HEALTH_CHECK_COUNT; index++) {
#ifdef NBK_TEST_HOOKS
            if (fault && instance->isProduction && strcmp(fault, checks[index].name) == 0) {
                checks[index].status = HEALTH_FAIL;
                skipped[index] = false;
                snprintf(checks[index].finding, sizeof(checks[index].finding),
                         "failure injected by NBK_FAULT_PROMOTE_HEALTH");
            }
#endif
            if (skipped[index])
                logInfo("Health check: %s ... SKIPPED (%s)", checks[index].name, checks[index].finding);
            else
                logInfo("Health check: %s ... %s", checks[index].name,
                        checks[index].status == HEALTH_PASS ? "PASS" : "FAIL");
            if (checks[index].status != HEALTH_PASS && !failedCheck[0]) {
                snprintf(failedCheck, failedCheckSize, "%s", checks[index].name);
                errSet(RESTORE_HEALTH_FAILED, "%s", checks[index].finding);
                code = RESTORE_HEALTH_FAILED;
            }
        }
    }
    boltClose(connection);
    return code;
}
