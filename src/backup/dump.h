/* The dump method's engine: neo4j-admin as a child process, and the dump
 * files it writes.
 *
 *   dumpAdmin*     find neo4j-admin (NEO4J_ADMIN, else NEO4J_HOME/bin/neo4j-admin,
 *                  else on PATH), ask its version, run it with its standard
 *                  output streamed into a sink and its standard input fed from
 *                  a source, keeping the tail of its messages for the report
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
 * Children run through the one runner, common/process.h (own process group,
 * cleaned environment, timeout, cancel, output tail).
 *
 * Ownership: DumpAdmin and DumpRun are plain values; a DumpWriter is the
 * caller's until dumpWriterFree. */
#ifndef NBK_BACKUP_DUMP_H
#define NBK_BACKUP_DUMP_H

#include "common/error.h"
#include "common/process.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DUMP_PATH_SIZE 4096
#define DUMP_TAIL_LINES PROC_TAIL_LINES

/* Where neo4j-admin is, and the installation it belongs to. */
typedef struct {
    char executable[DUMP_PATH_SIZE];
    char neo4jHome[DUMP_PATH_SIZE]; /* exported as NEO4J_HOME when not empty */
} DumpAdmin;

/* A run of neo4j-admin and its io: the runner's (common/process.h). */
typedef ProcRun DumpRun;
typedef ProcIo DumpIo;
typedef ProcSink DumpSink;
typedef ProcSource DumpSource;

/* Finds neo4j-admin: configuredAdmin (NEO4J_ADMIN) when set, else
 * <neo4jHome>/bin/neo4j-admin, else "neo4j-admin" on PATH. Either may be
 * NULL. NEO4J_ADMIN_FAILED names what was looked for when nothing usable
 * (an executable regular file) is found. */
ErrCode dumpAdminResolve(const char *configuredAdmin, const char *neo4jHome, DumpAdmin *out);

/* Runs neo4j-admin with args (NULL-terminated, after the executable) through
 * procRun, with NEO4J_HOME added to its cleaned environment, and waits for
 * it. io may be NULL (its extraEnv is replaced). ERR_OK only when it exits 0 and the sink
 * and source succeeded. A non-zero exit is NEO4J_ADMIN_FAILED with reason
 * "<command> exited with status N" and, as details, the last message line.
 * run is filled in every case. */
ErrCode dumpAdminRun(const DumpAdmin *admin, const char *const *args, const DumpIo *io, DumpRun *run);

/* `neo4j-admin --version` into version (e.g. "5.26.30"). */
ErrCode dumpAdminVersion(const DumpAdmin *admin, char *version, size_t size, DumpRun *run);

/* The last message line of a run, or "" (procRunLastLine). */
static inline const char *dumpRunLastLine(const DumpRun *run) { return procRunLastLine(run); }

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
