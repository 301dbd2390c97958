/* The one child-process runner (see process.h): argv and a cleaned
 * environment built before fork, execve in the child, pipes pumped with
 * poll(), timeout and cancel, the tail of the child's messages kept; and the
 * masking of secrets in command lines. */
#include "common/process.h"

#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* How long a child may take to go after SIGTERM before it gets SIGKILL. */
#define PROC_KILL_GRACE_SECONDS 15.0
/* After a child exits, how long its background children may keep our pipes
 * open (e.g. "neo4j console &" in a start command) before we stop reading. */
#define PROC_PIPE_GRACE_SECONDS 2.0
#define PROC_IO_CHUNK (256u * 1024u)
#define PROC_MASK "****"

/* ---- output tail ----------------------------------------------------------- */

/* neo4j-admin draws progress as lines of their own, and Java stack frames follow
 * its errors; neither says anything in a report. */
static bool procIsProgressLine(const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (!*line)
        return true;
    if (strncmp(line, "Files:", 6) == 0 && strstr(line, "data:"))
        return true;
    /* Java stack frames would push the message itself out of the tail. */
    if ((strncmp(line, "at ", 3) == 0 && strchr(line, '(')) ||
        (strncmp(line, "... ", 4) == 0 && strstr(line, " more")))
        return true;
    if (*line == '-' && line[1] == '.') /* the import's first progress line */
        line++;
    if (*line == '.') {
        while (*line == '.' || *line == ' ')
            line++;
        while (isdigit((unsigned char)*line))
            line++;
        return *line == '%' || *line == '\0';
    }
    return false;
}

static void procRunAddLine(ProcRun *run, const char *line)
{
    if (procIsProgressLine(line))
        return;
    logDebug("  | %s", line);
    if (run->onLine)
        run->onLine(line, run->onLinePayload);
    if (run->tailCount == PROC_TAIL_LINES) {
        memmove(run->tail[0], run->tail[1], sizeof(run->tail[0]) * (PROC_TAIL_LINES - 1));
        run->tailCount--;
    }
    snprintf(run->tail[run->tailCount++], PROC_TAIL_LINE_SIZE, "%s", line);
}

void procRunCapture(ProcRun *run, const char *data, size_t length)
{
    for (size_t index = 0; index < length; index++) {
        char byte = data[index];
        if (byte == '\n' || byte == '\r') {
            run->pending[run->pendingLength] = '\0';
            procRunAddLine(run, run->pending);
            run->pendingLength = 0;
        } else if (run->pendingLength + 1 < sizeof(run->pending)) {
            /* Longer lines are cut: the start says what went wrong. */
            run->pending[run->pendingLength++] = byte == '\0' ? ' ' : byte;
        }
    }
}

void procRunCaptureEnd(ProcRun *run)
{
    if (run->pendingLength) {
        run->pending[run->pendingLength] = '\0';
        procRunAddLine(run, run->pending);
        run->pendingLength = 0;
    }
}

const char *procRunLastLine(const ProcRun *run)
{
    return run->tailCount ? run->tail[run->tailCount - 1] : "";
}

/* ---- the environment --------------------------------------------------------- */

/* Whether name (length bytes) contains word, ignoring case. */
static bool procNameHas(const char *name, size_t length, const char *word)
{
    size_t wordLength = strlen(word);
    for (size_t start = 0; start + wordLength <= length; start++)
        if (strncasecmp(name + start, word, wordLength) == 0)
            return true;
    return false;
}

static bool procNameEndsWith(const char *name, size_t length, const char *word)
{
    size_t wordLength = strlen(word);
    return length >= wordLength && strncasecmp(name + length - wordLength, word, wordLength) == 0;
}

bool procEnvIsSecret(const char *name)
{
    size_t length = strcspn(name, "=");
    static const char *const secretWords[] = {"PASSWORD", "PASSWD", "TOKEN", "SECRET", "CREDENTIAL",
                                              "PRIVATE", "APIKEY", "API_KEY", "_KEY_"};
    for (size_t index = 0; index < sizeof(secretWords) / sizeof(secretWords[0]); index++)
        if (procNameHas(name, length, secretWords[index]))
            return true;
    if (procNameEndsWith(name, length, "_KEY") || (length == 10 && strncasecmp(name, "NEO4J_AUTH", 10) == 0) ||
        (length > 4 && strncasecmp(name, "AWS_", 4) == 0) || (length > 6 && strncasecmp(name, "AZURE_", 6) == 0))
        return true;
    /* Our own secret settings, e.g. BACKUP_SMTP_URL and BACKUP_ALERT_WEBHOOK
     * whose values may carry credentials. */
    char settingName[128];
    if (length == 0 || length >= sizeof(settingName))
        return false;
    memcpy(settingName, name, length);
    settingName[length] = '\0';
    const CfgSetting *setting = cfgSettingFind(settingName);
    return setting && setting->isSecret;
}

char **procEnvBuild(char *const *base, const char *const *extra)
{
    size_t baseCount = 0;
    size_t extraCount = 0;
    while (base && base[baseCount])
        baseCount++;
    while (extra && extra[extraCount])
        extraCount++;
    char **env = memCalloc(baseCount + extraCount + 1, sizeof(char *));
    size_t used = 0;
    for (size_t index = 0; index < baseCount; index++) {
        const char *entry = base[index];
        size_t nameLength = strcspn(entry, "=");
        if (entry[nameLength] != '=' || procEnvIsSecret(entry))
            continue;
        bool replaced = false;
        for (size_t extraIndex = 0; extraIndex < extraCount && !replaced; extraIndex++)
            replaced = strncmp(extra[extraIndex], entry, nameLength + 1) == 0;
        if (!replaced)
            env[used++] = (char *)entry;
    }
    for (size_t index = 0; index < extraCount; index++)
        env[used++] = (char *)extra[index];
    env[used] = NULL;
    return env;
}

void procEnvFree(char **env) { free(env); }

/* ---- masking ------------------------------------------------------------------ */

/* Whether an option or variable name (without dashes) names a secret. */
static bool procNameIsSecret(const char *name, size_t length)
{
    char copy[128];
    if (length == 0 || length >= sizeof(copy))
        return false;
    memcpy(copy, name, length);
    copy[length] = '\0';
    for (size_t index = 0; index < length; index++)
        if (copy[index] == '-')
            copy[index] = '_';
    return procEnvIsSecret(copy) || procNameEndsWith(copy, length, "PASS") || procNameEndsWith(copy, length, "PW") ||
           procNameHas(copy, length, "AUTH");
}

typedef struct {
    char *out;
    size_t size;
    size_t used;
} ProcMaskOut;

static void procMaskPut(ProcMaskOut *mask, const char *text, size_t length)
{
    for (size_t index = 0; index < length && mask->used + 1 < mask->size; index++)
        mask->out[mask->used++] = text[index];
    mask->out[mask->used] = '\0';
}

/* The end of a value starting at text: the next unquoted blank. Quotes
 * around it ('...' or "...") belong to it. */
static size_t procValueLength(const char *text)
{
    size_t length = 0;
    char quote = 0;
    while (text[length]) {
        char byte = text[length];
        if (quote) {
            if (byte == quote)
                quote = 0;
        } else if (byte == '\'' || byte == '"') {
            quote = byte;
        } else if (isspace((unsigned char)byte)) {
            break;
        }
        length++;
    }
    return length;
}

/* What the next word of a command is. */
typedef enum {
    PROC_NEXT_PLAIN,
    PROC_NEXT_SECRET,     /* the value of --password and the like */
    PROC_NEXT_USER,       /* the value of -u/--user: user or user:password */
} ProcNextWord;

/* One word of the command (no blanks), masked into mask. *next says what
 * the following word is when this one is an option taking a value. */
static void procMaskWord(ProcMaskOut *mask, const char *word, size_t length, ProcNextWord *next)
{
    *next = PROC_NEXT_PLAIN;
    /* An HTTP "Authorization: Bearer <token>" (or Basic), quoted or not. */
    for (size_t index = 0; index + 6 <= length; index++) {
        bool bearer = strncasecmp(word + index, "bearer", 6) == 0;
        bool basic = index + 5 <= length && strncasecmp(word + index, "basic", 5) == 0 &&
                     procNameHas(word, index, "authorization");
        if (!bearer && !basic)
            continue;
        size_t end = index + (bearer ? 6 : 5);
        if (end == length) {
            procMaskPut(mask, word, length);
            *next = PROC_NEXT_SECRET;
            return;
        }
        if (word[end] == ' ') {
            procMaskPut(mask, word, end + 1);
            procMaskPut(mask, PROC_MASK, strlen(PROC_MASK));
            if (word[length - 1] == '\'' || word[length - 1] == '"')
                procMaskPut(mask, word + length - 1, 1);
            return;
        }
    }
    const char *equals = memchr(word, '=', length);
    size_t dashes = 0;
    while (dashes < length && word[dashes] == '-')
        dashes++;
    /* NAME=value or --name=value */
    if (equals && procNameIsSecret(word + dashes, (size_t)(equals - word) - dashes)) {
        procMaskPut(mask, word, (size_t)(equals - word) + 1);
        procMaskPut(mask, PROC_MASK, strlen(PROC_MASK));
        return;
    }
    /* -p<password> (mysql style) and -p <password> */
    if (dashes == 1 && length >= 2 && word[1] == 'p') {
        procMaskPut(mask, "-p", 2);
        if (length > 2)
            procMaskPut(mask, PROC_MASK, strlen(PROC_MASK));
        else
            *next = PROC_NEXT_SECRET;
        return;
    }
    /* --password <value> */
    if (!equals && dashes >= 1 && procNameIsSecret(word + dashes, length - dashes)) {
        procMaskPut(mask, word, length);
        *next = PROC_NEXT_SECRET;
        return;
    }
    /* -u <user:password>, --user <user:password> (curl) */
    if ((dashes == 1 && length == 2 && word[1] == 'u') || (dashes == 2 && length == 6 && !strncmp(word, "--user", 6))) {
        procMaskPut(mask, word, length);
        *next = PROC_NEXT_USER;
        return;
    }
    /* scheme://user:password@host */
    const char *scheme = NULL;
    for (size_t index = 0; index + 3 <= length; index++)
        if (word[index] == ':' && word[index + 1] == '/' && word[index + 2] == '/') {
            scheme = word + index + 3;
            break;
        }
    if (scheme) {
        size_t rest = length - (size_t)(scheme - word);
        const char *at = memchr(scheme, '@', rest);
        const char *colon = at ? memchr(scheme, ':', (size_t)(at - scheme)) : NULL;
        if (colon && !memchr(scheme, '/', (size_t)(at - scheme))) {
            procMaskPut(mask, word, (size_t)(colon - word) + 1);
            procMaskPut(mask, PROC_MASK, strlen(PROC_MASK));
            procMaskPut(mask, at, length - (size_t)(at - word));
            return;
        }
    }
    procMaskPut(mask, word, length);
}

void procMaskSecrets(const char *text, char *out, size_t size)
{
    if (!size)
        return;
    ProcMaskOut mask = {.out = out, .size = size, .used = 0};
    out[0] = '\0';
    ProcNextWord next = PROC_NEXT_PLAIN;
    const char *cursor = text ? text : "";
    while (*cursor) {
        if (isspace((unsigned char)*cursor)) {
            procMaskPut(&mask, cursor, 1);
            cursor++;
            continue;
        }
        size_t length = procValueLength(cursor);
        const char *colon = memchr(cursor, ':', length);
        if (next == PROC_NEXT_SECRET) {
            procMaskPut(&mask, PROC_MASK, strlen(PROC_MASK));
            next = PROC_NEXT_PLAIN;
        } else if (next == PROC_NEXT_USER) {
            /* The user part stays; a password after it goes. */
            procMaskPut(&mask, cursor, colon ? (size_t)(colon - cursor) + 1 : length);
            if (colon)
                procMaskPut(&mask, PROC_MASK, strlen(PROC_MASK));
            next = PROC_NEXT_PLAIN;
        } else {
            procMaskWord(&mask, cursor, length, &next);
        }
        cursor += length;
    }
}

/* ---- the runner ---------------------------------------------------------------- */

/* The environment of the child being started, also reachable from here: a
 * child whose execve failed leaves through _exit with it, and valgrind's leak
 * check in that child then sees no lost block. Only a test aid. */
static _Atomic(char **) procForkEnv;

static void procCloseFd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void procSetNonBlocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static void procWriteAll(const char *text)
{
    if (write(STDERR_FILENO, text, strlen(text)) < 0)
        _exit(127);
}

/* In the child between fork and execve: only async-signal-safe calls, on
 * memory prepared before the fork. */
static _Noreturn void procChildExec(char *const argv[], char *const envp[], int stdinFd, int stdoutFd, int stderrFd)
{
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    static const int resetSignals[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD};
    for (size_t index = 0; index < sizeof(resetSignals) / sizeof(resetSignals[0]); index++)
        signal(resetSignals[index], SIG_DFL);
    if (dup2(stdinFd, STDIN_FILENO) < 0 || dup2(stdoutFd, STDOUT_FILENO) < 0 ||
        dup2(stderrFd, STDERR_FILENO) < 0)
        _exit(127);
    execve(argv[0], argv, envp);
    /* strerrordesc_np reads a static table: safe here, unlike strerror. */
    const char *reason = strerrordesc_np(errno);
    procWriteAll("cannot execute ");
    procWriteAll(argv[0]);
    procWriteAll(": ");
    procWriteAll(reason ? reason : "error");
    procWriteAll("\n");
    _exit(127);
}

typedef struct {
    int inFd;      /* our end of the child's stdin, -1 when closed or unused */
    int outFd;     /* child's stdout when streamed to a sink */
    int errFd;     /* child's stderr (and stdout when not streamed) */
    uint8_t *inBuffer;
    size_t inLength;
    size_t inOffset;
    bool inDone;
} ProcPipes;

static void procKillGroup(pid_t pid, int signalNumber)
{
    if (kill(-pid, signalNumber) != 0)
        kill(pid, signalNumber);
}

/* Moves bytes between us and the child once poll() said something is ready. */
static ErrCode procPumpOutput(ProcPipes *pipes, const ProcIo *io, uint8_t *buffer, ProcRun *run)
{
    if (pipes->outFd >= 0) {
        ssize_t got = read(pipes->outFd, buffer, PROC_IO_CHUNK);
        if (got > 0) {
            ErrCode code = io->sink((const uint8_t *)buffer, (size_t)got, io->sinkPayload);
            if (code != ERR_OK)
                return code;
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
            procCloseFd(&pipes->outFd);
        }
    }
    if (pipes->errFd >= 0) {
        ssize_t got = read(pipes->errFd, buffer, PROC_IO_CHUNK);
        if (got > 0)
            procRunCapture(run, (const char *)buffer, (size_t)got);
        else if (got == 0 || (errno != EAGAIN && errno != EINTR))
            procCloseFd(&pipes->errFd);
    }
    return ERR_OK;
}

static ErrCode procPumpInput(ProcPipes *pipes, const ProcIo *io)
{
    if (pipes->inFd < 0)
        return ERR_OK;
    if (pipes->inOffset == pipes->inLength && !pipes->inDone) {
        pipes->inOffset = 0;
        pipes->inLength = 0;
        ErrCode code = io->source(pipes->inBuffer, PROC_IO_CHUNK, &pipes->inLength, io->sourcePayload);
        if (code != ERR_OK)
            return code;
        if (pipes->inLength == 0)
            pipes->inDone = true;
    }
    if (pipes->inOffset == pipes->inLength) {
        if (pipes->inDone)
            procCloseFd(&pipes->inFd); /* end of input: the child sees EOF */
        return ERR_OK;
    }
    ssize_t wrote = write(pipes->inFd, pipes->inBuffer + pipes->inOffset, pipes->inLength - pipes->inOffset);
    if (wrote > 0) {
        pipes->inOffset += (size_t)wrote;
    } else if (wrote < 0 && errno != EAGAIN && errno != EINTR) {
        /* The child stopped reading (EPIPE); its exit status will say why. */
        pipes->inDone = true;
        procCloseFd(&pipes->inFd);
    }
    return ERR_OK;
}

/* Pumps the pipes until the child has exited and they are drained,
 * stopping the child on cancel, timeout or a sink/source error. */
static ErrCode procSupervise(pid_t pid, ProcPipes *pipes, const ProcIo *io, ProcRun *run, double started,
                             int *status)
{
    uint8_t *buffer = memAlloc(PROC_IO_CHUNK);
    ErrCode failure = ERR_OK;   /* sink/source error, cancel or timeout */
    double termSentAt = 0;
    double exitedAt = 0;
    bool exited = false;
    while (!exited || pipes->outFd >= 0 || pipes->errFd >= 0) {
        if (exited && timeMonotonic() - exitedAt > PROC_PIPE_GRACE_SECONDS)
            break; /* a background grandchild holds the pipes: stop listening */
        struct pollfd polls[3];
        nfds_t count = 0;
        if (pipes->outFd >= 0)
            polls[count++] = (struct pollfd){.fd = pipes->outFd, .events = POLLIN};
        if (pipes->errFd >= 0)
            polls[count++] = (struct pollfd){.fd = pipes->errFd, .events = POLLIN};
        if (pipes->inFd >= 0)
            polls[count++] = (struct pollfd){.fd = pipes->inFd, .events = POLLOUT};
        int ready = 0;
        if (count)
            ready = poll(polls, count, 200);
        else
            usleep(50 * 1000); /* pipes closed: only waiting for the child to exit */
        if (ready < 0 && errno != EINTR)
            failure = errSet(NEO4J_ADMIN_FAILED, "poll failed while running %s: %s", run->command, strerror(errno));
        if (ready > 0 && failure != ERR_OK) {
            procPumpOutput(pipes, io, buffer, run); /* stdout is closed: only drains the messages */
        } else if (ready > 0) {
            failure = procPumpOutput(pipes, io, buffer, run);
            for (nfds_t index = 0; failure == ERR_OK && index < count; index++)
                if (polls[index].fd == pipes->inFd && (polls[index].revents & (POLLOUT | POLLERR | POLLHUP)))
                    failure = procPumpInput(pipes, io);
        }
        if (failure == ERR_OK && io->cancelFlag && *io->cancelFlag)
            failure = errSet(OPERATION_INTERRUPTED, "interrupted while running %s", run->command);
        if (failure == ERR_OK && io->timeoutSeconds > 0 && timeMonotonic() - started > io->timeoutSeconds)
            failure = errSet(NEO4J_ADMIN_FAILED, "%s did not finish within %.0f seconds", run->command,
                             io->timeoutSeconds);
        if (failure != ERR_OK && !exited) {
            if (termSentAt == 0) {
                procKillGroup(pid, SIGTERM);
                termSentAt = timeMonotonic();
                /* Its output is of no use any more; closing the pipes also
                 * unblocks a child stuck writing to us. */
                procCloseFd(&pipes->outFd);
                procCloseFd(&pipes->inFd);
            } else if (timeMonotonic() - termSentAt > PROC_KILL_GRACE_SECONDS) {
                procKillGroup(pid, SIGKILL);
            }
        }
        if (!exited) {
            pid_t waited = waitpid(pid, status, WNOHANG);
            if (waited == pid) {
                exited = true;
                exitedAt = timeMonotonic();
            }
        }
    }
    if (!exited)
        waitpid(pid, status, 0);
    free(buffer);
    return failure;
}

/* run->command from argv, secrets masked. */
static void procDescribe(ProcRun *run, const char *const *argv)
{
    char plain[PROC_COMMAND_SIZE];
    size_t used = 0;
    plain[0] = '\0';
    for (size_t index = 0; argv[index] && used < sizeof(plain); index++)
        used += (size_t)snprintf(plain + used, sizeof(plain) - used, "%s%s", index ? " " : "", argv[index]);
    procMaskSecrets(plain, run->command, sizeof(run->command));
}

/* procRun, with shown (already masked) as run->command when not NULL. */
static ErrCode procRunShown(const char *const *argv, const char *shown, const ProcIo *io, ProcRun *run)
{
    ProcIo noIo = {0};
    if (!io)
        io = &noIo;
    memset(run, 0, sizeof(*run));
    run->onLine = io->onLine;
    run->onLinePayload = io->onLinePayload;
    run->exitStatus = -1;
    if (shown)
        snprintf(run->command, sizeof(run->command), "%s", shown);
    else
        procDescribe(run, argv);
    double started = timeMonotonic();

    /* Everything the child needs exists before the fork. */
    char **envp = procEnvBuild(environ, io->extraEnv);
    ProcPipes pipes = {.inFd = -1, .outFd = -1, .errFd = -1};
    pipes.inBuffer = io->source ? memAlloc(PROC_IO_CHUNK) : NULL;
    int inPipe[2] = {-1, -1};
    int outPipe[2] = {-1, -1};
    int errPipe[2] = {-1, -1};
    int devNull = -1;
    bool ok = pipe2(errPipe, O_CLOEXEC) == 0;
    if (ok && io->sink)
        ok = pipe2(outPipe, O_CLOEXEC) == 0;
    if (ok && io->source)
        ok = pipe2(inPipe, O_CLOEXEC) == 0;
    if (ok && !io->source)
        ok = (devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;
    procForkEnv = envp;
    pid_t pid = ok ? fork() : -1;
    if (pid == 0)
        procChildExec((char *const *)argv, envp, io->source ? inPipe[0] : devNull,
                      io->sink ? outPipe[1] : errPipe[1], errPipe[1]);
    int forkErrno = errno;
    procForkEnv = NULL;
    procEnvFree(envp);
    procCloseFd(&inPipe[0]);
    procCloseFd(&outPipe[1]);
    procCloseFd(&errPipe[1]);
    procCloseFd(&devNull);
    if (pid < 0) {
        procCloseFd(&inPipe[1]);
        procCloseFd(&outPipe[0]);
        procCloseFd(&errPipe[0]);
        free(pipes.inBuffer);
        return errSet(NEO4J_ADMIN_FAILED, "cannot start %s: %s", run->command, strerror(forkErrno));
    }
    /* Also set in the child; set here too so that a kill right after fork
     * already reaches the group. */
    setpgid(pid, pid);

    pipes.inFd = inPipe[1];
    pipes.outFd = outPipe[0];
    pipes.errFd = errPipe[0];
    if (pipes.inFd >= 0)
        procSetNonBlocking(pipes.inFd);
    if (pipes.outFd >= 0)
        procSetNonBlocking(pipes.outFd);
    procSetNonBlocking(pipes.errFd);

    int status = 0;
    ErrCode failure = procSupervise(pid, &pipes, io, run, started, &status);
    procCloseFd(&pipes.inFd);
    procCloseFd(&pipes.outFd);
    procCloseFd(&pipes.errFd);
    procRunCaptureEnd(run);
    free(pipes.inBuffer);
    run->seconds = timeMonotonic() - started;
    if (WIFEXITED(status))
        run->exitStatus = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        run->exitStatus = 128 + WTERMSIG(status);
    return failure;
}

ErrCode procRun(const char *const *argv, const ProcIo *io, ProcRun *run)
{
    return procRunShown(argv, NULL, io, run);
}

ErrCode procExitFailure(const ProcRun *run)
{
    errSet(NEO4J_ADMIN_FAILED, "%s exited with status %d", run->command, run->exitStatus);
    if (run->tailCount)
        errSetDetails("Output: %s", procRunLastLine(run));
    return NEO4J_ADMIN_FAILED;
}

ErrCode procShellRun(const char *command, double timeoutSeconds, volatile sig_atomic_t *cancelFlag, ProcRun *run)
{
    const char *const argv[] = {"/bin/sh", "-c", command, NULL};
    ProcIo io = {.timeoutSeconds = timeoutSeconds, .cancelFlag = cancelFlag};
    char shown[PROC_COMMAND_SIZE];
    procMaskSecrets(command, shown, sizeof(shown));
    logDebug("Running shell command: %s", shown);
    /* What runs is the operator's command; "/bin/sh -c" would say nothing. */
    ErrCode code = procRunShown(argv, shown, &io, run);
    if (code == ERR_OK && run->exitStatus != 0)
        code = procExitFailure(run);
    return code;
}
