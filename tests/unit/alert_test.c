/* Unit tests for src/alert: message and JSON formatting, and real deliveries
 * over loopback: SMTP to tests/e2e/smtp_sink.py (skipped when python3 or
 * aiosmtpd is missing) and HTTP to a tiny listener thread in this file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alert/alert.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TEST_PASSWORD "S3cret-Pa55word!"
#define TEST_TOKEN "tok-0123456789-secret"

/* ---- small helpers ------------------------------------------------------- */

static void makeAlert(Alert *alert)
{
    alertInit(alert, ALERT_CRITICAL, "BACKUP_NO_SPACE",
              "Backup storage is full: 1.2 GB free on /backups, 3.4 GB needed",
              "Free up space and retry, or configure BACKUP_STORAGE_PATH to different location");
    snprintf(alert->host, sizeof(alert->host), "db-host-1");
    alertSetBackupId(alert, "neo4j-20251227-020000");
    alert->time = 1766800800; /* 2025-12-27 02:00:00 UTC */
    snprintf(alert->logTail, sizeof(alert->logTail),
             "[2025-12-27 02:00:00] INFO: BACKUP_START: neo4j-20251227-020000\n"
             ".hidden-line starts with a dot\n"
             ".\n"
             "..two dots\n"
             "[2025-12-27 02:00:01] ERROR: Code: BACKUP_NO_SPACE");
}

static const char *bufferText(Buffer *buffer)
{
    bufferAppendByte(buffer, 0);
    buffer->length--;
    return (const char *)buffer->data;
}

static char *readWholeFile(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    Buffer content;
    bufferInit(&content);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), file)) > 0)
        bufferAppend(&content, chunk, got);
    fclose(file);
    bufferAppendByte(&content, 0);
    return (char *)content.data;
}

static int removeEntry(const char *path, const struct stat *info, int flag, struct FTW *walk)
{
    (void)info, (void)flag, (void)walk;
    return remove(path);
}

static void removeTree(const char *path)
{
    nftw(path, removeEntry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A port on 127.0.0.1 that nothing listens on (bound, then released). */
static int closedPort(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
    socklen_t length = sizeof(address);
    getsockname(fd, (struct sockaddr *)&address, &length);
    close(fd);
    return ntohs(address.sin_port);
}

static double secondsSince(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* ---- the python SMTP sink ------------------------------------------------ */

typedef struct {
    pid_t pid;
    int stdinFd;        /* closing it stops the sink (--stop-on-stdin-eof) */
    int port;
    char dir[256];
    char cert[1024];
} SinkProcess;

static SinkProcess activeSink = {.pid = -1, .stdinFd = -1};

static bool sinkScriptPath(char *out, size_t size)
{
    const char *sourceDir = getenv("NBK_SOURCE_DIR");
    if (sourceDir)
        snprintf(out, size, "%s/tests/e2e/smtp_sink.py", sourceDir);
    else {
        /* CMake compiles with absolute paths: the script sits beside tests/unit. */
        snprintf(out, size, "%s", __FILE__);
        char *unit = strstr(out, "tests/unit/alert_test.c");
        if (!unit)
            return false;
        snprintf(unit, size - (size_t)(unit - out), "tests/e2e/smtp_sink.py");
    }
    return access(out, R_OK) == 0;
}

static int runQuietly(char *const argv[])
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int spawned = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0)
        return -1;
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void sinkStop(SinkProcess *sink)
{
    if (sink->pid > 0) {
        kill(sink->pid, SIGTERM);
        if (sink->stdinFd >= 0)
            close(sink->stdinFd);
        waitpid(sink->pid, NULL, 0);
    }
    if (sink->dir[0])
        removeTree(sink->dir);
    sink->pid = -1;
    sink->stdinFd = -1;
    sink->dir[0] = '\0';
}

static int sinkTeardown(void **state)
{
    (void)state;
    sinkStop(&activeSink);
    return 0;
}

/* Starts the sink (tls: "none", "starttls" or "implicit"), or skips the test when
 * python3, aiosmtpd or (for TLS) openssl is missing. */
static SinkProcess *sinkStart(const char *tls, const char *auth)
{
    char script[512];
    if (!sinkScriptPath(script, sizeof(script))) {
        print_message("smtp_sink.py not found: skipping (set NBK_SOURCE_DIR)\n");
        skip();
    }
    char *probe[] = {"python3", "-c", "import aiosmtpd", NULL};
    if (runQuietly(probe) != 0) {
        print_message("python3 with aiosmtpd not available: skipping (pip install aiosmtpd)\n");
        skip();
    }
    if (strcmp(tls, "none") != 0) {
        char *opensslProbe[] = {"openssl", "version", NULL};
        if (runQuietly(opensslProbe) != 0) {
            print_message("openssl command not available: skipping the TLS test\n");
            skip();
        }
    }

    SinkProcess *sink = &activeSink;
    snprintf(sink->dir, sizeof(sink->dir), "/tmp/nbk-alert-test-XXXXXX");
    assert_non_null(mkdtemp(sink->dir));
    char mailDir[300];
    snprintf(mailDir, sizeof(mailDir), "%.255s/mail", sink->dir);

    int toChild[2];
    int fromChild[2];
    assert_int_equal(pipe(toChild), 0);
    assert_int_equal(pipe(fromChild), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, toChild[0], 0);
    posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1);
    posix_spawn_file_actions_addclose(&actions, toChild[1]);
    posix_spawn_file_actions_addclose(&actions, fromChild[0]);
    char *argv[16] = {"python3", script, "--port", "0", "--dir", mailDir, "--tls", (char *)tls,
                      "--stop-on-stdin-eof"};
    int argc = 9;
    if (auth) {
        argv[argc++] = "--auth";
        argv[argc++] = (char *)auth;
    }
    argv[argc] = NULL;
    int spawned = posix_spawnp(&sink->pid, "python3", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(toChild[0]);
    close(fromChild[1]);
    assert_int_equal(spawned, 0);
    sink->stdinFd = toChild[1];

    /* Blocks until the sink listens (or dies: EOF). */
    FILE *output = fdopen(fromChild[0], "r");
    char line[600];
    sink->port = 0;
    sink->cert[0] = '\0';
    while (fgets(line, sizeof(line), output)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "PORT ", 5) == 0)
            sink->port = atoi(line + 5);
        else if (strncmp(line, "CERT ", 5) == 0)
            snprintf(sink->cert, sizeof(sink->cert), "%s", line + 5);
        if (sink->port && (strcmp(tls, "none") == 0 || sink->cert[0]))
            break;
    }
    fclose(output);
    assert_true(sink->port > 0);
    return sink;
}

static char *sinkMessage(const SinkProcess *sink, int number, const char *extension)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/mail/%04d.%s", sink->dir, number, extension);
    return readWholeFile(path);
}

static AlertEmailConfig emailTo(const SinkProcess *sink, const char *scheme, char *url, size_t size)
{
    snprintf(url, size, "%s://127.0.0.1:%d", scheme, sink->port);
    AlertEmailConfig config = {
        .smtpUrl = url,
        .to = "ops@example.com, dba@example.org",
        .from = "Neo4j Backup <backup@example.com>",
        .timeoutMs = 20000,
    };
    return config;
}

/* ---- a tiny HTTP listener ------------------------------------------------ */

typedef struct {
    int listenFd;
    int port;
    int status;              /* what to answer */
    const char *responseBody;
    bool silent;             /* accept, read, never answer */
    char request[65536];
    size_t requestLength;
    pthread_t thread;
} HttpListener;

static void *httpServe(void *argument)
{
    HttpListener *listener = argument;
    struct pollfd waiting = {.fd = listener->listenFd, .events = POLLIN};
    if (poll(&waiting, 1, 20000) != 1)
        return NULL;
    int connection = accept(listener->listenFd, NULL, NULL);
    if (connection < 0)
        return NULL;
    size_t expected = 0;
    for (;;) {
        struct pollfd readable = {.fd = connection, .events = POLLIN};
        if (poll(&readable, 1, 20000) != 1)
            break;
        ssize_t got = recv(connection, listener->request + listener->requestLength,
                           sizeof(listener->request) - 1 - listener->requestLength, 0);
        if (got <= 0)
            break;
        listener->requestLength += (size_t)got;
        listener->request[listener->requestLength] = '\0';
        char *headerEnd = strstr(listener->request, "\r\n\r\n");
        if (!headerEnd || listener->silent)
            continue;   /* silent: keep reading until the client gives up */
        if (!expected) {
            const char *lengthHeader = strcasestr(listener->request, "Content-Length:");
            expected = (size_t)(headerEnd + 4 - listener->request) +
                       (lengthHeader ? strtoul(lengthHeader + 15, NULL, 10) : 0);
        }
        if (listener->requestLength >= expected) {
            char response[1024];
            const char *body = listener->responseBody ? listener->responseBody : "";
            int length = snprintf(response, sizeof(response),
                                  "HTTP/1.1 %d Test\r\nContent-Length: %zu\r\nConnection: close\r\n"
                                  "Location: http://127.0.0.1:1/elsewhere\r\n\r\n%s",
                                  listener->status, strlen(body), body);
            send(connection, response, (size_t)length, MSG_NOSIGNAL);
            break;
        }
    }
    close(connection);
    return NULL;
}

static void httpStart(HttpListener *listener, int status, const char *responseBody, bool silent)
{
    memset(listener, 0, sizeof(*listener));
    listener->status = status;
    listener->responseBody = responseBody;
    listener->silent = silent;
    listener->listenFd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(listener->listenFd, (struct sockaddr *)&address, sizeof(address)), 0);
    assert_int_equal(listen(listener->listenFd, 4), 0);
    socklen_t length = sizeof(address);
    getsockname(listener->listenFd, (struct sockaddr *)&address, &length);
    listener->port = ntohs(address.sin_port);
    assert_int_equal(pthread_create(&listener->thread, NULL, httpServe, listener), 0);
}

static void httpJoin(HttpListener *listener)
{
    pthread_join(listener->thread, NULL);
    close(listener->listenFd);
}

/* ---- formatting ---------------------------------------------------------- */

static void testSeverityNamesAndInit(void **state)
{
    (void)state;
    assert_string_equal(alertSeverityName(ALERT_CRITICAL), "CRITICAL");
    assert_string_equal(alertSeverityName(ALERT_ERROR), "ERROR");
    assert_string_equal(alertSeverityName(ALERT_WARNING), "WARNING");

    errSet(BACKUP_NO_SPACE, "only 10%% free on /backups");
    Alert alert;
    time_t before = time(NULL);
    alertInitFromError(&alert, ALERT_ERROR, errLast());
    assert_string_equal(alert.code, "BACKUP_NO_SPACE");
    assert_string_equal(alert.reason, "only 10% free on /backups");
    assert_string_equal(alert.action, errDefaultAction(BACKUP_NO_SPACE));
    assert_true(alert.host[0] != '\0');
    assert_true(alert.time >= before && alert.time <= time(NULL));
    assert_string_equal(alert.backupId, "");
    assert_string_equal(alert.logTail, "");
    char expectedHost[256] = "";
    gethostname(expectedHost, sizeof(expectedHost) - 1);
    assert_string_equal(alert.host, expectedHost);
}

static void testFormatEmail(void **state)
{
    (void)state;
    Alert alert;
    makeAlert(&alert);
    AlertEmailConfig config = {
        .smtpUrl = "smtp://127.0.0.1:2525",
        .to = " ops@example.com ,second@example.org",
        .user = "mailer",
        .password = TEST_PASSWORD,
    };
    Buffer message;
    bufferInit(&message);
    assert_int_equal(alertFormatEmail(&config, &alert, &message), ERR_OK);
    const char *text = bufferText(&message);

    assert_true(strncmp(text, "Date: ", 6) == 0);
    assert_non_null(strstr(text, " +0000\r\n"));
    assert_non_null(strstr(text, "\r\nFrom: neo4j-backup <neo4j-backup@db-host-1>\r\n"));
    assert_non_null(strstr(text, "\r\nTo: ops@example.com,\r\n second@example.org\r\n"));
    assert_non_null(strstr(text, "\r\nSubject: [neo4j-backup] CRITICAL BACKUP_NO_SPACE on db-host-1\r\n"));
    const char *messageId = strstr(text, "\r\nMessage-ID: <");
    assert_non_null(messageId);
    assert_non_null(strstr(messageId, "@db-host-1>\r\n"));
    assert_non_null(strstr(text, "\r\nMIME-Version: 1.0\r\n"));
    assert_non_null(strstr(text, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    assert_non_null(strstr(text, "\r\nContent-Transfer-Encoding: 7bit\r\n"));
    assert_non_null(strstr(text, "\r\nAuto-Submitted: auto-generated\r\n"));

    const char *body = strstr(text, "\r\n\r\n");
    assert_non_null(body);
    assert_non_null(strstr(body, "CRITICAL: BACKUP_NO_SPACE on db-host-1\r\n"));
    assert_non_null(strstr(body, "\r\nCode:      BACKUP_NO_SPACE\r\n"));
    assert_non_null(strstr(body, "\r\nReason:    Backup storage is full: 1.2 GB free on /backups, "
                                 "3.4 GB needed\r\n"));
    assert_non_null(strstr(body, "\r\nAction:    Free up space and retry"));
    assert_non_null(strstr(body, "\r\nHost:      db-host-1\r\n"));
    assert_non_null(strstr(body, "\r\nBackup ID: neo4j-20251227-020000\r\n"));
    assert_non_null(strstr(body, "\r\nTime:      2025-12-27 02:00:00 UTC\r\n"));
    assert_non_null(strstr(body, "\r\nLast log lines:\r\n[2025-12-27 02:00:00] INFO: BACKUP_START"));
    /* Not dot-stuffed here: libcurl does that on the wire. */
    assert_non_null(strstr(body, "\r\n.hidden-line starts with a dot\r\n.\r\n..two dots\r\n"));

    /* Secrets never appear; every line ends in CRLF and stays within RFC 5322's limit. */
    assert_null(strstr(text, TEST_PASSWORD));
    size_t lineLength = 0;
    for (const char *cursor = text; *cursor; cursor++) {
        if (*cursor == '\n') {
            assert_true(cursor > text && cursor[-1] == '\r');
            lineLength = 0;
        } else {
            assert_true(++lineLength <= 998);
        }
    }
    bufferFree(&message);

    /* An explicit sender and no backup id. */
    config.from = "Backups <backup@example.com>";
    alert.backupId[0] = '\0';
    bufferInit(&message);
    assert_int_equal(alertFormatEmail(&config, &alert, &message), ERR_OK);
    text = bufferText(&message);
    assert_non_null(strstr(text, "\r\nFrom: Backups <backup@example.com>\r\n"));
    assert_non_null(strstr(text, "\r\nBackup ID: (none)\r\n"));
    bufferFree(&message);
}

static void testFormatEmailResistsHeaderInjection(void **state)
{
    (void)state;
    Alert alert;
    makeAlert(&alert);
    snprintf(alert.host, sizeof(alert.host), "evil\r\nBcc: victim@example.net");
    snprintf(alert.code, sizeof(alert.code), "X\nBcc: other@example.net");
    AlertEmailConfig config = {.to = "ops@example.com"};
    Buffer message;
    bufferInit(&message);
    assert_int_equal(alertFormatEmail(&config, &alert, &message), ERR_OK);
    const char *text = bufferText(&message);
    const char *headerEnd = strstr(text, "\r\n\r\n");
    assert_non_null(headerEnd);
    for (const char *line = text; line && line < headerEnd; line = strstr(line, "\r\n")) {
        if (line != text)
            line += 2;
        assert_true(strncasecmp(line, "Bcc:", 4) != 0);
    }
    assert_non_null(strstr(text, "Subject: [neo4j-backup] CRITICAL X Bcc: other@example.net on "
                                 "evil  Bcc: victim@example.net\r\n"));
    bufferFree(&message);

    /* Addresses that could smuggle SMTP commands or headers are refused. */
    static const char *const badRecipients[] = {
        "", " , ", "not-an-address", "a@b\r\nRCPT TO:<x@y>", "two@@example.com", "a b@example.com",
        "<unterminated@example.com", "@example.com", "user@",
    };
    for (size_t index = 0; index < sizeof(badRecipients) / sizeof(badRecipients[0]); index++) {
        config.to = badRecipients[index];
        bufferInit(&message);
        if (alertFormatEmail(&config, &alert, &message) != CONFIG_INVALID)
            fail_msg("recipient '%s' was accepted", badRecipients[index]);
        assert_non_null(strstr(errLast()->reason, "BACKUP_ALERT_EMAIL"));
        bufferFree(&message);
    }
    config.to = "ops@example.com";
    config.from = "no address here";
    bufferInit(&message);
    assert_int_equal(alertFormatEmail(&config, &alert, &message), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "BACKUP_SMTP_FROM"));
    bufferFree(&message);
}

static void testFormatEmailNonAscii(void **state)
{
    (void)state;
    Alert alert;
    makeAlert(&alert);
    snprintf(alert.reason, sizeof(alert.reason), "Speicher voll auf Größe null \xff end");
    snprintf(alert.host, sizeof(alert.host), "hôte-ünïcode");
    AlertEmailConfig config = {.to = "ops@example.com"};
    Buffer message;
    bufferInit(&message);
    assert_int_equal(alertFormatEmail(&config, &alert, &message), ERR_OK);
    const char *text = bufferText(&message);
    assert_non_null(strstr(text, "\r\nContent-Transfer-Encoding: quoted-printable\r\n"));
    /* "ö" is C3 B6; the invalid byte became U+FFFD (EF BF BD). */
    assert_non_null(strstr(text, "Gr=C3=B6=C3=9Fe null =EF=BF=BD end"));
    assert_non_null(strstr(text, "\r\nSubject: =?UTF-8?B?"));
    /* The whole message is 7-bit, lines at most 76 characters. */
    size_t lineLength = 0;
    for (const unsigned char *cursor = (const unsigned char *)text; *cursor; cursor++) {
        assert_true(*cursor < 0x80);
        lineLength = *cursor == '\n' ? 0 : lineLength + 1;
        assert_true(lineLength <= 78);
    }
    /* The Message-ID keeps only what a domain may hold. */
    assert_non_null(strstr(text, "@hte-ncode>\r\n"));
    bufferFree(&message);
}

static void testFormatJson(void **state)
{
    (void)state;
    Alert alert;
    makeAlert(&alert);
    snprintf(alert.action, sizeof(alert.action), "Quote \" backslash \\ bad \xc3 end");
    Buffer body;
    bufferInit(&body);
    assert_int_equal(alertFormatJson(&alert, &body), ERR_OK);
    assert_int_equal(body.data[body.length - 1], '\0');
    json_object *root = json_tokener_parse((const char *)body.data);
    assert_non_null(root);
    json_object *field;
#define ASSERT_FIELD(name, expected)                                                   \
    do {                                                                               \
        assert_true(json_object_object_get_ex(root, name, &field));                   \
        assert_string_equal(json_object_get_string(field), expected);                  \
    } while (0)
    ASSERT_FIELD("source", "neo4j-backup");
    ASSERT_FIELD("severity", "CRITICAL");
    ASSERT_FIELD("code", "BACKUP_NO_SPACE");
    ASSERT_FIELD("reason", "Backup storage is full: 1.2 GB free on /backups, 3.4 GB needed");
    ASSERT_FIELD("action", "Quote \" backslash \\ bad \xEF\xBF\xBD end");
    ASSERT_FIELD("host", "db-host-1");
    ASSERT_FIELD("backupId", "neo4j-20251227-020000");
    ASSERT_FIELD("time", "2025-12-27T02:00:00Z");
    ASSERT_FIELD("text", "[neo4j-backup] CRITICAL BACKUP_NO_SPACE on db-host-1: Backup storage is "
                         "full: 1.2 GB free on /backups, 3.4 GB needed");
#undef ASSERT_FIELD
    assert_true(json_object_object_get_ex(root, "timestamp", &field));
    assert_int_equal(json_object_get_int64(field), 1766800800);
    assert_true(json_object_object_get_ex(root, "logTail", &field));
    assert_non_null(strstr(json_object_get_string(field), "\n.\n..two dots\n"));
    json_object_put(root);
    bufferFree(&body);

    /* Empty optional fields are null, not "". */
    alert.backupId[0] = '\0';
    alert.logTail[0] = '\0';
    bufferInit(&body);
    assert_int_equal(alertFormatJson(&alert, &body), ERR_OK);
    root = json_tokener_parse((const char *)body.data);
    assert_true(json_object_object_get_ex(root, "backupId", &field));
    assert_null(field);
    assert_true(json_object_object_get_ex(root, "logTail", &field));
    assert_null(field);
    json_object_put(root);
    bufferFree(&body);
}

static void testLoadLogTail(void **state)
{
    (void)state;
    char path[] = "/tmp/nbk-alert-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *file = fdopen(fd, "w");
    for (int line = 1; line <= 30; line++)
        fprintf(file, "[2025-12-27 02:00:%02d] INFO: line %d\n", line, line);
    fclose(file);

    Alert alert;
    makeAlert(&alert);
    assert_int_equal(alertLoadLogTail(&alert, path, 3), ERR_OK);
    assert_string_equal(alert.logTail, "[2025-12-27 02:00:28] INFO: line 28\n"
                                       "[2025-12-27 02:00:29] INFO: line 29\n"
                                       "[2025-12-27 02:00:30] INFO: line 30");
    assert_int_equal(alertLoadLogTail(&alert, path, 100), ERR_OK);
    assert_true(strncmp(alert.logTail, "[2025-12-27 02:00:01] INFO: line 1\n", 35) == 0);

    /* A tail larger than the alert keeps the newest whole lines. */
    file = fopen(path, "w");
    for (int line = 1; line <= 2000; line++)
        fprintf(file, "line %04d %s\n", line, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    fclose(file);
    assert_int_equal(alertLoadLogTail(&alert, path, 1000), ERR_OK);
    assert_true(strlen(alert.logTail) < sizeof(alert.logTail));
    assert_true(strncmp(alert.logTail, "line ", 5) == 0);
    const char *last = strrchr(alert.logTail, '\n');
    assert_non_null(last);
    assert_true(strncmp(last + 1, "line 2000 ", 10) == 0);
    unlink(path);

    assert_int_equal(alertLoadLogTail(&alert, path, 5), BACKUP_IO_FAILED);
    assert_string_equal(alert.logTail, "");
}

/* ---- SMTP delivery --------------------------------------------------------- */

static void testEmailDelivered(void **state)
{
    (void)state;
    SinkProcess *sink = sinkStart("none", NULL);
    char url[128];
    AlertEmailConfig config = emailTo(sink, "smtp", url, sizeof(url));
    Alert alert;
    makeAlert(&alert);
    if (alertSendEmail(&config, &alert) != ERR_OK)
        fail_msg("send failed: %s", errLast()->reason);

    char *eml = sinkMessage(sink, 1, "eml");
    assert_non_null(eml);
    assert_non_null(strstr(eml, "Subject: [neo4j-backup] CRITICAL BACKUP_NO_SPACE on db-host-1\r\n"));
    assert_non_null(strstr(eml, "X-Neo4j-Backup-Code: BACKUP_NO_SPACE\r\n"));
    assert_non_null(strstr(eml, "\r\nCode:      BACKUP_NO_SPACE\r\n"));
    assert_non_null(strstr(eml, "\r\nBackup ID: neo4j-20251227-020000\r\n"));
    /* Lines starting with dots survive the trip: libcurl stuffed them and the
     * server unstuffed them, and the lone "." did not end the message early. */
    assert_non_null(strstr(eml, "\r\n.hidden-line starts with a dot\r\n.\r\n..two dots\r\n"));
    assert_non_null(strstr(eml, "Sent automatically by neo4j-backup"));
    free(eml);

    char *envelope = sinkMessage(sink, 1, "json");
    assert_non_null(envelope);
    json_object *root = json_tokener_parse(envelope);
    assert_non_null(root);
    json_object *field;
    assert_true(json_object_object_get_ex(root, "mail_from", &field));
    assert_string_equal(json_object_get_string(field), "backup@example.com");
    assert_true(json_object_object_get_ex(root, "rcpt_tos", &field));
    assert_int_equal(json_object_array_length(field), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(field, 0)), "ops@example.com");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(field, 1)), "dba@example.org");
    assert_true(json_object_object_get_ex(root, "helo", &field));
    assert_string_equal(json_object_get_string(field), "db-host-1");
    json_object_put(root);
    free(envelope);
}

static void testEmailStartTlsWithAuth(void **state)
{
    (void)state;
    SinkProcess *sink = sinkStart("starttls", "mailer:" TEST_PASSWORD);
    char url[128];
    AlertEmailConfig config = emailTo(sink, "smtp", url, sizeof(url));
    config.user = "mailer";
    config.password = TEST_PASSWORD;
    config.caFile = sink->cert;
    Alert alert;
    makeAlert(&alert);
    if (alertSendEmail(&config, &alert) != ERR_OK)
        fail_msg("send failed: %s", errLast()->reason);
    char *envelope = sinkMessage(sink, 1, "json");
    assert_non_null(envelope);
    assert_non_null(strstr(envelope, "\"tls\": true"));
    assert_non_null(strstr(envelope, "\"authenticated\": true"));
    free(envelope);

    /* A wrong password fails, and the reason never shows the password. */
    config.password = "Wrong-" TEST_PASSWORD;
    assert_int_equal(alertSendEmail(&config, &alert), ALERT_FAILED);
    assert_null(strstr(errLast()->reason, TEST_PASSWORD));
    assert_non_null(strstr(errLast()->reason, "smtp://127.0.0.1:"));
    assert_non_null(strstr(errLast()->action, "BACKUP_SMTP_PASSWORD"));
    char *second = sinkMessage(sink, 2, "eml");
    assert_null(second);

    /* Without the CA the certificate is not trusted: no silent fallback to clear text. */
    config.password = TEST_PASSWORD;
    config.caFile = NULL;
    assert_int_equal(alertSendEmail(&config, &alert), ALERT_FAILED);
    assert_null(strstr(errLast()->reason, TEST_PASSWORD));
}

static void testEmailImplicitTls(void **state)
{
    (void)state;
    SinkProcess *sink = sinkStart("implicit", NULL);
    char url[128];
    AlertEmailConfig config = emailTo(sink, "smtps", url, sizeof(url));
    config.caFile = sink->cert;
    Alert alert;
    makeAlert(&alert);
    if (alertSendEmail(&config, &alert) != ERR_OK)
        fail_msg("send failed: %s", errLast()->reason);
    char *envelope = sinkMessage(sink, 1, "json");
    assert_non_null(envelope);
    assert_non_null(strstr(envelope, "\"tls\": true"));
    free(envelope);
}

static void testEmailRequireTlsRefusesPlainServer(void **state)
{
    (void)state;
    SinkProcess *sink = sinkStart("none", NULL);
    char url[128];
    AlertEmailConfig config = emailTo(sink, "smtp", url, sizeof(url));
    config.requireTls = true;
    Alert alert;
    makeAlert(&alert);
    assert_int_equal(alertSendEmail(&config, &alert), ALERT_FAILED);
    char *eml = sinkMessage(sink, 1, "eml");
    assert_null(eml);
}

/* A relay that is not on loopback must offer STARTTLS unless the operator
 * allows clear text. smtp://0.0.0.0 reaches the loopback sink on Linux but
 * is not a loopback name, so it stands for a relay across a network. */
static void testEmailRemoteRelayRequiresStartTls(void **state)
{
    (void)state;
    SinkProcess *sink = sinkStart("none", NULL);
    char url[128];
    AlertEmailConfig config = emailTo(sink, "smtp", url, sizeof(url));
    char remoteUrl[128];
    snprintf(remoteUrl, sizeof(remoteUrl), "smtp://0.0.0.0:%d", sink->port);
    config.smtpUrl = remoteUrl;
    Alert alert;
    makeAlert(&alert);
    assert_int_equal(alertSendEmail(&config, &alert), ALERT_FAILED);
    assert_non_null(strstr(errLast()->action, "does not offer STARTTLS"));
    assert_non_null(strstr(errLast()->reason, "(BACKUP_SMTP_REQUIRE_TLS)"));
    assert_non_null(strstr(errLast()->action, "BACKUP_SMTP_REQUIRE_TLS=false"));
    assert_null(sinkMessage(sink, 1, "eml"));

    /* On loopback the relay is this machine: clear text is fine. */
    config.smtpUrl = url;
    if (alertSendEmail(&config, &alert) != ERR_OK)
        fail_msg("send on loopback failed: %s", errLast()->reason);
    char *first = sinkMessage(sink, 1, "json");
    assert_non_null(first);
    assert_non_null(strstr(first, "\"tls\": false"));
    free(first);

    /* BACKUP_SMTP_REQUIRE_TLS=false: sent in clear across the network... */
    config.smtpUrl = remoteUrl;
    config.allowPlainText = true;
    if (alertSendEmail(&config, &alert) != ERR_OK)
        fail_msg("send with clear text allowed failed: %s", errLast()->reason);
    char *second = sinkMessage(sink, 2, "eml");
    assert_non_null(second);
    free(second);

    /* ...but never a password. */
    config.password = TEST_PASSWORD;
    config.user = "alerts";
    assert_int_equal(alertSendEmail(&config, &alert), ALERT_FAILED);
    assert_null(strstr(errLast()->reason, TEST_PASSWORD));
    assert_null(sinkMessage(sink, 3, "eml"));
}

static void testEmailClosedPortFailsFast(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof(url), "smtp://alerts:%s@127.0.0.1:%d", TEST_PASSWORD, closedPort());
    AlertEmailConfig config = {.smtpUrl = url, .to = "ops@example.com", .password = TEST_PASSWORD};
    Alert alert;
    makeAlert(&alert);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(alertSendEmail(&config, &alert), ALERT_FAILED);
    assert_true(secondsSince(&start) < 5.0);
    assert_int_equal(errLast()->code, ALERT_FAILED);
    assert_non_null(strstr(errLast()->reason, "127.0.0.1"));
    assert_non_null(strstr(errLast()->reason, "ops@example.com"));
    assert_null(strstr(errLast()->reason, TEST_PASSWORD));
    assert_null(strstr(errLast()->reason, "alerts:"));

    /* Configuration mistakes fail without touching the network. */
    config.smtpUrl = "http://127.0.0.1:25";
    assert_int_equal(alertSendEmail(&config, &alert), ALERT_FAILED);
    assert_non_null(strstr(errLast()->reason, "smtp://"));
    config.smtpUrl = "";
    assert_int_equal(alertSendEmail(&config, &alert), ALERT_FAILED);
    assert_non_null(strstr(errLast()->reason, "BACKUP_SMTP_URL"));
    config.smtpUrl = url;
    config.to = "nobody";
    assert_int_equal(alertSendEmail(&config, &alert), ALERT_FAILED);
    assert_non_null(strstr(errLast()->reason, "BACKUP_ALERT_EMAIL"));
}

static void testEmailTimeout(void **state)
{
    (void)state;
    /* A server that accepts and never greets. */
    HttpListener silent;
    httpStart(&silent, 0, NULL, true);
    char url[128];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", silent.port);
    AlertEmailConfig config = {.smtpUrl = url, .to = "ops@example.com", .timeoutMs = 300};
    Alert alert;
    makeAlert(&alert);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(alertSendEmail(&config, &alert), ALERT_FAILED);
    assert_true(secondsSince(&start) < 5.0);
    assert_non_null(strstr(errLast()->reason, "imeout"));
    httpJoin(&silent);
}

/* ---- webhook delivery ------------------------------------------------------ */

static void testWebhookDelivered(void **state)
{
    (void)state;
    HttpListener listener;
    httpStart(&listener, 200, "{\"ok\":true}", false);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hooks/alerts", listener.port);
    AlertWebhookConfig config = {.url = url, .token = TEST_TOKEN, .timeoutMs = 10000};
    Alert alert;
    makeAlert(&alert);
    if (alertSendWebhook(&config, &alert) != ERR_OK)
        fail_msg("webhook failed: %s", errLast()->reason);
    httpJoin(&listener);

    assert_true(strncmp(listener.request, "POST /hooks/alerts HTTP/1.1\r\n", 29) == 0);
    assert_non_null(strcasestr(listener.request, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(listener.request, "\r\nAuthorization: Bearer " TEST_TOKEN "\r\n"));
    const char *body = strstr(listener.request, "\r\n\r\n");
    assert_non_null(body);
    json_object *root = json_tokener_parse(body + 4);
    assert_non_null(root);
    json_object *field;
    assert_true(json_object_object_get_ex(root, "code", &field));
    assert_string_equal(json_object_get_string(field), "BACKUP_NO_SPACE");
    assert_true(json_object_object_get_ex(root, "severity", &field));
    assert_string_equal(json_object_get_string(field), "CRITICAL");
    assert_true(json_object_object_get_ex(root, "backupId", &field));
    assert_string_equal(json_object_get_string(field), "neo4j-20251227-020000");
    assert_true(json_object_object_get_ex(root, "host", &field));
    assert_string_equal(json_object_get_string(field), "db-host-1");
    json_object_put(root);
    /* The token travels in the header only. */
    assert_null(strstr(body, TEST_TOKEN));
}

static void testWebhookErrorStatus(void **state)
{
    (void)state;
    static const int statuses[] = {500, 404, 302};
    for (size_t index = 0; index < sizeof(statuses) / sizeof(statuses[0]); index++) {
        HttpListener listener;
        /* A careless server echoing the token must not leak it into our logs. */
        httpStart(&listener, statuses[index],
                  "denied for token " TEST_TOKEN " at /services/T0/B0/XyZsecretPath", false);
        char url[128];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/services/T0/B0/XyZsecretPath?key=k3y",
                 listener.port);
        AlertWebhookConfig config = {.url = url, .token = TEST_TOKEN, .timeoutMs = 10000};
        Alert alert;
        makeAlert(&alert);
        assert_int_equal(alertSendWebhook(&config, &alert), ALERT_FAILED);
        httpJoin(&listener);
        char expected[32];
        snprintf(expected, sizeof(expected), "HTTP %d", statuses[index]);
        if (!strstr(errLast()->reason, expected))
            fail_msg("reason '%s' lacks '%s'", errLast()->reason, expected);
        assert_null(strstr(errLast()->reason, TEST_TOKEN));
        assert_non_null(strstr(errLast()->reason, "denied for token ***"));
        /* Chat webhooks keep their secret in the path: never shown either. */
        assert_null(strstr(errLast()->reason, "XyZsecretPath"));
        assert_null(strstr(errLast()->reason, "k3y"));
    }
}

static void testWebhookClosedPortAndTimeout(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", closedPort());
    AlertWebhookConfig config = {.url = url, .timeoutMs = 10000};
    Alert alert;
    makeAlert(&alert);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(alertSendWebhook(&config, &alert), ALERT_FAILED);
    assert_true(secondsSince(&start) < 5.0);
    assert_non_null(strstr(errLast()->reason, "127.0.0.1"));

    HttpListener silent;
    httpStart(&silent, 0, NULL, true);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", silent.port);
    config.timeoutMs = 300;
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(alertSendWebhook(&config, &alert), ALERT_FAILED);
    assert_true(secondsSince(&start) < 5.0);
    httpJoin(&silent);
    /* The request did arrive before the timeout: it was the answer that never came. */
    assert_non_null(strstr(silent.request, "POST /hook"));

    config.url = "ftp://127.0.0.1/hook";
    assert_int_equal(alertSendWebhook(&config, &alert), ALERT_FAILED);
    assert_non_null(strstr(errLast()->reason, "http://"));
}

/* ---- dispatcher ------------------------------------------------------------ */

typedef struct {
    int warnings;
    char lastWarning[1024];
} CapturedLog;

static void captureLog(LogLevel level, const char *line, void *payload)
{
    CapturedLog *captured = payload;
    if (level == LOG_WARN) {
        captured->warnings++;
        snprintf(captured->lastWarning, sizeof(captured->lastWarning), "%s", line);
    }
}

static void testDispatcher(void **state)
{
    (void)state;
    CapturedLog captured = {0};
    logSetSink(captureLog, &captured);
    Alert alert;
    makeAlert(&alert);

    /* Nothing configured: nothing to fail. */
    AlertConfig none = {0};
    assert_false(alertConfigured(&none));
    assert_true(alertSend(&none, &alert));
    assert_int_equal(captured.warnings, 0);

    /* One sink down, one up: false, one warning, the other still delivered,
     * and the caller's own error survives. */
    HttpListener listener;
    httpStart(&listener, 204, NULL, false);
    char smtpUrl[128];
    char hookUrl[128];
    snprintf(smtpUrl, sizeof(smtpUrl), "smtp://127.0.0.1:%d", closedPort());
    snprintf(hookUrl, sizeof(hookUrl), "http://127.0.0.1:%d/hook", listener.port);
    AlertConfig config = {
        .email = {.smtpUrl = smtpUrl, .to = "ops@example.com", .password = TEST_PASSWORD},
        .webhook = {.url = hookUrl, .token = TEST_TOKEN},
    };
    assert_true(alertConfigured(&config));
    errSet(BACKUP_NO_SPACE, "only 3%% free");
    errSetAction("free some space");
    assert_false(alertSend(&config, &alert));
    httpJoin(&listener);
    assert_non_null(strstr(listener.request, "BACKUP_NO_SPACE"));
    assert_int_equal(captured.warnings, 1);
    assert_non_null(strstr(captured.lastWarning, "e-mail"));
    assert_null(strstr(captured.lastWarning, TEST_PASSWORD));
    assert_int_equal(errLast()->code, BACKUP_NO_SPACE);
    assert_string_equal(errLast()->reason, "only 3% free");
    assert_string_equal(errLast()->action, "free some space");

    /* E-mail address without a server: a warning, not a crash. */
    captured.warnings = 0;
    AlertConfig noServer = {.email = {.to = "ops@example.com"}};
    assert_false(alertSend(&noServer, &alert));
    assert_int_equal(captured.warnings, 1);
    assert_non_null(strstr(captured.lastWarning, "BACKUP_SMTP_URL"));

    /* Only the webhook, and it works. */
    captured.warnings = 0;
    httpStart(&listener, 200, NULL, false);
    snprintf(hookUrl, sizeof(hookUrl), "http://127.0.0.1:%d/hook", listener.port);
    AlertConfig webhookOnly = {.webhook = {.url = hookUrl}};
    assert_true(alertSend(&webhookOnly, &alert));
    httpJoin(&listener);
    assert_int_equal(captured.warnings, 0);
    logSetSink(NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testSeverityNamesAndInit),
        cmocka_unit_test(testFormatEmail),
        cmocka_unit_test(testFormatEmailResistsHeaderInjection),
        cmocka_unit_test(testFormatEmailNonAscii),
        cmocka_unit_test(testFormatJson),
        cmocka_unit_test(testLoadLogTail),
        cmocka_unit_test_teardown(testEmailDelivered, sinkTeardown),
        cmocka_unit_test_teardown(testEmailStartTlsWithAuth, sinkTeardown),
        cmocka_unit_test_teardown(testEmailImplicitTls, sinkTeardown),
        cmocka_unit_test_teardown(testEmailRequireTlsRefusesPlainServer, sinkTeardown),
        cmocka_unit_test_teardown(testEmailRemoteRelayRequiresStartTls, sinkTeardown),
        cmocka_unit_test(testEmailClosedPortFailsFast),
        cmocka_unit_test(testEmailTimeout),
        cmocka_unit_test(testWebhookDelivered),
        cmocka_unit_test(testWebhookErrorStatus),
        cmocka_unit_test(testWebhookClosedPortAndTimeout),
        cmocka_unit_test(testDispatcher),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
