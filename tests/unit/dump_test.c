/* The dump engine without Neo4j: version comparison, the
 * store directory from neo4j.conf, store-lock detection, dump files (DZV1
 * zstd, DGV1 gzip, unknown, cut short, damaged), and child processes run
 * through a fake neo4j-admin script (exit status, tail, sink errors,
 * cancellation, NEO4J_HOME set and secrets kept out of its environment).
 * The runner itself is tested in process_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "archive/dump_file.h"
#include "neo4j/admin.h"
#include "neo4j/offline.h"
#include "neo4j/store.h"
#include "common/log.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static char workDir[256];

static int setUp(void **state)
{
    (void)state;
    snprintf(workDir, sizeof(workDir), "/tmp/nbk-dump-XXXXXX");
    return mkdtemp(workDir) ? 0 : -1;
}

static int tearDown(void **state)
{
    (void)state;
    char command[300];
    snprintf(command, sizeof(command), "rm -rf '%s'", workDir);
    return system(command) == 0 ? 0 : -1;
}

static void writeFile(const char *path, const void *data, size_t length, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, length), (ssize_t)length);
    close(fd);
}

static void pathIn(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", workDir, name);
}

/* A fake installation: <workDir>/home/bin/neo4j-admin as a shell script. */
static void makeFakeAdmin(const char *script, Neo4jAdmin *admin)
{
    char path[512];
    pathIn(path, sizeof(path), "home/bin");
    char command[600];
    snprintf(command, sizeof(command), "mkdir -p '%s'", path);
    assert_int_equal(system(command), 0);
    pathIn(path, sizeof(path), "home/bin/neo4j-admin");
    writeFile(path, script, strlen(script), 0755);
    char home[512];
    pathIn(home, sizeof(home), "home");
    assert_int_equal(neo4jAdminResolve(NULL, home, admin), ERR_OK);
    assert_string_equal(admin->executable, path);
    assert_string_equal(admin->neo4jHome, home);
}

static void testVersionCompare(void **state)
{
    (void)state;
    assert_int_equal(neo4jVersionCompare("5.26.30", "5.26.30"), 0);
    assert_true(neo4jVersionCompare("5.26.10", "5.26.9") > 0);
    assert_true(neo4jVersionCompare("5.26.9", "5.26.10") < 0);
    assert_true(neo4jVersionCompare("2025.01.0", "5.26.30") > 0);
    assert_int_equal(neo4jVersionCompare("5.26", "5.26.0"), 0);
    assert_int_equal(neo4jVersionCompare("5.26.0-SNAPSHOT", "5.26.0"), 0);
    assert_true(neo4jVersionCompare("5.26.1", "5.26") > 0);
    assert_true(neo4jVersionCompare(NULL, "1") < 0);
}

/* ---- the store on disk ---- */

static void testDatabaseDirectoryFromConf(void **state)
{
    (void)state;
    char home[512];
    char conf[600];
    char out[1024];
    pathIn(home, sizeof(home), "home");
    snprintf(conf, sizeof(conf), "mkdir -p '%s/conf'", home);
    assert_int_equal(system(conf), 0);
    assert_int_equal(neo4jDatabaseDirectory(home, "neo4j", out, sizeof(out)), ERR_OK);
    char expected[1024];
    snprintf(expected, sizeof(expected), "%s/data/databases/neo4j", home);
    assert_string_equal(out, expected);

    snprintf(conf, sizeof(conf), "%s/conf/neo4j.conf", home);
    const char *absolute = "# comment\nserver.directories.data=/elsewhere/first\n"
                           "  server.directories.data = /srv/neo4j-data  \nserver.directories.logs=/x\n";
    writeFile(conf, absolute, strlen(absolute), 0644);
    assert_int_equal(neo4jDatabaseDirectory(home, "neo4j", out, sizeof(out)), ERR_OK);
    assert_string_equal(out, "/srv/neo4j-data/databases/neo4j");

    const char *relative = "server.directories.data=mydata\n";
    writeFile(conf, relative, strlen(relative), 0644);
    assert_int_equal(neo4jDatabaseDirectory(home, "system", out, sizeof(out)), ERR_OK);
    snprintf(expected, sizeof(expected), "%s/mydata/databases/system", home);
    assert_string_equal(out, expected);
}

static void testStoreLockOfAnotherProcessIsSeen(void **state)
{
    (void)state;
    char databaseDir[512];
    char lockFile[600];
    char storeLock[600];
    pathIn(databaseDir, sizeof(databaseDir), "databases/neo4j");
    char command[700];
    snprintf(command, sizeof(command), "mkdir -p '%s'", databaseDir);
    assert_int_equal(system(command), 0);
    snprintf(lockFile, sizeof(lockFile), "%s/database_lock", databaseDir);
    snprintf(storeLock, sizeof(storeLock), "%s/../store_lock", databaseDir);
    writeFile(lockFile, "", 0, 0644);
    writeFile(storeLock, "", 0, 0644);
    long pid = 0;
    char held[1024];
    assert_false(neo4jStoreLockHeld(databaseDir, &pid, held, sizeof(held)));

    /* A child takes a POSIX lock as Neo4j does, says so, and waits to be told to go. */
    int ready[2];
    int go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int fd = open(storeLock, O_RDWR);
        struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        char byte = fcntl(fd, F_SETLK, &lock) == 0 ? 'y' : 'n';
        if (write(ready[1], &byte, 1) != 1 || read(go[0], &byte, 1) < 0)
            _exit(2);
        _exit(0);
    }
    char answer = 0;
    assert_int_equal(read(ready[0], &answer, 1), 1);
    assert_int_equal(answer, 'y');
    assert_true(neo4jStoreLockHeld(databaseDir, &pid, held, sizeof(held)));
    assert_int_equal(pid, child);
    assert_string_equal(held, storeLock);
    assert_int_equal(write(go[1], "x", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_false(neo4jStoreLockHeld(databaseDir, &pid, held, sizeof(held)));
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
}

/* ---- dump files ---- */

static uint8_t *samplePayload(size_t length)
{
    uint8_t *payload = malloc(length);
    assert_non_null(payload);
    for (size_t index = 0; index < length; index++)
        payload[index] = (uint8_t)((index * 7919u) >> 5); /* compressible, not constant */
    return payload;
}

/* "DZV1" + a zstd frame with a content checksum, as Neo4j 5 writes. */
static uint8_t *sampleZstdDump(const uint8_t *payload, size_t length, size_t *dumpLength)
{
    size_t bound = ZSTD_compressBound(length);
    uint8_t *dump = malloc(4 + bound);
    assert_non_null(dump);
    memcpy(dump, "DZV1", 4);
    ZSTD_CCtx *context = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1);
    size_t written = ZSTD_compress2(context, dump + 4, bound, payload, length);
    assert_false(ZSTD_isError(written));
    ZSTD_freeCCtx(context);
    *dumpLength = 4 + written;
    return dump;
}

static void sha256Hex(const uint8_t *data, size_t length, char hex[65])
{
    unsigned char digest[32];
    unsigned digestLength = 0;
    EVP_Digest(data, length, digest, &digestLength, EVP_sha256(), NULL);
    for (unsigned index = 0; index < digestLength; index++)
        snprintf(hex + index * 2, 3, "%02x", digest[index]);
}

static void testWriterHashesAndDecodesAZstdDump(void **state)
{
    (void)state;
    size_t payloadLength = 3 * 1024 * 1024 + 17;
    uint8_t *payload = samplePayload(payloadLength);
    size_t dumpLength = 0;
    uint8_t *dump = sampleZstdDump(payload, payloadLength, &dumpLength);
    char path[512];
    pathIn(path, sizeof(path), "neo4j.dump");
    DumpWriter *writer = NULL;
    assert_int_equal(dumpWriterOpen(&writer, path), ERR_OK);
    /* Odd pieces: the 4-byte header arrives split. */
    size_t offset = 0;
    size_t piece = 3;
    while (offset < dumpLength) {
        size_t take = dumpLength - offset < piece ? dumpLength - offset : piece;
        assert_int_equal(dumpWriterAdd(dump + offset, take, writer), ERR_OK);
        offset += take;
        piece = piece * 3 + 1;
    }
    DumpFileInfo info;
    assert_int_equal(dumpWriterFinish(writer, &info), ERR_OK);
    dumpWriterFree(writer);
    char expected[65];
    sha256Hex(dump, dumpLength, expected);
    assert_string_equal(info.sha256, expected);
    assert_int_equal(info.bytes, dumpLength);
    assert_int_equal(info.contentBytes, payloadLength);
    assert_string_equal(info.format, "DZV1");

    DumpFileInfo inspected;
    assert_int_equal(dumpFileInspect(path, &inspected), ERR_OK);
    assert_string_equal(inspected.sha256, expected);
    assert_int_equal(inspected.contentBytes, payloadLength);

    /* An existing file is never overwritten. */
    assert_int_not_equal(dumpWriterOpen(&writer, path), ERR_OK);

    /* Cut short: the frame is incomplete. */
    writeFile(path, dump, dumpLength - 10, 0600);
    assert_int_equal(dumpFileInspect(path, &inspected), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "cut short"));
    assert_int_equal(inspected.bytes, dumpLength - 10);

    /* A flipped byte in the middle: zstd's own checks catch it. */
    dump[dumpLength / 2] ^= 0x5a;
    writeFile(path, dump, dumpLength, 0600);
    assert_int_equal(dumpFileInspect(path, &inspected), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "damaged"));
    free(dump);
    free(payload);
}

static void testWriterReportsACutStream(void **state)
{
    (void)state;
    size_t payloadLength = 100000;
    uint8_t *payload = samplePayload(payloadLength);
    size_t dumpLength = 0;
    uint8_t *dump = sampleZstdDump(payload, payloadLength, &dumpLength);
    char path[512];
    pathIn(path, sizeof(path), "cut.dump");
    DumpWriter *writer = NULL;
    assert_int_equal(dumpWriterOpen(&writer, path), ERR_OK);
    assert_int_equal(dumpWriterAdd(dump, dumpLength - 1, writer), ERR_OK);
    DumpFileInfo info;
    assert_int_equal(dumpWriterFinish(writer, &info), BACKUP_CORRUPTED);
    dumpWriterFree(writer);
    free(dump);
    free(payload);
}

static void testGzipAndUnknownFormats(void **state)
{
    (void)state;
    size_t payloadLength = 200000;
    uint8_t *payload = samplePayload(payloadLength);
    uLong bound = compressBound(payloadLength) + 64;
    uint8_t *dump = malloc(4 + bound);
    memcpy(dump, "DGV1", 4);
    z_stream stream;
    memset(&stream, 0, sizeof(stream));
    assert_int_equal(deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    stream.next_in = payload;
    stream.avail_in = (uInt)payloadLength;
    stream.next_out = dump + 4;
    stream.avail_out = (uInt)bound;
    assert_int_equal(deflate(&stream, Z_FINISH), Z_STREAM_END);
    size_t dumpLength = 4 + stream.total_out;
    deflateEnd(&stream);
    char path[512];
    pathIn(path, sizeof(path), "gzip.dump");
    writeFile(path, dump, dumpLength, 0600);
    DumpFileInfo info;
    assert_int_equal(dumpFileInspect(path, &info), ERR_OK);
    assert_string_equal(info.format, "DGV1");
    assert_int_equal(info.contentBytes, payloadLength);

    /* A bare gzip stream (no header) is recognised too. */
    writeFile(path, dump + 4, dumpLength - 4, 0600);
    assert_int_equal(dumpFileInspect(path, &info), ERR_OK);
    assert_string_equal(info.format, "gzip");
    assert_int_equal(info.contentBytes, payloadLength);

    /* Unknown: checksummed, not decoded. */
    writeFile(path, "XYZ1 something newer", 20, 0600);
    assert_int_equal(dumpFileInspect(path, &info), ERR_OK);
    assert_string_equal(info.format, "");
    assert_int_equal(info.bytes, 20);
    assert_int_equal(info.contentBytes, 0);

    /* Too short to hold a header. */
    writeFile(path, "DZ", 2, 0600);
    assert_int_equal(dumpFileInspect(path, &info), BACKUP_CORRUPTED);
    free(dump);
    free(payload);
}

/* ---- child processes ---- */

static const char fakeAdmin[] =
    "#!/bin/sh\n"
    "case \"$1\" in\n"
    "--version) echo 'WARNING: a JVM note'; echo '5.26.30' ;;\n"
    "database)\n"
    "  if [ \"$2\" = dump ] && [ \"$4 $5\" = '-- neo4j' ]; then printf 'DUMPBYTES'; echo 'Files: 1/2, data: 50.0%' >&2;\n"
    "     echo 'Dump completed successfully' >&2; exit 0; fi\n"
    "  echo \"NEO4J_HOME=$NEO4J_HOME\" >&2\n"
    "  echo \"NEO4J_PASSWORD=${NEO4J_PASSWORD:-unset}\" >&2\n"
    "  echo 'Failed to dump database: The database is in use.' >&2; exit 3 ;;\n"
    "forever) yes ;;\n"
    "*) sleep 30 ;;\n"
    "esac\n";

typedef struct {
    char data[64];
    size_t length;
    ErrCode failWith;
} CollectSink;

static ErrCode collect(const uint8_t *data, size_t length, void *payload)
{
    CollectSink *sink = payload;
    if (sink->failWith != ERR_OK)
        return errSet(sink->failWith, "sink refused the data");
    size_t room = sizeof(sink->data) - 1 - sink->length;
    size_t take = length < room ? length : room;
    memcpy(sink->data + sink->length, data, take);
    sink->length += take;
    return ERR_OK;
}

static void testAdminRunStreamsStdoutAndReportsFailures(void **state)
{
    (void)state;
    Neo4jAdmin admin;
    makeFakeAdmin(fakeAdmin, &admin);
    ProcRun run;
    char version[32];
    assert_int_equal(neo4jAdminVersion(&admin, version, sizeof(version), &run), ERR_OK);
    assert_string_equal(version, "5.26.30");

    CollectSink sink = {.failWith = ERR_OK};
    ProcIo io = {.sink = collect, .sinkPayload = &sink};
    const char *const good[] = {"database", "dump", "--to-stdout", "--", "neo4j", NULL};
    assert_int_equal(neo4jAdminRun(&admin, good, &io, &run), ERR_OK);
    assert_string_equal(sink.data, "DUMPBYTES");
    assert_int_equal(run.exitStatus, 0);
    assert_string_equal(procRunLastLine(&run), "Dump completed successfully");
    assert_int_equal(run.tailCount, 1); /* the progress line is left out */

    /* neo4j-admin gets NEO4J_HOME but none of our secrets. */
    setenv("NEO4J_PASSWORD", "hunter2", 1);
    const char *const bad[] = {"database", "dump", "--to-stdout", "--", "other", NULL};
    assert_int_equal(neo4jAdminRun(&admin, bad, &io, &run), NEO4J_ADMIN_FAILED);
    assert_int_equal(run.exitStatus, 3);
    assert_non_null(strstr(errLast()->reason, "database dump --to-stdout -- other exited with status 3"));
    assert_non_null(strstr(errLast()->details, "The database is in use"));
    char homeLine[NEO4J_PATH_SIZE + 16];
    snprintf(homeLine, sizeof(homeLine), "NEO4J_HOME=%s", admin.neo4jHome);
    assert_string_equal(run.tail[0], homeLine);
    assert_string_equal(run.tail[1], "NEO4J_PASSWORD=unset");
    unsetenv("NEO4J_PASSWORD");
}

static void testSinkErrorCancelAndTimeoutStopTheChild(void **state)
{
    (void)state;
    Neo4jAdmin admin;
    makeFakeAdmin(fakeAdmin, &admin);
    ProcRun run;
    CollectSink sink = {.failWith = BACKUP_NO_SPACE};
    ProcIo io = {.sink = collect, .sinkPayload = &sink};
    const char *const forever[] = {"forever", NULL};
    assert_int_equal(neo4jAdminRun(&admin, forever, &io, &run), BACKUP_NO_SPACE);
    assert_true(run.exitStatus == 128 + SIGTERM || run.exitStatus == 128 + SIGPIPE);

    volatile sig_atomic_t cancel = 1;
    ProcIo cancelled = {.cancelFlag = &cancel};
    const char *const sleeper[] = {"sleep", NULL};
    assert_int_equal(neo4jAdminRun(&admin, sleeper, &cancelled, &run), OPERATION_INTERRUPTED);
    assert_true(run.seconds < 10);

}

static void testResolveNamesWhatIsMissing(void **state)
{
    (void)state;
    Neo4jAdmin admin;
    char path[512];
    pathIn(path, sizeof(path), "nothing-here");
    assert_int_equal(neo4jAdminResolve(NULL, path, &admin), NEO4J_ADMIN_FAILED);
    assert_non_null(strstr(errLast()->reason, "is not a directory"));
    assert_int_equal(neo4jAdminResolve(NULL, workDir, &admin), NEO4J_ADMIN_FAILED);
    assert_non_null(strstr(errLast()->reason, "has no executable bin/neo4j-admin"));
    pathIn(path, sizeof(path), "not-executable");
    writeFile(path, "#!/bin/sh\n", 10, 0644);
    assert_int_equal(neo4jAdminResolve(path, workDir, &admin), NEO4J_ADMIN_FAILED);
    assert_non_null(strstr(errLast()->reason, "NEO4J_ADMIN="));
    chmod(path, 0755);
    assert_int_equal(neo4jAdminResolve(path, NULL, &admin), ERR_OK);
    assert_string_equal(admin.executable, path);
    assert_string_equal(admin.neo4jHome, "");
}

int main(void)
{
    logSetVerbose(false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testVersionCompare),
        cmocka_unit_test_setup_teardown(testDatabaseDirectoryFromConf, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testStoreLockOfAnotherProcessIsSeen, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testWriterHashesAndDecodesAZstdDump, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testWriterReportsACutStream, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testGzipAndUnknownFormats, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testAdminRunStreamsStdoutAndReportsFailures, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testSinkErrorCancelAndTimeoutStopTheChild, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testResolveNamesWhatIsMissing, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
