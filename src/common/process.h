/* The one child-process runner: every program the toolkit starts
 * (neo4j-admin, the operators' stop and start commands) goes through
 * procRun, and nothing else forks or runs a shell.
 *
 *   procRun        argv[0] (a path, no PATH search) with argv, a cleaned
 *                  environment, stdout streamed into a sink or kept with the
 *                  messages, stdin fed from a source or /dev/null, a timeout
 *                  and a cancel flag; the tail of its messages is kept
 *   procShellRun   an operator's shell command as `/bin/sh -c <command>`
 *   procEnv*       the cleaned environment children get (see below)
 *   procMask*      a command line with what looks like a password masked,
 *                  for log lines, error messages and alert e-mails
 *
 * Threads: argv and the environment are built before fork(); the child
 * calls only async-signal-safe functions (setpgid, sigprocmask, signal,
 * dup2, execve, write, _exit), so running a child from any thread (the API
 * server's, the scheduler's) is safe.
 *
 * Children run in their own process group, with the caller's signal mask and
 * ignored signals reset, so a Ctrl-C reaches only us and we decide what to
 * stop (never a start command). They inherit no descriptor but
 * stdin/stdout/stderr.
 *
 * Environment policy: a child gets our environment minus every variable
 * whose name looks secret (procEnvIsSecret: *PASSWORD*, *PASSWD*, *TOKEN*,
 * *SECRET*, *CREDENTIAL*, *PRIVATE*, *_KEY, *_KEY_*, *APIKEY*, NEO4J_AUTH,
 * AWS_*, AZURE_*, and every setting of ours declared secret), plus the
 * variables the caller adds (NEO4J_HOME for neo4j-admin). Everything else
 * (PATH, HOME, LANG, JAVA_HOME, an operator's own variables) passes, so stop
 * and start commands keep working as before.
 *
 * Ownership: ProcRun and ProcIo are plain values of the caller's. */
#ifndef NBK_COMMON_PROCESS_H
#define NBK_COMMON_PROCESS_H

#include "common/error.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROC_TAIL_LINES 12
#define PROC_TAIL_LINE_SIZE 240
#define PROC_COMMAND_SIZE 1024

/* One run of a child process, for messages. */
typedef struct {
    char command[PROC_COMMAND_SIZE]; /* what ran, secrets masked, e.g. "/opt/neo4j/bin/neo4j-admin database dump ..." */
    int exitStatus;       /* exit code; 128+N when killed by signal N; -1 when it never ran */
    double seconds;
    unsigned tailCount;   /* lines in tail, oldest first */
    char tail[PROC_TAIL_LINES][PROC_TAIL_LINE_SIZE]; /* last message lines, progress lines left out */
    char pending[PROC_TAIL_LINE_SIZE]; /* an unfinished line (internal) */
    size_t pendingLength;
    void (*onLine)(const char *line, void *payload); /* from ProcIo (internal) */
    void *onLinePayload;
} ProcRun;

/* Receives the child's standard output. An error stops the child. */
typedef ErrCode (*ProcSink)(const uint8_t *data, size_t length, void *payload);
/* Fills buffer with the next bytes of the child's standard input; *length 0
 * means the end. An error stops the child. */
typedef ErrCode (*ProcSource)(uint8_t *buffer, size_t capacity, size_t *length, void *payload);

typedef struct {
    ProcSink sink;                      /* NULL: stdout joins the messages */
    void *sinkPayload;
    ProcSource source;                  /* NULL: stdin is /dev/null */
    void *sourcePayload;
    /* "NAME=value" entries added to the cleaned environment (replacing a
     * variable of the same name), NULL-terminated; may be NULL. */
    const char *const *extraEnv;
    double timeoutSeconds;              /* 0 = none; then the child is stopped */
    volatile sig_atomic_t *cancelFlag;  /* when set: SIGTERM to the child, OPERATION_INTERRUPTED */
    /* Sees every message line of the child as it comes (progress lines
     * left out), e.g. to show the stages of a long import; may be NULL. */
    void (*onLine)(const char *line, void *payload);
    void *onLinePayload;
} ProcIo;

/* Runs argv[0] (a path: no PATH search) with argv (NULL-terminated) and
 * waits for it; io may be NULL. Stopping (cancel, timeout, a sink or source
 * error) sends SIGTERM to the child's process group, SIGKILL 15 seconds
 * later. Returns ERR_OK when the child ran to its end, whatever its exit
 * status (in run->exitStatus); OPERATION_INTERRUPTED when cancelled;
 * NEO4J_ADMIN_FAILED "<command> did not finish within N seconds" on timeout
 * or when it cannot start; a sink's or source's own error. run is filled in
 * every case, run->command with secrets masked. */
ErrCode procRun(const char *const *argv, const ProcIo *io, ProcRun *run);

/* Runs command as `/bin/sh -c command` (cleaned environment, output kept in
 * run and logged at debug level, masked). A non-zero exit is
 * NEO4J_ADMIN_FAILED "`command` exited with status N" (masked). */
ErrCode procShellRun(const char *command, double timeoutSeconds, volatile sig_atomic_t *cancelFlag, ProcRun *run);

/* NEO4J_ADMIN_FAILED "<run->command> exited with status N", the last
 * message line as details. */
ErrCode procExitFailure(const ProcRun *run);

/* Whether an environment variable's name (up to '=' if any) looks secret,
 * by the policy above. */
bool procEnvIsSecret(const char *name);

/* The environment a child gets: base (NULL-terminated "NAME=value"
 * entries, e.g. environ) without its secret-looking variables, plus extra
 * (may be NULL). The array is the caller's (procEnvFree); its strings point
 * into base and extra, which must outlive it. */
char **procEnvBuild(char *const *base, const char *const *extra);
void procEnvFree(char **env);

/* Copies text into out with the values of what looks like a password
 * replaced by "****": NAME=value and --name=value / --name value where the
 * name looks secret (procEnvIsSecret, or ends in PASS/PW), -p<value> and
 * -p <value>, user:password@ in URIs, and -u/--user user:password (curl). */
void procMaskSecrets(const char *text, char *out, size_t size);

/* Feeds child output into run's tail: lines split at \n or \r, progress
 * lines ("Files: 3/53, data: 0.1%", "....  10%"), Java stack frames and
 * empty lines left out. procRunCaptureEnd flushes an unfinished last line. */
void procRunCapture(ProcRun *run, const char *data, size_t length);
void procRunCaptureEnd(ProcRun *run);
/* The last tail line, or "" when there is none. */
const char *procRunLastLine(const ProcRun *run);

#endif
