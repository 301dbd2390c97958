/* Restoring a dump: load, consistency check, health checks (dump_restore.h). */
#include "restore/dump_restore.h"

#include "common/fsutil.h"
#include "common/log.h"
#include "common/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Seconds to wait for index population after a start before the checks. */
#define DUMP_INDEX_WAIT_SECONDS 300

/* ---- load ---------------------------------------------------------------------- */

typedef struct {
    const char *path;            /* as messages show the dump */
    const char *expectedSha256;
    int fd;
    StorageRead *reader;         /* instead of fd: the dump in a storage */
    EVP_MD_CTX *sha;
    uint8_t *held;      /* the chunk held back until the next read shows whether it is the last */
    uint8_t *next;
    size_t heldLength;
    size_t capacity;
    bool primed;
    bool finished;
} DumpLoadSource;

static ErrCode dumpLoadReadFull(DumpLoadSource *source, uint8_t *buffer, size_t *length)
{
    *length = 0;
    while (*length < source->capacity) {
        if (source->reader) {
            size_t got = 0;
            ErrCode code = storageRead(source->reader, buffer + *length, source->capacity - *length, &got);
            if (code != ERR_OK)
                return code;
            if (got == 0)
                break;
            *length += got;
            continue;
        }
        ssize_t got = read(source->fd, buffer + *length, source->capacity - *length);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return fsErrorFromErrno(errno, "cannot read", source->path);
        if (got == 0)
            break;
        *length += (size_t)got;
    }
    EVP_DigestUpdate(source->sha, buffer, *length);
    return ERR_OK;
}

static ErrCode dumpLoadFill(uint8_t *buffer, size_t capacity, size_t *length, void *payload)
{
    DumpLoadSource *source = payload;
    *length = 0;
    if (source->finished)
        return ERR_OK;
    if (!source->held) {
        source->capacity = capacity;
        source->held = memAlloc(capacity);
        source->next = memAlloc(capacity);
    }
    ErrCode code = ERR_OK;
    if (!source->primed) {
        code = dumpLoadReadFull(source, source->held, &source->heldLength);
        source->primed = true;
    }
    size_t nextLength = 0;
    if (code == ERR_OK)
        code = dumpLoadReadFull(source, source->next, &nextLength);
    if (code != ERR_OK)
        return code;
    if (nextLength == 0) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned digestLength = 0;
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        EVP_DigestFinal_ex(source->sha, digest, &digestLength);
        for (unsigned index = 0; index < digestLength; index++)
            snprintf(hex + index * 2, 3, "%02x", digest[index]);
        if (strcmp(hex, source->expectedSha256) != 0)
            return errSet(BACKUP_CORRUPTED, "%s changed after it was verified (SHA-256 now %s, expected %s); the "
                                            "load was stopped before its end", source->path, hex,
                          source->expectedSha256);
        source->finished = true;
    }
    memcpy(buffer, source->held, source->heldLength);
    *length = source->heldLength;
    uint8_t *swap = source->held;
    source->held = source->next;
    source->next = swap;
    source->heldLength = nextLength;
    return ERR_OK;
}

ErrCode dumpRestoreLoad(const Neo4jAdmin *admin, const char *database, const ArcLocation *dump,
                        const char *expectedSha256, volatile sig_atomic_t *cancelFlag, ProcRun *run)
{
    memset(run, 0, sizeof(*run));
    DumpLoadSource source = {.path = arcLocationShown(dump), .expectedSha256 = expectedSha256 ? expectedSha256 : "",
                             .fd = -1};
    ErrCode opened = dump->storage ? storageReadOpen(dump->storage, dump->name, 0, STORAGE_READ_ALL, &source.reader)
                                   : fsOpenRegular(dump->path, &source.fd, NULL); /* no FIFO, no link */
    if (opened != ERR_OK)
        return opened;
    source.sha = EVP_MD_CTX_new();
    ErrCode code = source.sha && EVP_DigestInit_ex(source.sha, EVP_sha256(), NULL) == 1
                       ? ERR_OK
                       : errSet(ERR_INTERNAL, "cannot initialise SHA-256");
    if (code == ERR_OK) {
        /* "--" ends the options: a database name is never read as one. */
        const char *const args[] = {"database", "load", "--from-stdin", "--overwrite-destination=true", "--",
                                    database, NULL};
        ProcIo io = {.source = dumpLoadFill, .sourcePayload = &source, .cancelFlag = cancelFlag};
        /* A checksum mismatch stops the feed and neo4j-admin with it; the
         * error returned is then the mismatch, not neo4j-admin's failure. */
        code = neo4jAdminRun(admin, args, &io, run);
    }
    if (source.fd >= 0)
        close(source.fd);
    storageReadClose(source.reader);
    EVP_MD_CTX_free(source.sha);
    free(source.held);
    free(source.next);
    return code;
}

/* ---- consistency check ---------------------------------------------------------- */

/* The dump under the name neo4j-admin looks for: a hard link (no copy), else a symbolic one. */
static ErrCode dumpRestoreLinkDump(const char *dumpPath, const char *linkPath)
{
    if (link(dumpPath, linkPath) == 0)
        return ERR_OK;
    char absolute[NEO4J_PATH_SIZE];
    if (!realpath(dumpPath, absolute))
        return fsErrorFromErrno(errno, "cannot resolve", dumpPath);
    if (symlink(absolute, linkPath) != 0)
        return fsErrorFromErrno(errno, "cannot link the dump into", linkPath);
    return ERR_OK;
}

/* First lines of every *.report file in directory. */
static void dumpRestoreReadReports(const char *directory, DumpCheckFindings *findings)
{
    DIR *dir = opendir(directory);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        size_t length = strlen(entry->d_name);
        if (length < 7 || strcmp(entry->d_name + length - 7, ".report") != 0)
            continue;
        char path[NEO4J_PATH_SIZE];
        if (fsPathJoin(path, sizeof(path), directory, entry->d_name) != ERR_OK)
            continue;
        FILE *file = fopen(path, "re");
        char line[PROC_TAIL_LINE_SIZE];
        while (file && findings->reportLineCount < DUMP_REPORT_LINES && fgets(line, sizeof(line), file)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0])
                snprintf(findings->reportLines[findings->reportLineCount++], PROC_TAIL_LINE_SIZE, "%s", line);
        }
        if (file)
            fclose(file);
    }
    closedir(dir);
}

static bool dumpRestoreMentionsInconsistency(const ProcRun *run)
{
    for (unsigned index = 0; index < run->tailCount; index++)
        if (strstr(run->tail[index], "nconsisten"))
            return true;
    return false;
}

ErrCode dumpRestoreCheckConsistency(const Neo4jAdmin *admin, const char *dumpPath, const char *database,
                                    const char *scratchDir, volatile sig_atomic_t *cancelFlag, ProcRun *run,
                                    DumpCheckFindings *findings)
{
    memset(run, 0, sizeof(*run));
    memset(findings, 0, sizeof(*findings));
    char dumpDir[NEO4J_PATH_SIZE];
    char tempDir[NEO4J_PATH_SIZE];
    char reportDir[NEO4J_PATH_SIZE];
    char linkName[256];
    char linkPath[NEO4J_PATH_SIZE];
    snprintf(linkName, sizeof(linkName), "%s.dump", database);
    ErrCode code = fsPathJoin(dumpDir, sizeof(dumpDir), scratchDir, "dump");
    if (code == ERR_OK)
        code = fsPathJoin(tempDir, sizeof(tempDir), scratchDir, "temp");
    if (code == ERR_OK)
        code = fsPathJoin(reportDir, sizeof(reportDir), scratchDir, "report");
    if (code == ERR_OK)
        code = fsPathJoin(linkPath, sizeof(linkPath), dumpDir, linkName);
    if (code == ERR_OK)
        code = fsMkdirP(dumpDir, 0700);
    if (code == ERR_OK)
        code = fsMkdirP(tempDir, 0700);
    if (code == ERR_OK)
        code = fsMkdirP(reportDir, 0700);
    if (code == ERR_OK)
        code = dumpRestoreLinkDump(dumpPath, linkPath);
    if (code != ERR_OK)
        return code;
    char fromPath[NEO4J_PATH_SIZE + 16];
    char tempPath[NEO4J_PATH_SIZE + 16];
    char reportPath[NEO4J_PATH_SIZE + 16];
    snprintf(fromPath, sizeof(fromPath), "--from-path=%s", dumpDir);
    snprintf(tempPath, sizeof(tempPath), "--temp-path=%s", tempDir);
    snprintf(reportPath, sizeof(reportPath), "--report-path=%s", reportDir);
    /* Off-heap memory: neo4j-admin's default is 90% of free memory, too
     * greedy beside a running server; it takes only what the store needs. */
    const char *const args[] = {"database", "check", fromPath, tempPath, reportPath,
                                "--max-off-heap-memory=25%", "--", database, NULL};
    ProcIo io = {.cancelFlag = cancelFlag};
    code = neo4jAdminRun(admin, args, &io, run);
    if (code != NEO4J_ADMIN_FAILED || run->exitStatus <= 0)
        return code;
    dumpRestoreReadReports(reportDir, findings);
    if (findings->reportLineCount || dumpRestoreMentionsInconsistency(run)) {
        ErrDetail failure = errSave();
        errSet(BACKUP_CORRUPTED, "Neo4j's consistency check found inconsistencies in %s", dumpPath);
        errSetDetails("%s", failure.details);
        return BACKUP_CORRUPTED;
    }
    return code;
}

/* ---- health checks ---------------------------------------------------------------- */

static void dumpRestoreSkip(HealthCheckResult *out, bool *skipped, const char *name, const char *why)
{
    healthFinding(out, name, HEALTH_PASS, "skipped: %s", why);
    *skipped = true;
}

static HealthStatus dumpRestoreCheckCounts(BoltConnection *connection, const char *database,
                                           const DumpHealthExpectations *expected, HealthCheckResult *out)
{
    static const char name[] = "counts";
    uint64_t nodes = 0;
    uint64_t relationships = 0;
    GraphCounts found = {0};
    ErrCode code = healthGraphCounts(connection, database, &nodes, &relationships);
    if (code == ERR_OK && expected->counts)
        code = healthGraphLabelCounts(connection, database, expected->counts, &found);
    if (code != ERR_OK) {
        healthFinding(out, name, HEALTH_FAIL, "cannot count the target's graph: %s", errLast()->reason);
        return out->status;
    }
    char perName[sizeof(out->finding)] = "";
    uint32_t differences =
        expected->counts ? graphCountsCompare(expected->counts, &found, perName, sizeof(perName)) : 0;
    graphCountsFree(&found);
    if (nodes != expected->nodes || relationships != expected->relationships)
        healthFinding(out, name, HEALTH_FAIL,
                           "target has %" PRIu64 " nodes, %" PRIu64 " relationships; the source had %" PRIu64
                           " nodes, %" PRIu64 " relationships when it was stopped for the dump%s%s",
                           nodes, relationships, expected->nodes, expected->relationships,
                           differences ? "; " : "", perName);
    else if (differences)
        healthFinding(out, name, HEALTH_FAIL, "%s", perName);
    else
        healthFinding(out, name, HEALTH_PASS, "%" PRIu64 " nodes, %" PRIu64 " relationships, as in the backup",
                           nodes, relationships);
    return out->status;
}

/* The recorded schema as the maps healthCheckSchemaConsistency compares:
 * kind, name, type and index state (a dump keeps names, so they must all be
 * there). */
static HealthStatus dumpRestoreCheckSchema(BoltConnection *connection, const char *database,
                                           const DumpHealthExpectations *expected, HealthCheckResult *out)
{
    ArchiveContent content;
    memset(&content, 0, sizeof(content));
    content.arena = arenaNew(0);
    BoltValue *items = expected->schemaCount ? arenaAlloc(content.arena, expected->schemaCount * sizeof(BoltValue))
                                             : NULL;
    for (size_t index = 0; index < expected->schemaCount; index++) {
        const ManifestSchemaItem *item = &expected->schema[index];
        BoltValue map = boltMap(content.arena, item->state ? 4 : 3);
        boltMapSet(content.arena, &map, 0, "kind", boltString(content.arena, item->kind ? item->kind : "index"));
        boltMapSet(content.arena, &map, 1, "name", boltString(content.arena, item->name ? item->name : ""));
        boltMapSet(content.arena, &map, 2, "type", boltString(content.arena, item->type ? item->type : ""));
        /* An index FAILED at backup time is expected to be FAILED after the load. */
        if (item->state)
            boltMapSet(content.arena, &map, 3, "state", boltString(content.arena, item->state));
        items[index] = map;
    }
    content.schemaItems = items;
    content.schemaCount = expected->schemaCount;
    healthCheckSchemaConsistency(connection, database, &content, out);
    arcContentFree(&content);
    return out->status;
}

int dumpRestoreHealth(BoltConnection *connection, const char *database, const DumpHealthExpectations *expected,
                      HealthCheckResult results[HEALTH_CHECK_COUNT], bool skipped[HEALTH_CHECK_COUNT])
{
    for (int index = 0; index < HEALTH_CHECK_COUNT; index++)
        skipped[index] = false;
    int failed = 0;
    failed += healthCheckConnectivity(connection, database, &results[0]) == HEALTH_FAIL;
    /* Indexes of a loaded store come back ONLINE, but some may repopulate
     * after the start; the schema check wants them all ONLINE. */
    char wait[96];
    snprintf(wait, sizeof(wait), "CALL db.awaitIndexes(%d)", DUMP_INDEX_WAIT_SECONDS);
    if (boltRun(connection, wait, NULL, &(BoltQueryOptions){.database = database, .mode = BOLT_ACCESS_READ}) ==
            ERR_OK)
        boltDiscard(connection);
    else
        logDebug("waiting for indexes failed: %s", errLast()->reason);
    if (expected->haveSchema)
        failed += dumpRestoreCheckSchema(connection, database, expected, &results[1]) == HEALTH_FAIL;
    else
        dumpRestoreSkip(&results[1], &skipped[1], "schema_consistency", "no schema was recorded at backup time");
    failed += healthCheckOrphans(connection, database, NULL, &results[2]) == HEALTH_FAIL;
    if (expected->haveCounts)
        failed += dumpRestoreCheckCounts(connection, database, expected, &results[3]) == HEALTH_FAIL;
    else
        dumpRestoreSkip(&results[3], &skipped[3], "counts", "no counts were recorded at backup time");
    if (expected->fingerprint)
        failed += healthCheckFingerprint(connection, database, expected->fingerprint, &results[4]) == HEALTH_FAIL;
    else
        dumpRestoreSkip(&results[4], &skipped[4], "fingerprint", "no fingerprint was recorded at backup time");
    for (int index = 0; index < HEALTH_CHECK_COUNT; index++)
        logDebug("health check %s: %s%s: %s", results[index].name,
                 results[index].status == HEALTH_PASS ? "PASS" : "FAIL", skipped[index] ? " (skipped)" : "",
                 results[index].finding);
    return failed;
}
