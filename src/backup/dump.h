/* The dump method's engine: neo4j-admin as a child process, and the dump
 * files it writes.
 *
 *   dumpAdmin*     find neo4j-admin (NEO4J_ADMIN, else NEO4J_HOME/bin/neo4j-admin,
 *                  else on PATH), ask its version, run it with its standard
 *                  output streamed into a sink and its standard input fed from
 *                  a source, keeping the tail of its messages for the report
 *   dumpShellRun   an operator's shell command (NEO4J_STOP_COMMAND, ...)
 *   dumpWriter*    one pass over `neo4j-admin database dump --to-stdout`:
 *                  the file, its SHA-256, and a decode of the dump's own
 *                  compressed stream (its content size, and proof it is whole)
 *   dumpFileInspect the same facts from a dump file on disk (validation)
 *   dumpStoreLock* whether a process holds a store's lock (a running server)
 *
 * Dump file format (Neo4j 5): the 4 bytes "DZV1", then one zstd frame with a
 * content checksum holding a tar of the store files. "DGV1" (and a bare gzip
 * stream, older releases) is the same with gzip. Decoding the whole stream
 * proves the file is not cut short or damaged; the tar inside is Neo4j's
 * business (`neo4j-admin database check` reads it, dump_restore.h).
 *
 * Children run in their own process group, with the caller's signal mask and
 * ignored signals reset, so a Ctrl-C reaches only us and we decide what to
 * stop (never a start command). They inherit nothing but stdin/stdout/stderr.
 *
 * Ownership: DumpAdmin and DumpRun are plain values; a DumpWriter is the
 * caller's until dumpWriterFree. */
#ifndef NBK_BACKUP_DUMP_H
#define NBK_BACKUP_DUMP_H

#include "common/error.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DUMP_PATH_SIZE 4096
#define DUMP_TAIL_LINES 12
#define DUMP_TAIL_LINE_SIZE 240

/* Where neo4j-admin is, and the installation it belongs to. */
typedef struct {
    char executable[DUMP_PATH_SIZE];
    char neo4jHome[DUMP_PATH_SIZE]; /* exported as NEO4J_HOME when not empty */
} DumpAdmin;

/* One run of a child process, for messages. */
typedef struct {
    char command[1024];   /* what ran, e.g. "/opt/neo4j/bin/neo4j-admin database dump neo4j --to-stdout" */
    int exitStatus;       /* exit code; 128+N when killed by signal N; -1 when it never ran */
    double seconds;
    unsigned tailCount;   /* lines in tail, oldest first */
    char tail[DUMP_TAIL_LINES][DUMP_TAIL_LINE_SIZE]; /* last message lines, progress lines left out */
    char pending[DUMP_TAIL_LINE_SIZE]; /* an unfinished line (internal) */
    size_t pendingLength;
    void (*onLine)(const char *line, void *payload); /* from DumpIo (internal) */
    void *onLinePayload;
} DumpRun;

/* Receives the child's standard output. An error stops the child. */
typedef ErrCode (*DumpSink)(const uint8_t *data, size_t length, void *payload);
/* Fills buffer with the next bytes of the child's standard input; *length 0
 * means the end. An error stops the child. */
typedef ErrCode (*DumpSource)(uint8_t *buffer, size_t capacity, size_t *length, void *payload);

typedef struct {
    DumpSink sink;                      /* NULL: stdout joins the messages */
    void *sinkPayload;
    DumpSource source;                  /* NULL: stdin is /dev/null */
    void *sourcePayload;
    const char *neo4jConf;              /* exported as NEO4J_CONF when set */
    double timeoutSeconds;              /* 0 = none; then the child is stopped */
    volatile sig_atomic_t *cancelFlag;  /* when set: SIGTERM to the child, OPERATION_INTERRUPTED */
    /* Sees every message line of the child as it comes (progress lines
     * left out), e.g. to show the stages of a long import; may be NULL. */
    void (*onLine)(const char *line, void *payload);
    void *onLinePayload;
} DumpIo;

/* Finds neo4j-admin: configuredAdmin (NEO4J_ADMIN) when set, else
 * <neo4jHome>/bin/neo4j-admin, else "neo4j-admin" on PATH. Either may be
 * NULL. NEO4J_ADMIN_FAILED names what was looked for when nothing usable
 * (an executable regular file) is found. */
ErrCode dumpAdminResolve(const char *configuredAdmin, const char *neo4jHome, DumpAdmin *out);

/* Runs neo4j-admin with args (NULL-terminated, after the executable) and
 * waits for it. io may be NULL. ERR_OK only when it exits 0 and the sink
 * and source succeeded. A non-zero exit is NEO4J_ADMIN_FAILED with reason
 * "<command> exited with status N" and, as details, the last message line.
 * run is filled in every case. */
ErrCode dumpAdminRun(const DumpAdmin *admin, const char *const *args, const DumpIo *io, DumpRun *run);

/* `neo4j-admin --version` into version (e.g. "5.26.30"). */
ErrCode dumpAdminVersion(const DumpAdmin *admin, char *version, size_t size, DumpRun *run);

/* Runs command with /bin/sh -c, output kept in run (and logged at debug
 * level). Non-zero exit: NEO4J_ADMIN_FAILED "`command` exited with status N". */
ErrCode dumpShellRun(const char *command, double timeoutSeconds, volatile sig_atomic_t *cancelFlag,
                     DumpRun *run);

/* Feeds child output into run's tail: lines split at \n or \r, progress
 * lines ("Files: 3/53, data: 0.1%", "....  10%") and empty lines left out.
 * dumpRunCaptureEnd flushes an unfinished last line. */
void dumpRunCapture(DumpRun *run, const char *data, size_t length);
void dumpRunCaptureEnd(DumpRun *run);
/* The last tail line, or "" when there is none. */
const char *dumpRunLastLine(const DumpRun *run);

/* Compares dotted versions numerically ("5.26.10" > "5.26.9"; "2025.01.0" >
 * "5.26.30"); missing parts count as 0, text after the numbers is ignored.
 * Returns <0, 0 or >0. */
int dumpVersionCompare(const char *left, const char *right);

/* ---- dump files ---------------------------------------------------------- */

typedef struct {
    uint64_t bytes;         /* the file's size */
    uint64_t contentBytes;  /* decoded size of the compressed stream inside (0 if the format is unknown) */
    char sha256[65];        /* of the whole file, lowercase hex */
    char format[8];         /* "DZV1" (zstd), "DGV1" (gzip), "gzip", or "" when not recognised */
} DumpFileInfo;

typedef struct DumpWriter DumpWriter;

/* Creates path (mode 0600, must not exist). */
ErrCode dumpWriterOpen(DumpWriter **out, const char *path);
/* Appends bytes: written, hashed and decoded. A DumpSink (payload = writer).
 * A damaged stream is BACKUP_CORRUPTED at once; a full disk BACKUP_NO_SPACE. */
ErrCode dumpWriterAdd(const uint8_t *data, size_t length, void *writer);
/* Closes the file and fills out. BACKUP_CORRUPTED when the compressed stream
 * inside is incomplete. */
ErrCode dumpWriterFinish(DumpWriter *writer, DumpFileInfo *out);
/* Frees (closing the file if still open); the file itself stays. NULL ok. */
void dumpWriterFree(DumpWriter *writer);

/* Reads a dump file once: size, SHA-256 and the decode of its stream.
 * BACKUP_CORRUPTED (with the offset) when the stream is damaged or cut. */
ErrCode dumpFileInspect(const char *path, DumpFileInfo *out);

/* ---- the store on disk ----------------------------------------------------- */

/* <data>/databases/<database>, with <data> the server.directories.data of
 * <neo4jHome>/conf/neo4j.conf (relative values are under the home), else
 * <neo4jHome>/data. */
ErrCode dumpDatabaseDirectory(const char *neo4jHome, const char *database, char *out, size_t size);

/* Whether a process holds Neo4j's lock on a store: <databaseDir>/database_lock
 * or the DBMS-wide <databaseDir>/../store_lock (Neo4j takes POSIX record
 * locks). When held, *pid is the holder (-1 when the kernel does not say) and
 * lockPath names the file. Missing files are not held. */
bool dumpStoreLockHeld(const char *databaseDir, long *pid, char *lockPath, size_t lockPathSize);

#endif
