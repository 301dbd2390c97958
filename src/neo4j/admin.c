/* neo4j-admin (admin.h): finding it, running it through the one child-process
 * runner (common/process.h), its version, and comparing versions. */
#include "neo4j/admin.h"

#include "common/fsutil.h"
#include "common/log.h"
#include "common/mem.h"
#include "neo4j/instance.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool neo4jIsExecutableFile(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISREG(info.st_mode) && access(path, X_OK) == 0;
}

ErrCode neo4jAdminResolve(const char *configuredAdmin, const char *neo4jHome, Neo4jAdmin *out)
{
    memset(out, 0, sizeof(*out));
    if (neo4jHome && neo4jHome[0])
        snprintf(out->neo4jHome, sizeof(out->neo4jHome), "%s", neo4jHome);
    if (configuredAdmin && configuredAdmin[0]) {
        if (!neo4jIsExecutableFile(configuredAdmin)) {
            errSet(NEO4J_ADMIN_FAILED, "NEO4J_ADMIN=%s is not an executable file", configuredAdmin);
            errSetAction("Set NEO4J_ADMIN to the neo4j-admin of the Neo4j installation, or unset it and set "
                         "NEO4J_HOME");
            return NEO4J_ADMIN_FAILED;
        }
        snprintf(out->executable, sizeof(out->executable), "%s", configuredAdmin);
        return ERR_OK;
    }
    if (neo4jHome && neo4jHome[0]) {
        char candidate[NEO4J_PATH_SIZE];
        if (fsPathJoin(candidate, sizeof(candidate), neo4jHome, "bin/neo4j-admin") != ERR_OK)
            return errLast()->code;
        if (!fsIsDirectory(neo4jHome) && !neo4jIsExecutableFile(candidate)) {
            errSet(NEO4J_ADMIN_FAILED, "NEO4J_HOME=%s is not a directory", neo4jHome);
            errSetAction("Set NEO4J_HOME to the Neo4j installation (the folder holding bin/neo4j-admin and conf/)");
            return NEO4J_ADMIN_FAILED;
        }
        if (!neo4jIsExecutableFile(candidate)) {
            errSet(NEO4J_ADMIN_FAILED, "NEO4J_HOME=%s has no executable bin/neo4j-admin", neo4jHome);
            errSetAction("Set NEO4J_HOME to the Neo4j installation (the folder holding bin/neo4j-admin and conf/), "
                         "or NEO4J_ADMIN to the neo4j-admin executable");
            return NEO4J_ADMIN_FAILED;
        }
        snprintf(out->executable, sizeof(out->executable), "%s", candidate);
        return ERR_OK;
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t length = strcspn(path, ":");
        char candidate[NEO4J_PATH_SIZE];
        if (length > 0 && length < sizeof(candidate) - 16) {
            snprintf(candidate, sizeof(candidate), "%.*s/neo4j-admin", (int)length, path);
            if (neo4jIsExecutableFile(candidate)) {
                snprintf(out->executable, sizeof(out->executable), "%s", candidate);
                return ERR_OK;
            }
        }
        path += length + (path[length] == ':');
    }
    errSet(NEO4J_ADMIN_FAILED, "neo4j-admin was not found: NEO4J_HOME and NEO4J_ADMIN are not set and no "
                               "neo4j-admin is on PATH");
    errSetAction("Set NEO4J_HOME to the Neo4j installation, or NEO4J_ADMIN to its neo4j-admin executable");
    return NEO4J_ADMIN_FAILED;
}

ErrCode neo4jAdminRun(const Neo4jAdmin *admin, const char *const *args, const ProcIo *io, ProcRun *run)
{
    size_t argCount = 0;
    while (args && args[argCount])
        argCount++;
    const char **argv = memCalloc(argCount + 2, sizeof(char *));
    argv[0] = admin->executable;
    for (size_t index = 0; index < argCount; index++)
        argv[index + 1] = args[index];
    /* neo4j-admin finds its configuration and jars through NEO4J_HOME. */
    char homeEntry[NEO4J_PATH_SIZE + 16];
    snprintf(homeEntry, sizeof(homeEntry), "NEO4J_HOME=%s", admin->neo4jHome);
    const char *const extraEnv[] = {admin->neo4jHome[0] ? homeEntry : NULL, NULL};
    ProcIo withEnv = io ? *io : (ProcIo){0};
    withEnv.extraEnv = extraEnv;
    ErrCode code = procRun(argv, &withEnv, run);
    logDebug("Ran %s", run->command);
    free(argv);
    if (code != ERR_OK)
        return code;
    if (run->exitStatus != 0)
        return procExitFailure(run);
    return ERR_OK;
}

ErrCode neo4jAdminVersion(const Neo4jAdmin *admin, char *version, size_t size, ProcRun *run)
{
    static const char *const args[] = {"--version", NULL};
    version[0] = '\0';
    ProcIo io = {.timeoutSeconds = 300};
    ErrCode code = neo4jAdminRun(admin, args, &io, run);
    if (code != ERR_OK)
        return code;
    /* The version is the last line that starts with a digit (a JVM may warn first). */
    for (unsigned index = 0; index < run->tailCount; index++) {
        const char *line = run->tail[index];
        while (*line == ' ')
            line++;
        if (isdigit((unsigned char)line[0])) {
            snprintf(version, size, "%s", line);
            version[strcspn(version, " \t")] = '\0';
        }
    }
    if (!version[0]) {
        errSet(NEO4J_ADMIN_FAILED, "%s printed no version", run->command);
        errSetDetails("Output: %s", procRunLastLine(run));
        return NEO4J_ADMIN_FAILED;
    }
    return ERR_OK;
}

/* One numeric part of a version; moves past it and its dot. Text that is
 * not a number ends the version. */
static long neo4jVersionPart(const char **cursor)
{
    long value = 0;
    while (isdigit((unsigned char)**cursor)) {
        if (value < 1000000000L)
            value = value * 10 + (**cursor - '0');
        (*cursor)++;
    }
    if (**cursor == '.' && isdigit((unsigned char)(*cursor)[1]))
        (*cursor)++;
    else
        *cursor = "";
    return value;
}

int neo4jVersionCompare(const char *left, const char *right)
{
    const char *leftCursor = left ? left : "";
    const char *rightCursor = right ? right : "";
    while (*leftCursor || *rightCursor) {
        long leftPart = neo4jVersionPart(&leftCursor);
        long rightPart = neo4jVersionPart(&rightCursor);
        if (leftPart != rightPart)
            return leftPart < rightPart ? -1 : 1;
    }
    return 0;
}

ErrCode neo4jAdminOfInstance(const InstanceConfig *instance, const char *configuredAdmin, Neo4jAdminCheck *out)
{
    memset(out, 0, sizeof(*out));
    out->run.exitStatus = -1;
    ErrCode code = neo4jAdminResolve(configuredAdmin, instance->neo4jHome, &out->admin);
    if (code != ERR_OK) {
        errAddContext("instance %s", instance->name);
        return code;
    }
    BoltConnection *probe = NULL;
    char edition[NEO4J_VERSION_SIZE];
    code = neo4jConnect(instance, &probe);
    out->running = code == ERR_OK;
    if (out->running)
        code = neo4jServerVersion(probe, out->serverVersion, sizeof(out->serverVersion), edition, sizeof(edition));
    boltClose(probe);
    if (code == NEO4J_UNREACHABLE) {
        errClear(); /* taken as stopped */
        out->unreachable = true;
        code = ERR_OK;
    }
    if (code == ERR_OK)
        code = neo4jAdminVersion(&out->admin, out->adminVersion, sizeof(out->adminVersion), &out->run);
    if (code != ERR_OK)
        return code;
    if (out->running && neo4jVersionCompare(out->adminVersion, out->serverVersion) != 0) {
        errSet(NEO4J_ADMIN_FAILED, "%s is Neo4j %s but %s runs Neo4j %s", out->admin.executable, out->adminVersion,
               instance->name, out->serverVersion);
        errSetAction("Point NEO4J_HOME of %s at the installation of that server", instance->name);
        return NEO4J_ADMIN_FAILED;
    }
    return ERR_OK;
}
