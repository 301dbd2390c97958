/* A named Neo4j instance over Bolt: connecting to it and reading which Neo4j
 * it runs.
 *
 *   neo4jConnect       for writing: a neo4j:// URI is routed to a primary
 *                      (WRITE) server (restores and promotion write)
 *   neo4jConnectRead   for reading a backup's source: a neo4j:// URI is
 *                      routed by readFrom (NEO4J_READ_FROM, bolt/routing.h)
 *   neo4jServerVersion THE server-version query, one rule set for every
 *                      caller (see below)
 *
 * Connects keep one routing table per process (keyed by URI and database,
 * behind a mutex): a scheduler or the API reuses it until its ttl runs out
 * instead of asking every run. Errors carry the instance's name and safe URI
 * as context.
 *
 * Ownership: the connection handed out is the caller's (boltClose). */
#ifndef NBK_NEO4J_INSTANCE_H
#define NBK_NEO4J_INSTANCE_H

#include "bolt/connection.h"
#include "bolt/routing.h"
#include "common/config.h"
#include "common/error.h"

#include <stddef.h>

ErrCode neo4jConnect(const InstanceConfig *instance, BoltConnection **out);
ErrCode neo4jConnectRead(const InstanceConfig *instance, BoltReadFrom readFrom, BoltConnection **out);

/* The server's Neo4j version and edition. Rules: `CALL dbms.components()`
 * on the system database in READ mode (any server of a cluster answers);
 * only the "Neo4j Kernel" row counts (2025+ servers add a "Cypher" row whose
 * versions are ["5", "25"]); when the server refuses the query
 * (NEO4J_QUERY_FAILED, e.g. a user without access to system) the version is
 * taken from the server agent ("Neo4j/5.26.0") and the edition stays "".
 * Not inside an open transaction: it runs its own auto-commit query.
 * Other errors (connection lost) are returned. */
ErrCode neo4jServerVersion(BoltConnection *connection, char *version, size_t versionSize, char *edition,
                           size_t editionSize);


#endif
