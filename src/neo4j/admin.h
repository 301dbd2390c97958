/* neo4j-admin, the tool of a Neo4j installation, as a child process.
 *
 *   neo4jAdminResolve  find it (NEO4J_ADMIN, else NEO4J_HOME/bin/neo4j-admin,
 *                      else on PATH)
 *   neo4jAdminRun      run it through the one runner (common/process.h: own
 *                      process group, cleaned environment plus NEO4J_HOME,
 *                      timeout, cancel, output tail)
 *   neo4jAdminVersion  `neo4j-admin --version`
 *   neo4jVersionCompare dotted Neo4j versions, numerically
 *   neo4jAdminOfInstance the neo4j-admin of an instance, checked against the
 *                      version the running server reports
 *
 * Ownership: Neo4jAdmin and ProcRun are plain values of the caller's. */
#ifndef NBK_NEO4J_ADMIN_H
#define NBK_NEO4J_ADMIN_H

#include "common/config.h"
#include "common/error.h"
#include "common/process.h"
#include "neo4j/store.h"

#include <stdbool.h>
#include <stddef.h>

#define NEO4J_VERSION_SIZE 64

/* Where neo4j-admin is, and the installation it belongs to. */
typedef struct {
    char executable[NEO4J_PATH_SIZE];
    char neo4jHome[NEO4J_PATH_SIZE]; /* exported as NEO4J_HOME when not empty */
} Neo4jAdmin;

/* Finds neo4j-admin: configuredAdmin (NEO4J_ADMIN) when set, else
 * <neo4jHome>/bin/neo4j-admin, else "neo4j-admin" on PATH. Either may be
 * NULL. NEO4J_ADMIN_FAILED names what was looked for when nothing usable
 * (an executable regular file) is found. */
ErrCode neo4jAdminResolve(const char *configuredAdmin, const char *neo4jHome, Neo4jAdmin *out);

/* Runs neo4j-admin with args (NULL-terminated, after the executable) through
 * procRun, with NEO4J_HOME added to its cleaned environment, and waits for
 * it. io may be NULL (its extraEnv is replaced). ERR_OK only when it exits 0 and the sink
 * and source succeeded. A non-zero exit is NEO4J_ADMIN_FAILED with reason
 * "<command> exited with status N" and, as details, the last message line.
 * run is filled in every case. */
ErrCode neo4jAdminRun(const Neo4jAdmin *admin, const char *const *args, const ProcIo *io, ProcRun *run);

/* `neo4j-admin --version` into version (e.g. "5.26.30"). */
ErrCode neo4jAdminVersion(const Neo4jAdmin *admin, char *version, size_t size, ProcRun *run);

/* Compares dotted versions numerically ("5.26.10" > "5.26.9"; "2025.01.0" >
 * "5.26.30"); missing parts count as 0, text after the numbers is ignored.
 * Returns <0, 0 or >0. */
int neo4jVersionCompare(const char *left, const char *right);

/* What neo4jAdminOfInstance found. */
typedef struct {
    Neo4jAdmin admin;
    char adminVersion[NEO4J_VERSION_SIZE];
    bool running;                            /* the instance answered over Bolt */
    bool unreachable;                        /* it did not answer: taken as stopped */
    char serverVersion[NEO4J_VERSION_SIZE];  /* when running */
    ProcRun run;                             /* the --version run (for a failure's report) */
} Neo4jAdminCheck;

/* The neo4j-admin of instance (configuredAdmin, i.e. NEO4J_ADMIN, when not
 * NULL, else <NEO4J_HOME>/bin/neo4j-admin) and its version. An instance that
 * does not answer (NEO4J_UNREACHABLE) counts as stopped; one that answers
 * with another Neo4j version than that neo4j-admin is NEO4J_ADMIN_FAILED. */
ErrCode neo4jAdminOfInstance(const InstanceConfig *instance, const char *configuredAdmin, Neo4jAdminCheck *out);

#endif
