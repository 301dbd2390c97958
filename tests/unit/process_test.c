/* The one child-process runner (common/process.h) with real children
 * (/bin/sh, env, cat): exit status, output tail, timeout and cancel stop
 * the child, stdin and stdout streamed, the environment passed exactly as
 * built (secrets left out), a run from another thread; and the masking of
 * secrets in command lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/process.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* ---- output tail ---- */

static void testCaptureDropsProgressAndKeepsTheLastLines(void **state)
{
    (void)state;
    ProcRun run;
    memset(&run, 0, sizeof(run));
    const char *noise = "Files: 1/53, data:  0.0%\n....................  10%\r\n\n.................... 100%\n"
                        "-......... .......... ..........   5% \xe2\x88\x86" "692ms [692ms]\n"
                        "\tat org.neo4j.cli.AdminTool.main(AdminTool.java:82)\n\t... 12 more\n";
    procRunCapture(&run, noise, strlen(noise));
    assert_int_equal(run.tailCount, 0);
    /* A line that merely starts like a frame stays. */
    procRunCapture(&run, "at most 3 files\n", 16);
    assert_int_equal(run.tailCount, 1);
    memset(&run, 0, sizeof(run));
    char line[64];
    for (int index = 1; index <= PROC_TAIL_LINES + 3; index++) {
        snprintf(line, sizeof(line), "line %d\n", index);
        /* Split across calls, as pipes deliver them. */
        procRunCapture(&run, line, 3);
        procRunCapture(&run, line + 3, strlen(line) - 3);
    }
    procRunCapture(&run, "Done: 53 files", 14);
    assert_int_equal(run.tailCount, PROC_TAIL_LINES);
    procRunCaptureEnd(&run);
    assert_string_equal(procRunLastLine(&run), "Done: 53 files");
    assert_string_equal(run.tail[0], "line 5");
    assert_int_equal(run.tailCount, PROC_TAIL_LINES);
}

/* ---- runs ---- */

static void testExitStatusAndTail(void **state)
{
    (void)state;
    ProcRun run;
    assert_int_equal(procShellRun("echo out; echo err >&2; exit 4", 0, NULL, &run), NEO4J_ADMIN_FAILED);
    assert_int_equal(run.exitStatus, 4);
    assert_int_equal(run.tailCount, 2);
    assert_string_equal(run.tail[0], "out");
    assert_string_equal(procRunLastLine(&run), "err");
    assert_string_equal(run.command, "echo out; echo err >&2; exit 4");
    assert_non_null(strstr(errLast()->reason, "exit 4 exited with status 4"));
    assert_non_null(strstr(errLast()->details, "err"));

    assert_int_equal(procShellRun("true", 0, NULL, &run), ERR_OK);
    assert_int_equal(run.exitStatus, 0);

    const char *const missing[] = {"/nonexistent/program", "arg", NULL};
    assert_int_equal(procRun(missing, NULL, &run), ERR_OK);
    assert_int_equal(run.exitStatus, 127);
    assert_non_null(strstr(procRunLastLine(&run), "cannot execute /nonexistent/program"));

    assert_int_equal(procShellRun("kill -KILL $$", 0, NULL, &run), NEO4J_ADMIN_FAILED);
    assert_int_equal(run.exitStatus, 128 + SIGKILL);
}

static void testTimeoutKillsTheChildAndItsGroup(void **state)
{
    (void)state;
    ProcRun run;
    /* The grandchild (sleep) dies with its group: the run does not wait 30 s. */
    assert_int_equal(procShellRun("sleep 30; echo never", 0.3, NULL, &run), NEO4J_ADMIN_FAILED);
    assert_non_null(strstr(errLast()->reason, "did not finish within"));
    assert_non_null(strstr(errLast()->reason, "sleep 30; echo never"));
    assert_int_equal(run.exitStatus, 128 + SIGTERM);
    assert_true(run.seconds < 10);
}

static void testCancelStopsTheChild(void **state)
{
    (void)state;
    ProcRun run;
    volatile sig_atomic_t cancel = 1;
    assert_int_equal(procShellRun("sleep 30", 0, &cancel, &run), OPERATION_INTERRUPTED);
    assert_true(run.seconds < 10);
    assert_int_equal(run.exitStatus, 128 + SIGTERM);
}

typedef struct {
    char data[65536];
    size_t length;
} Collected;

static ErrCode collect(const uint8_t *data, size_t length, void *payload)
{
    Collected *collected = payload;
    size_t room = sizeof(collected->data) - 1 - collected->length;
    size_t take = length < room ? length : room;
    memcpy(collected->data + collected->length, data, take);
    collected->length += take;
    collected->data[collected->length] = '\0';
    return ERR_OK;
}

typedef struct {
    const char *text;
    size_t offset;
} Feed;

static ErrCode feed(uint8_t *buffer, size_t capacity, size_t *length, void *payload)
{
    Feed *source = payload;
    size_t left = strlen(source->text) - source->offset;
    *length = left < capacity ? left : capacity;
    memcpy(buffer, source->text + source->offset, *length);
    source->offset += *length;
    return ERR_OK;
}

static void testStdinAndStdoutAreStreamed(void **state)
{
    (void)state;
    ProcRun run;
    Collected out = {.length = 0};
    Feed in = {.text = "through the child\n", .offset = 0};
    ProcIo io = {.sink = collect, .sinkPayload = &out, .source = feed, .sourcePayload = &in};
    const char *const cat[] = {"/bin/cat", NULL};
    assert_int_equal(procRun(cat, &io, &run), ERR_OK);
    assert_int_equal(run.exitStatus, 0);
    assert_string_equal(out.data, "through the child\n");
    assert_int_equal(run.tailCount, 0);
}

/* ---- the environment ---- */

static void testSecretNames(void **state)
{
    (void)state;
    const char *secret[] = {"NEO4J_PASSWORD", "TEST_NEO4J_PASSWORD", "BACKUP_API_TOKEN", "BACKUP_SMTP_PASSWORD",
                            "BACKUP_SMTP_URL", "BACKUP_ALERT_WEBHOOK", "MY_APP_SECRET", "GITHUB_TOKEN",
                            "AWS_ACCESS_KEY_ID", "AWS_REGION", "AZURE_CLIENT_ID", "SSH_PRIVATE", "STRIPE_API_KEY",
                            "SIGNING_KEY", "DB_PASSWD=x", "NEO4J_AUTH", "GOOGLE_APPLICATION_CREDENTIALS",
                            "neo4j_password"};
    for (size_t index = 0; index < sizeof(secret) / sizeof(secret[0]); index++)
        if (!procEnvIsSecret(secret[index]))
            fail_msg("%s should be secret", secret[index]);
    const char *plain[] = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "JAVA_HOME", "NEO4J_HOME", "NEO4J_CONF", "TMPDIR",
                           "USER", "NEO4J_URI", "NEO4J_USER", "KEYBOARD", "MONKEY", "NEO4J_LOCAL_ROOT", "=", "", "A", "AW", "AZ",
                           "AWS"};
    for (size_t index = 0; index < sizeof(plain) / sizeof(plain[0]); index++)
        if (procEnvIsSecret(plain[index]))
            fail_msg("%s should pass", plain[index]);
}

static void testEnvBuildLeavesOutSecretsAndReplacesExtras(void **state)
{
    (void)state;
    char *base[] = {"PATH=/usr/bin", "NEO4J_PASSWORD=hunter2", "NEO4J_HOME=/old", "BACKUP_API_TOKEN=t0k3n",
                    "broken", "LANG=C.UTF-8", NULL};
    const char *extra[] = {"NEO4J_HOME=/opt/neo4j", NULL};
    char **env = procEnvBuild(base, extra);
    assert_non_null(env);
    assert_string_equal(env[0], "PATH=/usr/bin");
    assert_string_equal(env[1], "LANG=C.UTF-8");
    assert_string_equal(env[2], "NEO4J_HOME=/opt/neo4j");
    assert_null(env[3]);
    procEnvFree(env);
}

/* The child's environment, as `env -0` prints it, is exactly what
 * procEnvBuild makes of ours: no secret, the extras, nothing else. */
static void testChildGetsExactlyTheCleanedEnvironment(void **state)
{
    (void)state;
    setenv("NEO4J_PASSWORD", "hunter2-must-not-leak", 1);
    setenv("BACKUP_API_TOKEN", "token-must-not-leak", 1);
    setenv("BACKUP_SMTP_URL", "smtp://user:pw@mail", 1);
    setenv("NBK_PROCESS_TEST_KEEP", "kept", 1);
    const char *extra[] = {"NBK_PROCESS_TEST_EXTRA=added", NULL};
    ProcRun run;
    Collected out = {.length = 0};
    ProcIo io = {.sink = collect, .sinkPayload = &out, .extraEnv = extra};
    const char *const env[] = {"/usr/bin/env", "-0", NULL};
    assert_int_equal(procRun(env, &io, &run), ERR_OK);
    assert_int_equal(run.exitStatus, 0);
    assert_null(memmem(out.data, out.length, "must-not-leak", 13));
    assert_null(memmem(out.data, out.length, "user:pw", 7));

    char **expected = procEnvBuild(environ, extra);
    size_t offset = 0;
    for (size_t count = 0; expected[count]; count++) {
        assert_true(offset < out.length);
        /* Under valgrind, its preload leaves the child (valgrind's doing). */
        if (strncmp(expected[count], "LD_PRELOAD=", 11) != 0)
            assert_string_equal(out.data + offset, expected[count]);
        offset += strlen(out.data + offset) + 1;
    }
    assert_int_equal(offset, out.length);
    procEnvFree(expected);
    assert_non_null(memmem(out.data, out.length, "NBK_PROCESS_TEST_KEEP=kept", 26));
    assert_non_null(memmem(out.data, out.length, "NBK_PROCESS_TEST_EXTRA=added", 28));
    unsetenv("NEO4J_PASSWORD");
    unsetenv("BACKUP_API_TOKEN");
    unsetenv("BACKUP_SMTP_URL");
    unsetenv("NBK_PROCESS_TEST_KEEP");
}

/* ---- masking ---- */

static void assertMasked(const char *command, const char *expected)
{
    char out[PROC_COMMAND_SIZE];
    procMaskSecrets(command, out, sizeof(out));
    assert_string_equal(out, expected);
}

static void testMaskSecrets(void **state)
{
    (void)state;
    assertMasked("systemctl stop neo4j", "systemctl stop neo4j");
    assertMasked("NEO4J_PASSWORD=hunter2 /opt/stop.sh", "NEO4J_PASSWORD=**** /opt/stop.sh");
    assertMasked("docker exec -e DB_PASS='a b c' neo4j stop", "docker exec -e DB_PASS=**** neo4j stop");
    assertMasked("cypher-shell -u neo4j -p s3cret 'STOP DATABASE x'", "cypher-shell -u neo4j -p **** 'STOP DATABASE x'");
    assertMasked("mysql -ps3cret", "mysql -p****");
    assertMasked("tool --password s3cret --api-token=abc --host h", "tool --password **** --api-token=**** --host h");
    assertMasked("curl -u admin:pw https://x/stop", "curl -u admin:**** https://x/stop");
    assertMasked("curl https://admin:pw@host:7474/stop?x=1", "curl https://admin:****@host:7474/stop?x=1");
    assertMasked("curl --user admin:pw http://h", "curl --user admin:**** http://h");
    assertMasked("ssh db1 'sudo systemctl start neo4j'", "ssh db1 'sudo systemctl start neo4j'");
    assertMasked("curl -H \"Authorization: Bearer t0k\" http://h", "curl -H \"Authorization: Bearer ****\" http://h");
    assertMasked("curl -H 'Authorization: Basic dXNlcjpwdw==' http://h", "curl -H 'Authorization: Basic ****' http://h");
    assertMasked("wget --header=Authorization:Bearer t0k http://h", "wget --header=Authorization:Bearer **** http://h");
    assertMasked("", "");
    char small[8];
    procMaskSecrets("PASSWORD=abcdefgh", small, sizeof(small));
    assert_string_equal(small, "PASSWOR");

    /* A failing shell command's error names it masked. */
    ProcRun run;
    assert_int_equal(procShellRun("TOKEN=abc123 false", 0, NULL, &run), NEO4J_ADMIN_FAILED);
    assert_null(strstr(errLast()->reason, "abc123"));
    assert_non_null(strstr(errLast()->reason, "TOKEN=**** false exited with status 1"));
}

/* ---- threads ---- */

static void *runFromThread(void *payload)
{
    ProcRun *run = payload;
    procShellRun("echo from a thread", 0, NULL, run);
    return NULL;
}

static void testRunFromAnotherThread(void **state)
{
    (void)state;
    ProcRun run;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, runFromThread, &run), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(run.exitStatus, 0);
    assert_string_equal(procRunLastLine(&run), "from a thread");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testCaptureDropsProgressAndKeepsTheLastLines),
        cmocka_unit_test(testExitStatusAndTail),
        cmocka_unit_test(testTimeoutKillsTheChildAndItsGroup),
        cmocka_unit_test(testCancelStopsTheChild),
        cmocka_unit_test(testStdinAndStdoutAreStreamed),
        cmocka_unit_test(testSecretNames),
        cmocka_unit_test(testEnvBuildLeavesOutSecretsAndReplacesExtras),
        cmocka_unit_test(testChildGetsExactlyTheCleanedEnvironment),
        cmocka_unit_test(testMaskSecrets),
        cmocka_unit_test(testRunFromAnotherThread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
