/* Routing for neo4j:// URIs (clusters, Aura): the routing table a server
 * returns to ROUTE, the choice of the server to read from or write to, and a
 * connect that walks the table until a server answers.
 *
 * Roles: a READ server is a secondary (read replica or follower), a WRITE
 * server is the primary, ROUTE servers answer ROUTE. Reads follow
 * BoltReadFrom; writes (restores, promotion) always go to a WRITE server.
 * bolt:// URIs are never routed: boltConnectRouted connects them directly.
 *
 * Ownership: a BoltRoutingTable is a plain value (fixed arrays, no pointers),
 * so callers may copy it and keep it as a cache between connects; the
 * connection handed out is the caller's (boltClose).
 *
 * Errors: as boltConnect (bolt/connection.h); NEO4J_PROTOCOL_ERROR for a
 * routing table that breaks its format; when no server of the table answers,
 * the last server's error with the list of servers tried in the context. */
#ifndef NBK_BOLT_ROUTING_H
#define NBK_BOLT_ROUTING_H

#include "bolt/connection.h"
#include "bolt/value.h"
#include "common/error.h"

#include <stdbool.h>
#include <stdint.h>

#define BOLT_ROUTING_MAX_SERVERS 16

typedef enum {
    BOLT_READ_FROM_SECONDARY, /* READ servers; a WRITE server only when there is none */
    BOLT_READ_FROM_PRIMARY,   /* WRITE servers only */
    BOLT_READ_FROM_ANY,       /* READ and WRITE servers, in the table's order */
} BoltReadFrom;

/* "secondary", "primary", "any" (case-insensitive); CONFIG_INVALID otherwise. */
ErrCode boltReadFromParse(const char *text, BoltReadFrom *out);
const char *boltReadFromName(BoltReadFrom readFrom);

typedef struct {
    char host[256]; /* IPv6 without brackets */
    uint16_t port;
} BoltAddress;

/* "host:port", "host" (port 7687), "[v6]:port". CONFIG_INVALID otherwise. */
ErrCode boltAddressParse(const char *text, BoltAddress *out);

typedef struct {
    int64_t ttlSeconds;
    double expiresAt;     /* timeMonotonic() seconds; 0 = no table yet */
    char database[128];   /* "" when the server did not say */
    BoltAddress routers[BOLT_ROUTING_MAX_SERVERS];
    unsigned routerCount;
    BoltAddress readers[BOLT_ROUTING_MAX_SERVERS];
    unsigned readerCount;
    BoltAddress writers[BOLT_ROUTING_MAX_SERVERS];
    unsigned writerCount;
    /* Every READ and WRITE address in the order the table lists them. */
    BoltAddress anyOrder[2 * BOLT_ROUTING_MAX_SERVERS];
    unsigned anyCount;
} BoltRoutingTable;

/* Parses the `rt` map of ROUTE's SUCCESS. Unknown roles are skipped, extra
 * addresses beyond BOLT_ROUTING_MAX_SERVERS per role ignored; a missing or
 * ill-typed ttl or servers list is NEO4J_PROTOCOL_ERROR. expiresAt is set
 * from now (timeMonotonic()) + ttl. */
ErrCode boltRoutingTableParse(const BoltValue *rt, double now, BoltRoutingTable *out);
bool boltRoutingTableExpired(const BoltRoutingTable *table, double now);

typedef struct {
    BoltAddress address;
    const char *why; /* for the log line: "a secondary (READ) server, as ..." */
} BoltRouteCandidate;

/* The servers to try, in order, for mode and readFrom, without duplicates.
 * Returns how many were written (at most capacity). *fellBack is set when
 * readFrom=secondary found no READ server and the WRITE servers are used. */
unsigned boltRoutingCandidates(const BoltRoutingTable *table, BoltAccessMode mode, BoltReadFrom readFrom,
                               BoltRouteCandidate *out, unsigned capacity, bool *fellBack);

typedef struct {
    BoltConnectOptions connect; /* uri: the seed neo4j:// (or bolt://) URI */
    const char *database;       /* routing table of this database; NULL = home */
    BoltAccessMode mode;        /* READ for backups, WRITE for restores */
    BoltReadFrom readFrom;      /* READ mode only */
} BoltRoutedOptions;

/* Connects for options->mode. bolt:// URIs: boltConnect. neo4j:// URIs: uses
 * *table when it is still valid, else fetches a new one (from the table's
 * routers, then the seed address, first that answers), then tries the
 * candidates in order, logging which server was chosen and why. table may
 * be NULL (no cache); on return it holds the table used. TLS mode and CA
 * file of the seed URI apply to every routed address (SNI = routed host). */
ErrCode boltConnectRouted(const BoltRoutedOptions *options, BoltRoutingTable *table, BoltConnection **out);

#endif
