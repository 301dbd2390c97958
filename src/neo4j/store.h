/* A Neo4j installation's store on disk: the database directory that
 * neo4j.conf names, and the store lock a running server holds.
 *
 * Ownership: nothing is kept beyond a call. */
#ifndef NBK_NEO4J_STORE_H
#define NBK_NEO4J_STORE_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>

#define NEO4J_PATH_SIZE 4096 /* paths inside an installation */

/* <data>/databases/<database>, with <data> the server.directories.data of
 * <neo4jHome>/conf/neo4j.conf (relative values are under the home), else
 * <neo4jHome>/data. */
ErrCode neo4jDatabaseDirectory(const char *neo4jHome, const char *database, char *out, size_t size);

/* The server.directories.data that neo4j.conf text sets: text[0..length) is
 * untrusted bytes (no NUL needed at the end). Lines end at '\n'; a NUL byte
 * ends what is read of its line, a '\r' its value. The last line whose
 * value, trimmed of spaces and tabs, is not empty and fits in size (with its
 * NUL) wins and is copied into out; false (out untouched) when none does.
 * neo4jDatabaseDirectory reads neo4j.conf with it. */
bool neo4jConfDataDirectory(const char *text, size_t length, char *out, size_t size);

/* Whether a process holds Neo4j's lock on a store: <databaseDir>/database_lock
 * or the DBMS-wide <databaseDir>/../store_lock (Neo4j takes POSIX record
 * locks). When held, *pid is the holder (-1 when the kernel does not say) and
 * lockPath names the file. Missing files are not held. */
bool neo4jStoreLockHeld(const char *databaseDir, long *pid, char *lockPath, size_t lockPathSize);

#endif
