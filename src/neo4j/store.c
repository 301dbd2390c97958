/* A Neo4j installation's store on disk (store.h): where neo4j.conf puts the
 * databases, and whether a server holds a store's lock. */
#include "neo4j/store.h"

#include "common/fsutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>


/* Value of server.directories.data in a neo4j.conf, if set (last one wins). */
static bool neo4jConfDataDirectory(const char *confPath, char *out, size_t size)
{
    FILE *file = fopen(confPath, "re");
    if (!file)
        return false;
    bool found = false;
    char line[NEO4J_PATH_SIZE + 64];
    while (fgets(line, sizeof(line), file)) {
        char *cursor = line;
        while (*cursor == ' ' || *cursor == '\t')
            cursor++;
        static const char key[] = "server.directories.data";
        if (strncmp(cursor, key, sizeof(key) - 1) != 0)
            continue;
        cursor += sizeof(key) - 1;
        while (*cursor == ' ' || *cursor == '\t')
            cursor++;
        if (*cursor != '=')
            continue;
        cursor++;
        while (*cursor == ' ' || *cursor == '\t')
            cursor++;
        size_t length = strcspn(cursor, "\r\n");
        while (length > 0 && (cursor[length - 1] == ' ' || cursor[length - 1] == '\t'))
            length--;
        if (length > 0 && length < size) {
            snprintf(out, size, "%.*s", (int)length, cursor);
            found = true;
        }
    }
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
    neo4jConfDataDirectory(confPath, dataDir, sizeof(dataDir));
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
