/* Loading and checking a dump without Neo4j, through a fake neo4j-admin:
 * the load gets every byte, in order, and a dump that changed since it was
 * verified never loads completely; the consistency check finds the dump
 * where neo4j-admin looks for it and turns a report into BACKUP_CORRUPTED. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "restore/dump_restore.h"
#include "storage/posix.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char workDir[256];

static const char fakeAdmin[] =
    "#!/bin/sh\n"
    "if [ \"$1 $2\" = 'database load' ]; then\n"
    "  [ \"$3 $4 $5 $6\" = '--from-stdin --overwrite-destination=true -- neo4j' ] || exit 9\n"
    "  cat > \"$NBK_TEST_LOADED\"; echo 'Load completed' >&2; exit 0\n"
    "fi\n"
    "if [ \"$1 $2\" = 'database check' ]; then\n"
    "  from=${3#--from-path=}; report=${5#--report-path=}\n"
    "  [ \"$4\" = \"--temp-path=${from%/dump}/temp\" ] || exit 8\n"
    "  [ \"$7\" = -- ] || exit 6\n"
    "  cmp -s \"$from/$8.dump\" \"$NBK_TEST_DUMP\" || { echo \"no dump at $from/$8.dump\" >&2; exit 7; }\n"
    "  if [ -n \"$NBK_TEST_INCONSISTENT\" ]; then\n"
    "    printf 'ERROR: The node record is not in use\\n  Node[12]\\n' > \"$report/inconsistencies-x.report\"\n"
    "    echo 'Database is inconsistent' >&2; exit 1\n"
    "  fi\n"
    "  [ -n \"$NBK_TEST_BROKEN\" ] && { echo 'java.lang.OutOfMemoryError' >&2; exit 2; }\n"
    "  exit 0\n"
    "fi\n"
    "exit 5\n";

static Neo4jAdmin admin;
static char dumpPath[512];
static char loadedPath[512];
static uint8_t *dumpBytes;
static size_t dumpLength;

static void writeFile(const char *path, const void *data, size_t length, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, length), (ssize_t)length);
    close(fd);
}

static int setUp(void **state)
{
    (void)state;
    snprintf(workDir, sizeof(workDir), "/tmp/nbk-dumprestore-XXXXXX");
    if (!mkdtemp(workDir))
        return -1;
    char path[600];
    snprintf(path, sizeof(path), "%s/bin", workDir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/bin/neo4j-admin", workDir);
    writeFile(path, fakeAdmin, strlen(fakeAdmin), 0755);
    if (neo4jAdminResolve(NULL, workDir, &admin) != ERR_OK)
        return -1;
    /* Several feed chunks long, with an odd tail. */
    dumpLength = 3 * 256 * 1024 + 4321;
    dumpBytes = malloc(dumpLength);
    for (size_t index = 0; index < dumpLength; index++)
        dumpBytes[index] = (uint8_t)(index * 31 + index / 977);
    snprintf(dumpPath, sizeof(dumpPath), "%s/neo4j.dump", workDir);
    writeFile(dumpPath, dumpBytes, dumpLength, 0600);
    snprintf(loadedPath, sizeof(loadedPath), "%s/loaded", workDir);
    setenv("NBK_TEST_LOADED", loadedPath, 1);
    setenv("NBK_TEST_DUMP", dumpPath, 1);
    unsetenv("NBK_TEST_INCONSISTENT");
    unsetenv("NBK_TEST_BROKEN");
    return 0;
}

static int tearDown(void **state)
{
    (void)state;
    free(dumpBytes);
    char command[300];
    snprintf(command, sizeof(command), "rm -rf '%s'", workDir);
    return system(command) == 0 ? 0 : -1;
}

static void sha256Hex(const uint8_t *data, size_t length, char hex[65])
{
    unsigned char digest[32];
    unsigned digestLength = 0;
    EVP_Digest(data, length, digest, &digestLength, EVP_sha256(), NULL);
    for (unsigned index = 0; index < digestLength; index++)
        snprintf(hex + index * 2, 3, "%02x", digest[index]);
}

static uint8_t *readAll(const char *path, size_t *length)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    uint8_t *data = malloc(dumpLength + 1024 * 1024);
    *length = fread(data, 1, dumpLength + 1024 * 1024, file);
    fclose(file);
    return data;
}

static void testLoadFeedsEveryByte(void **state)
{
    (void)state;
    char sha[65];
    sha256Hex(dumpBytes, dumpLength, sha);
    ProcRun run;
    assert_int_equal(dumpRestoreLoad(&admin, "neo4j", &(ArcLocation){.path = dumpPath}, sha, NULL, &run), ERR_OK);
    assert_string_equal(procRunLastLine(&run), "Load completed");
    size_t loadedLength = 0;
    uint8_t *loaded = readAll(loadedPath, &loadedLength);
    assert_int_equal(loadedLength, dumpLength);
    assert_memory_equal(loaded, dumpBytes, dumpLength);
    free(loaded);
}

static void testChangedDumpNeverLoadsCompletely(void **state)
{
    (void)state;
    char wrong[65];
    memset(wrong, 'a', 64);
    wrong[64] = '\0';
    ProcRun run;
    assert_int_equal(dumpRestoreLoad(&admin, "neo4j", &(ArcLocation){.path = dumpPath}, wrong, NULL, &run),
                     BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "changed after it was verified"));
    size_t loadedLength = 0;
    uint8_t *loaded = readAll(loadedPath, &loadedLength);
    assert_true(loadedLength < dumpLength); /* the last chunk was held back */
    free(loaded);
}

/* The same through a Storage (as from object storage): every byte, and a
 * wrong checksum still holds the last chunk back. */
static void testLoadFromStorage(void **state)
{
    (void)state;
    Storage *storage = NULL;
    assert_int_equal(storagePosixOpen(workDir, false, &storage), ERR_OK);
    ArcLocation location = {.storage = storage, .name = "neo4j.dump"};
    char sha[65];
    sha256Hex(dumpBytes, dumpLength, sha);
    ProcRun run;
    assert_int_equal(dumpRestoreLoad(&admin, "neo4j", &location, sha, NULL, &run), ERR_OK);
    size_t loadedLength = 0;
    uint8_t *loaded = readAll(loadedPath, &loadedLength);
    assert_int_equal(loadedLength, dumpLength);
    assert_memory_equal(loaded, dumpBytes, dumpLength);
    free(loaded);

    char wrong[65];
    memset(wrong, 'b', 64);
    wrong[64] = '\0';
    assert_int_equal(dumpRestoreLoad(&admin, "neo4j", &location, wrong, NULL, &run), BACKUP_CORRUPTED);
    loaded = readAll(loadedPath, &loadedLength);
    assert_true(loadedLength < dumpLength);
    free(loaded);

    location.name = "missing.dump";
    assert_int_equal(dumpRestoreLoad(&admin, "neo4j", &location, sha, NULL, &run), BACKUP_NOT_FOUND);
    storageFree(storage);
}

static void testConsistencyCheckOutcomes(void **state)
{
    (void)state;
    char scratch[600];
    ProcRun run;
    DumpCheckFindings findings;
    snprintf(scratch, sizeof(scratch), "%s/scratch-ok", workDir);
    mkdir(scratch, 0700);
    assert_int_equal(dumpRestoreCheckConsistency(&admin, dumpPath, "neo4j", scratch, NULL, &run, &findings), ERR_OK);
    assert_int_equal(findings.reportLineCount, 0);

    setenv("NBK_TEST_INCONSISTENT", "1", 1);
    snprintf(scratch, sizeof(scratch), "%s/scratch-bad", workDir);
    mkdir(scratch, 0700);
    assert_int_equal(dumpRestoreCheckConsistency(&admin, dumpPath, "neo4j", scratch, NULL, &run, &findings),
                     BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "found inconsistencies"));
    assert_int_equal(findings.reportLineCount, 2);
    assert_string_equal(findings.reportLines[0], "ERROR: The node record is not in use");
    unsetenv("NBK_TEST_INCONSISTENT");

    setenv("NBK_TEST_BROKEN", "1", 1);
    snprintf(scratch, sizeof(scratch), "%s/scratch-broken", workDir);
    mkdir(scratch, 0700);
    assert_int_equal(dumpRestoreCheckConsistency(&admin, dumpPath, "neo4j", scratch, NULL, &run, &findings),
                     NEO4J_ADMIN_FAILED);
    assert_int_equal(run.exitStatus, 2);
    assert_string_equal(procRunLastLine(&run), "java.lang.OutOfMemoryError");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testLoadFeedsEveryByte, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testChangedDumpNeverLoadsCompletely, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testLoadFromStorage, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testConsistencyCheckOutcomes, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
