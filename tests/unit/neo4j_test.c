/* The neo4j/ module without a Neo4j server: version comparison, the store
 * directory from neo4j.conf, store-lock detection, neo4j-admin run as a fake
 * script (exit status, tail, sink errors, cancellation, NEO4J_HOME set and
 * secrets kept out of its environment), the offline stop/work/start
 * sequence with shell commands as stop and start commands and a fake Bolt
 * server (tests/unit/fake_router.h) as the instance, and the server-version
 * query's fallback. The runner itself is tested in process_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/log.h"
#include "fake_router.h"
#include "neo4j/admin.h"
#include "neo4j/instance.h"
#include "neo4j/offline.h"
#include "neo4j/store.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char workDir[256];

static int setUp(void **state)
{
    (void)state;
    snprintf(workDir, sizeof(workDir), "/tmp/nbk-neo4j-XXXXXX");
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

    /* A line longer than any buffer is one line: the tail of a long comment
     * is no setting, and a setting after it is still read. */
    size_t fill = 3 * NEO4J_PATH_SIZE;
    char *longConf = malloc(fill + 200);
    assert_non_null(longConf);
    longConf[0] = '#';
    memset(longConf + 1, 'x', fill);
    snprintf(longConf + 1 + fill, 200, "server.directories.data=/from-a-comment\nserver.directories.data=kept\n");
    writeFile(conf, longConf, strlen(longConf), 0644);
    assert_int_equal(neo4jDatabaseDirectory(home, "neo4j", out, sizeof(out)), ERR_OK);
    snprintf(expected, sizeof(expected), "%s/kept/databases/neo4j", home);
    assert_string_equal(out, expected);
    for (size_t cut = NEO4J_PATH_SIZE - 8; cut < NEO4J_PATH_SIZE + 80; cut++) {
        /* wherever the comment ends around a buffer's length */
        snprintf(longConf + cut, 200, "server.directories.data=/from-a-comment\n");
        writeFile(conf, longConf, strlen(longConf), 0644);
        assert_int_equal(neo4jDatabaseDirectory(home, "neo4j", out, sizeof(out)), ERR_OK);
        snprintf(expected, sizeof(expected), "%s/data/databases/neo4j", home);
        assert_string_equal(out, expected);
    }
    free(longConf);
}

static void testConfDataDirectoryFromText(void **state)
{
    (void)state;
    char out[32];
    /* The last setting wins; spaces and tabs around the key, the '=' and the
     * value do not count; a '\r' ends the value; no newline at the end. */
    const char *text = "server.directories.data=/first\n#server.directories.data=/comment\n"
                       "\t server.directories.data\t=  /second \t\r\nserver.directories.logs=/x\n"
                       "server.directories.dataX=/near-miss\nserver.directories.data=/third\rtail";
    assert_true(neo4jConfDataDirectory(text, strlen(text), out, sizeof(out)));
    assert_string_equal(out, "/third");
    text = "server.directories.data=/one\n  server.directories.data = /two  \n";
    assert_true(neo4jConfDataDirectory(text, strlen(text), out, sizeof(out)));
    assert_string_equal(out, "/two");
    /* A NUL byte ends what is read of its line, not the text. */
    static const char withNul[] = "server.directories.data=/a\0b\nserver.directories.data=/c\0";
    assert_true(neo4jConfDataDirectory(withNul, sizeof(withNul) - 1, out, sizeof(out)));
    assert_string_equal(out, "/c");
    assert_true(neo4jConfDataDirectory(withNul, strlen("server.directories.data=/a") + 2, out, sizeof(out)));
    assert_string_equal(out, "/a");
    /* Only the given bytes are read: the value stops at the length. */
    assert_true(neo4jConfDataDirectory("server.directories.data=/abcdef", 26, out, sizeof(out)));
    assert_string_equal(out, "/a");
    /* An empty value, or one that does not fit with its NUL, is no value:
     * an earlier one stays, and out is untouched when there is none. */
    text = "server.directories.data=/fits\nserver.directories.data=  \n"
           "server.directories.data=/this-value-is-far-too-long-for-32\n";
    assert_true(neo4jConfDataDirectory(text, strlen(text), out, sizeof(out)));
    assert_string_equal(out, "/fits");
    memset(out, 'z', sizeof(out));
    text = "server.directories.data=\nserver.directories.data\n= /next-line\nserver.directories.data";
    assert_false(neo4jConfDataDirectory(text, strlen(text), out, sizeof(out)));
    assert_false(neo4jConfDataDirectory("", 0, out, sizeof(out)));
    assert_false(neo4jConfDataDirectory(NULL, 0, out, sizeof(out)));
    assert_false(neo4jConfDataDirectory("server.directories.data=/x", 26, out, 0));
    assert_false(neo4jConfDataDirectory("server.directories.data=/x", 26, out, 2));
    for (size_t index = 0; index < sizeof(out); index++)
        assert_int_equal(out[index], 'z');
    assert_true(neo4jConfDataDirectory("server.directories.data=/x", 26, out, 3));
    assert_string_equal(out, "/x");
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
/* ---- offline work ---- */

#define EVENT_CAPACITY 8

typedef struct {
    Neo4jOfflineEventKind kinds[EVENT_CAPACITY];
    char commands[EVENT_CAPACITY][PROC_COMMAND_SIZE];
    unsigned count;
    bool workFailed;
    volatile sig_atomic_t *cancelOnStopping;
} EventLog;

static void recordEvent(const Neo4jOfflineEvent *event, void *payload)
{
    EventLog *events = payload;
    if (events->count < EVENT_CAPACITY) {
        events->kinds[events->count] = event->kind;
        snprintf(events->commands[events->count], PROC_COMMAND_SIZE, "%s", event->command ? event->command : "");
        events->count++;
    }
    if (event->kind == NEO4J_OFFLINE_STARTED)
        events->workFailed = event->workFailed;
    if (event->kind == NEO4J_OFFLINE_STOPPING && events->cancelOnStopping)
        *events->cancelOnStopping = 1;
}

typedef struct {
    char journal[600];
    ErrCode failWith;
    unsigned calls;
} FakeWork;

static void appendLine(const char *path, const char *line)
{
    FILE *file = fopen(path, "a");
    assert_non_null(file);
    fprintf(file, "%s\n", line);
    fclose(file);
}

static ErrCode fakeWork(const Neo4jAdmin *admin, void *payload, ProcRun *run)
{
    (void)admin;
    FakeWork *work = payload;
    work->calls++;
    appendLine(work->journal, "work");
    if (work->failWith == ERR_OK)
        return ERR_OK;
    snprintf(run->command, sizeof(run->command), "fake work");
    run->exitStatus = 7;
    return errSet(work->failWith, "the work failed");
}

static void readJournal(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    FILE *file = fopen(path, "r");
    if (!file)
        return;
    size_t got = fread(out, 1, size - 1, file);
    out[got] = '\0';
    fclose(file);
}

/* An instance on a loopback port whose stop and start commands write into
 * <workDir>/journal, as does the work. */
typedef struct {
    InstanceConfig instance;
    char uri[64];
    char home[512];
    char stop[1400];
    char start[1400];
    FakeWork work;
} TestInstance;

static void makeInstance(TestInstance *test, uint16_t port, const char *stopTail)
{
    memset(test, 0, sizeof(*test));
    pathIn(test->home, sizeof(test->home), "home");
    pathIn(test->work.journal, sizeof(test->work.journal), "journal");
    char command[700];
    snprintf(command, sizeof(command), "mkdir -p '%s/data/databases/neo4j'", test->home);
    assert_int_equal(system(command), 0);
    snprintf(test->uri, sizeof(test->uri), "bolt://127.0.0.1:%u", port);
    snprintf(test->stop, sizeof(test->stop), "NEO4J_PASSWORD=s3cret echo stop >> '%s'%s", test->work.journal,
             stopTail);
    snprintf(test->start, sizeof(test->start), "echo start >> '%s'", test->work.journal);
    snprintf(test->instance.name, sizeof(test->instance.name), "target");
    test->instance.uri = test->uri;
    test->instance.user = "neo4j";
    test->instance.password = "password";
    test->instance.database = "neo4j";
    test->instance.stopCommand = test->stop;
    test->instance.startCommand = test->start;
    test->instance.neo4jHome = test->home;
}

static Neo4jOfflineRequest makeRequest(TestInstance *test, EventLog *events)
{
    static const Neo4jAdmin admin = {.executable = "/bin/true"};
    return (Neo4jOfflineRequest){
        .instance = &test->instance,
        .admin = &admin,
        .work = fakeWork,
        .workPayload = &test->work,
        .wantConnection = true,
        .startTimeoutSeconds = 0.3,
        .unlockTimeoutSeconds = 0.3,
        .pollSeconds = 0.02,
        .onEvent = recordEvent,
        .eventPayload = events,
    };
}

static void testOfflineMissing(void **state)
{
    (void)state;
    InstanceConfig instance = {.neo4jHome = "/opt/neo4j", .stopCommand = "stop"};
    assert_string_equal(neo4jOfflineMissing(&instance), "START_COMMAND");
    instance.startCommand = "start";
    assert_null(neo4jOfflineMissing(&instance));
    instance.stopCommand = NULL;
    assert_string_equal(neo4jOfflineMissing(&instance), "STOP_COMMAND");
    instance.neo4jHome = NULL;
    assert_string_equal(neo4jOfflineMissing(&instance), "NEO4J_HOME");
}

static void testOfflineSequenceHandsOutTheConnection(void **state)
{
    (void)state;
    FakeNode node;
    fakeNodeListen(&node, FAKE_NODE_READER);
    fakeNodeStart(&node);
    TestInstance test;
    makeInstance(&test, node.port, "");
    EventLog events = {0};
    Neo4jOfflineRequest request = makeRequest(&test, &events);
    Neo4jOfflineResult result;
    BoltConnection *connection = NULL;
    assert_int_equal(neo4jOfflineRun(&request, &result, &connection), ERR_OK);
    assert_non_null(connection);
    boltClose(connection);
    fakeNodeFinish(&node);
    assert_string_equal(node.wire.failure, "");
    assert_int_equal(node.runs, 1); /* RETURN 1 on the database */
    fakeNodeFree(&node);

    char journal[256];
    readJournal(test.work.journal, journal, sizeof(journal));
    assert_string_equal(journal, "stop\nwork\nstart\n");
    assert_true(result.stopped);
    assert_int_equal(result.workCode, ERR_OK);
    assert_int_equal(result.startCode, ERR_OK);
    assert_int_equal(events.count, 4);
    assert_int_equal(events.kinds[0], NEO4J_OFFLINE_STOPPING);
    assert_int_equal(events.kinds[1], NEO4J_OFFLINE_STOPPED);
    assert_int_equal(events.kinds[2], NEO4J_OFFLINE_STARTING);
    assert_int_equal(events.kinds[3], NEO4J_OFFLINE_STARTED);
    assert_false(events.workFailed);
    /* Commands are shown masked: events reach log lines and alert e-mails. */
    assert_null(strstr(events.commands[0], "s3cret"));
    assert_non_null(strstr(events.commands[0], "echo stop"));
    assert_string_equal(events.commands[2], test.start);
}

static void testFailedWorkStillStartsAndWins(void **state)
{
    (void)state;
    FakeNode node;
    fakeNodeListen(&node, FAKE_NODE_READER);
    fakeNodeStart(&node);
    TestInstance test;
    makeInstance(&test, node.port, "");
    test.work.failWith = RESTORE_FAILED;
    EventLog events = {0};
    Neo4jOfflineRequest request = makeRequest(&test, &events);
    Neo4jOfflineResult result;
    BoltConnection *connection = NULL;
    assert_int_equal(neo4jOfflineRun(&request, &result, &connection), RESTORE_FAILED);
    assert_string_equal(errLast()->reason, "the work failed");
    assert_null(connection); /* only the server is waited for after a failed load */
    fakeNodeFinish(&node);
    assert_string_equal(node.wire.failure, "");
    assert_int_equal(node.runs, 0);
    fakeNodeFree(&node);
    assert_int_equal(result.startCode, ERR_OK);
    assert_int_equal(result.failedRun.exitStatus, 7);
    assert_true(events.workFailed);
    char journal[256];
    readJournal(test.work.journal, journal, sizeof(journal));
    assert_string_equal(journal, "stop\nwork\nstart\n");
}

static void testFailedStopSkipsTheWorkButStarts(void **state)
{
    (void)state;
    TestInstance test;
    makeInstance(&test, fakeNodeRefusing(), "; exit 4");
    EventLog events = {0};
    Neo4jOfflineRequest request = makeRequest(&test, &events);
    Neo4jOfflineResult result;
    BoltConnection *connection = NULL;
    assert_int_equal(neo4jOfflineRun(&request, &result, &connection), NEO4J_ADMIN_FAILED);
    assert_non_null(strstr(errLast()->reason, "exited with status 4"));
    assert_int_equal(test.work.calls, 0);
    assert_int_equal(result.failedRun.exitStatus, 4);
    /* The start ran, and nothing answers on that port: the target is down. */
    assert_int_equal(result.startCode, NEO4J_UNREACHABLE);
    assert_non_null(strstr(result.startFailure.reason, "did not answer within"));
    assert_int_equal(events.count, 3);
    assert_int_equal(events.kinds[0], NEO4J_OFFLINE_STOPPING);
    assert_int_equal(events.kinds[1], NEO4J_OFFLINE_STARTING);
    assert_int_equal(events.kinds[2], NEO4J_OFFLINE_START_FAILED);
    char journal[256];
    readJournal(test.work.journal, journal, sizeof(journal));
    assert_string_equal(journal, "stop\nstart\n");

    /* Work done, start failed: the start's failure is the outcome. */
    makeInstance(&test, fakeNodeRefusing(), "");
    request = makeRequest(&test, &events);
    assert_int_equal(neo4jOfflineRun(&request, &result, &connection), NEO4J_UNREACHABLE);
    assert_int_equal(result.workCode, ERR_OK);
    assert_int_equal(test.work.calls, 1);
}

static void testStoreLockStillHeldAfterTheStop(void **state)
{
    (void)state;
    TestInstance test;
    makeInstance(&test, fakeNodeRefusing(), "");
    char lockFile[700];
    snprintf(lockFile, sizeof(lockFile), "%s/data/databases/neo4j/database_lock", test.home);
    writeFile(lockFile, "", 0, 0644);
    int ready[2];
    int go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int fd = open(lockFile, O_RDWR);
        struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        char byte = fcntl(fd, F_SETLK, &lock) == 0 ? 'y' : 'n';
        if (write(ready[1], &byte, 1) != 1 || read(go[0], &byte, 1) < 0)
            _exit(2);
        _exit(0);
    }
    char answer = 0;
    assert_int_equal(read(ready[0], &answer, 1), 1);
    assert_int_equal(answer, 'y');

    EventLog events = {0};
    Neo4jOfflineRequest request = makeRequest(&test, &events);
    request.label = "Neo4j";
    Neo4jOfflineResult result;
    BoltConnection *connection = NULL;
    assert_int_equal(neo4jOfflineRun(&request, &result, &connection), NEO4J_ADMIN_FAILED);
    assert_non_null(strstr(errLast()->reason, "Neo4j still holds the store lock"));
    assert_int_equal(test.work.calls, 0);
    char journal[256];
    readJournal(test.work.journal, journal, sizeof(journal));
    assert_string_equal(journal, "stop\nstart\n");

    assert_int_equal(write(go[1], "x", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
}

static void testCancelBeforeAndDuringTheStop(void **state)
{
    (void)state;
    TestInstance test;
    makeInstance(&test, fakeNodeRefusing(), "");
    EventLog events = {0};
    volatile sig_atomic_t cancel = 1;
    Neo4jOfflineRequest request = makeRequest(&test, &events);
    request.cancelFlag = &cancel;
    Neo4jOfflineResult result;
    BoltConnection *connection = NULL;
    /* Cancelled before: nothing is touched. */
    assert_int_equal(neo4jOfflineRun(&request, &result, &connection), OPERATION_INTERRUPTED);
    assert_false(result.stopped);
    assert_int_equal(events.count, 0);
    assert_false(access(test.work.journal, F_OK) == 0);

    /* Cancelled while stopping: the stop finishes, the work is skipped, the start runs. */
    cancel = 0;
    events.cancelOnStopping = &cancel;
    assert_int_equal(neo4jOfflineRun(&request, &result, &connection), OPERATION_INTERRUPTED);
    assert_true(result.stopped);
    assert_int_equal(test.work.calls, 0);
    char journal[256];
    readJournal(test.work.journal, journal, sizeof(journal));
    assert_string_equal(journal, "stop\nstart\n");
}

static void testStartAndConnect(void **state)
{
    (void)state;
    FakeNode node;
    fakeNodeListen(&node, FAKE_NODE_READER);
    fakeNodeStart(&node);
    TestInstance test;
    makeInstance(&test, node.port, "");
    EventLog events = {0};
    Neo4jOfflineRequest request = makeRequest(&test, &events);
    ProcRun run;
    BoltConnection *connection = NULL;
    assert_int_equal(neo4jStartAndConnect(&request, &run, &connection), ERR_OK);
    assert_non_null(connection);
    assert_int_equal(run.exitStatus, 0);
    boltClose(connection);
    fakeNodeFinish(&node);
    assert_string_equal(node.wire.failure, "");
    assert_int_equal(node.runs, 0); /* the server answering is enough */
    fakeNodeFree(&node);
    char journal[256];
    readJournal(test.work.journal, journal, sizeof(journal));
    assert_string_equal(journal, "start\n");
    assert_int_equal(events.count, 0);

    /* A failing start command: its status tells it from a server that never answered. */
    test.instance.startCommand = "exit 3";
    assert_int_equal(neo4jStartAndConnect(&request, &run, &connection), NEO4J_ADMIN_FAILED);
    assert_int_equal(run.exitStatus, 3);
    assert_null(connection);
    test.instance.startCommand = "true";
    test.uri[0] = '\0';
    snprintf(test.uri, sizeof(test.uri), "bolt://127.0.0.1:%u", fakeNodeRefusing());
    assert_int_equal(neo4jStartAndConnect(&request, &run, &connection), NEO4J_UNREACHABLE);
    assert_int_equal(run.exitStatus, 0);
    assert_null(connection);
}

/* ---- the instance ---- */

static void testServerVersionFallsBackToTheAgent(void **state)
{
    (void)state;
    FakeNode node;
    fakeNodeListen(&node, FAKE_NODE_READER);
    fakeNodeStart(&node);
    char uri[64];
    snprintf(uri, sizeof(uri), "bolt://127.0.0.1:%u", node.port);
    InstanceConfig instance = {.name = "source", .uri = uri, .user = "neo4j", .password = "x", .database = "neo4j"};
    BoltConnection *connection = NULL;
    assert_int_equal(neo4jConnect(&instance, &connection), ERR_OK);
    char version[64];
    char edition[64];
    /* The fake answers with a row that is not dbms.components()'s: the agent's version counts. */
    assert_int_equal(neo4jServerVersion(connection, version, sizeof(version), edition, sizeof(edition)), ERR_OK);
    assert_string_equal(version, "5.26.0");
    assert_string_equal(edition, "");
    boltClose(connection);
    fakeNodeFinish(&node);
    assert_string_equal(node.wire.failure, "");
    fakeNodeFree(&node);

    char safe[64];
    boltUriSafe("neo4j://neo4j:secret@db.example:7687", safe, sizeof(safe));
    assert_string_equal(safe, "neo4j://db.example:7687");
    boltUriSafe(uri, safe, sizeof(safe));
    assert_string_equal(safe, uri);
}

int main(void)
{
    logSetVerbose(false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testVersionCompare),
        cmocka_unit_test_setup_teardown(testDatabaseDirectoryFromConf, setUp, tearDown),
        cmocka_unit_test(testConfDataDirectoryFromText),
        cmocka_unit_test_setup_teardown(testStoreLockOfAnotherProcessIsSeen, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testAdminRunStreamsStdoutAndReportsFailures, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testSinkErrorCancelAndTimeoutStopTheChild, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testResolveNamesWhatIsMissing, setUp, tearDown),
        cmocka_unit_test(testOfflineMissing),
        cmocka_unit_test_setup_teardown(testOfflineSequenceHandsOutTheConnection, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testFailedWorkStillStartsAndWins, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testFailedStopSkipsTheWorkButStarts, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testStoreLockStillHeldAfterTheStop, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testCancelBeforeAndDuringTheStop, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testStartAndConnect, setUp, tearDown),
        cmocka_unit_test(testServerVersionFallsBackToTheAgent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
