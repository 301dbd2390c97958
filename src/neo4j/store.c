/* A Neo4j installation's store on disk (store.h): where neo4j.conf puts the
 * databases, and whether a server holds a store's lock. */
#include "neo4j/store.h"

#include "common/fsutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>


/* One line of neo4j.conf (line[0..length), no newline in it): copies its
 * server.directories.data value into out when it sets one that fits. */
static bool neo4jConfLineDataDirectory(const char *line, size_t length, char *out, size_t size)
{
    static const char key[] = "server.directories.data";
    const char *cursor = line;
    const char *end = line + length;
    while (cursor < end && (*cursor == ' ' || *cursor == '\t'))
        cursor++;
    if ((size_t)(end - cursor) < sizeof(key) - 1 || memcmp(cursor, key, sizeof(key) - 1) != 0)
        return false;
    cursor += sizeof(key) - 1;
    while (cursor < end && (*cursor == ' ' || *cursor == '\t'))
        cursor++;
    if (cursor == end || *cursor != '=')
        return false;
    cursor++;
    while (cursor < end && (*cursor == ' ' || *cursor == '\t'))
        cursor++;
    const char *carriageReturn = memchr(cursor, '\r', (size_t)(end - cursor));
    size_t valueLength = (size_t)((carriageReturn ? carriageReturn : end) - cursor);
    while (valueLength > 0 && (cursor[valueLength - 1] == ' ' || cursor[valueLength - 1] == '\t'))
        valueLength--;
    if (valueLength == 0 || valueLength >= size)
        return false;
    memcpy(out, cursor, valueLength);
    out[valueLength] = '\0';
    return true;
}

bool neo4jConfDataDirectory(const char *text, size_t length, char *out, size_t size)
{
    if (!text)
        return false;
    bool found = false;
    const char *end = text + length;
    for (const char *line = text; line < end;) {
        const char *newline = memchr(line, '\n', (size_t)(end - line));
        const char *lineEnd = newline ? newline : end;
        /* A NUL byte ends what is read of its line, as it ends a C string. */
        const char *nul = memchr(line, '\0', (size_t)(lineEnd - line));
        if (neo4jConfLineDataDirectory(line, (size_t)((nul ? nul : lineEnd) - line), out, size))
            found = true;
        line = lineEnd + (newline ? 1 : 0);
    }
    return found;
}

/* neo4jConfDataDirectory of the file confPath; false when it cannot be read.
 * Whole lines, however long: a line cut at a buffer's length would start a
 * new line in the middle of a long comment or value. */
static bool neo4jConfFileDataDirectory(const char *confPath, char *out, size_t size)
{
    FILE *file = fopen(confPath, "re");
    if (!file)
        return false;
    bool found = false;
    char *line = NULL;
    size_t capacity = 0;
    ssize_t length;
    while ((length = getline(&line, &capacity, file)) > 0) {
        if (neo4jConfDataDirectory(line, (size_t)length, out, size))
            found = true;
    }
    free(line);
    fclose(file);
    return found;
}

ErrCode neo4jDatabaseDirectory(const char *neo4jHome, const char *database, char *out, size_t size)
{
    char confPath[NEO4J_PATH_SIZE];
    char dataDir[NEO4J_PATH_SIZE] = "data";
    ErrCode code = fsPathJoin(confPath, sizeof(confPath), neo4jHome, "conf/neo4j.conf");
    if (code != ERR_OK)
        return code;
    neo4jConfFileDataDirectory(confPath, dataDir, sizeof(dataDir));
    char dataPath[NEO4J_PATH_SIZE];
    if (dataDir[0] == '/')
        snprintf(dataPath, sizeof(dataPath), "%s", dataDir);
    else if ((code = fsPathJoin(dataPath, sizeof(dataPath), neo4jHome, dataDir)) != ERR_OK)
        return code;
    char databases[NEO4J_PATH_SIZE];
    code = fsPathJoin(databases, sizeof(databases), dataPath, "databases");
    if (code == ERR_OK)
        code = fsPathJoin(out, size, databases, database);
    return code;
}

/* The holder of a POSIX lock on path: true and *pid when some other process has one. */
static bool neo4jFileLockHolder(const char *path, long *pid)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    bool held = fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
    if (held)
        *pid = probe.l_pid > 0 ? (long)probe.l_pid : -1;
    close(fd); /* we held no lock on it, so closing releases nothing of anyone's */
    return held;
}

bool neo4jStoreLockHeld(const char *databaseDir, long *pid, char *lockPath, size_t lockPathSize)
{
    char candidates[2][NEO4J_PATH_SIZE];
    if (fsPathJoin(candidates[0], sizeof(candidates[0]), databaseDir, "database_lock") != ERR_OK ||
        fsPathJoin(candidates[1], sizeof(candidates[1]), databaseDir, "../store_lock") != ERR_OK)
        return false;
    for (size_t index = 0; index < 2; index++) {
        if (neo4jFileLockHolder(candidates[index], pid)) {
            snprintf(lockPath, lockPathSize, "%s", candidates[index]);
            return true;
        }
    }
    *pid = 0;
    if (lockPathSize)
        lockPath[0] = '\0';
    return false;
}
