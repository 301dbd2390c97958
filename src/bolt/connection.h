/* A Bolt connection to one Neo4j server: transport (TCP or TLS), chunking,
 * version negotiation, authentication, and streaming results.
 *
 * Results stream: boltRun sends RUN + PULL{n: fetchSize}; boltFetch returns one
 * record at a time and sends the next PULL only when the current batch is
 * used up, so memory is bounded by one batch whatever the result's size.
 * A record's values live in the connection's record arena and are valid only
 * until the next boltFetch (or any other call on the connection).
 *
 * Errors: every call returns ERR_OK or an ErrCode with errLast() filled in:
 *   NEO4J_UNREACHABLE   nothing answers, TLS failed, connection lost
 *   NEO4J_AUTH_FAILED   HELLO/LOGON refused (wrong password, rate limit, ...)
 *   NEO4J_PROTOCOL_ERROR bytes that break the protocol, unsupported version
 *   NEO4J_QUERY_FAILED  the server answered FAILURE (errLast()->serverCode)
 *   NEO4J_TIMEOUT       connect or read timeout
 * After NEO4J_QUERY_FAILED the connection has been RESET and is usable again;
 * after the others it is defunct and must be closed. */
#ifndef NBK_BOLT_CONNECTION_H
#define NBK_BOLT_CONNECTION_H

#include "bolt/value.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct BoltConnection BoltConnection;

typedef enum {
    BOLT_TLS_NONE,       /* bolt://, neo4j:// */
    BOLT_TLS_VERIFIED,   /* bolt+s://, neo4j+s://: system CAs or caFile */
    BOLT_TLS_ANY_CERT,   /* bolt+ssc://, neo4j+ssc://: encrypted, self-signed ok */
} BoltTlsMode;

typedef struct {
    char scheme[16];   /* "bolt", "bolt+s", ... */
    char host[256];
    uint16_t port;     /* 7687 when absent */
    BoltTlsMode tls;
    bool routing;      /* neo4j:// family: sends the routing context, direct otherwise */
} BoltUri;

/* Parses bolt://, bolt+s://, bolt+ssc://, neo4j://, neo4j+s://, neo4j+ssc://
 * with an optional port; IPv6 literals in brackets. CONFIG_INVALID on error. */
ErrCode boltUriParse(const char *text, BoltUri *out);
/* The URI without its user information ("bolt://user:pw@host" -> "bolt://host"),
 * safe to log and to store. */
void boltUriSafe(const char *uri, char *out, size_t size);
/* "host:port", IPv6 hosts in brackets ("[::1]:7687"). */
void boltAddressFormat(const char *host, uint16_t port, char *out, size_t size);
/* True for names and literals that can only mean this machine: localhost
 * (and *.localhost), 127.0.0.0/8, ::1, ::ffff:127.x. Other names are not
 * resolved: a name that happens to point at loopback counts as remote. */
bool boltHostIsLoopback(const char *host);
/* Issue 11: basic auth on this URI crosses a network in clear text (no TLS
 * and a host that is not loopback). */
bool boltUriSendsPasswordInClear(const BoltUri *uri);

typedef struct {
    const char *uri;             /* required */
    const char *user;            /* basic auth principal; NULL = no auth */
    const char *password;        /* never logged */
    const char *caFile;          /* PEM bundle for bolt+s; NULL = system CAs */
    const char *userAgent;       /* NULL = "neo4j-backup/<version>" */
    int connectTimeoutMs;        /* 0 = 10000 */
    int readTimeoutMs;           /* 0 = no timeout (server sends NOOPs while busy) */
    /* Highest version to offer, e.g. {5, 4}; {0, 0} = the newest supported.
     * Lets tests force an older protocol against a newer server. */
    uint8_t maxMajor, maxMinor;
    /* Routing context "host:port" sent in HELLO and ROUTE; NULL = the URI's
     * own address for neo4j://, none for bolt://. A routed connection to a
     * server of the table keeps the address the user gave. */
    const char *routingContext;
} BoltConnectOptions;

ErrCode boltConnect(const BoltConnectOptions *options, BoltConnection **out);
/* Same over an already open transport (bolt/transport.h; tests pass one end of
 * a socketpair). Takes ownership of transport, also on failure. options->uri
 * may be NULL: then the connection is direct. */
typedef struct BoltTransport BoltTransport;
ErrCode boltConnectTransport(const BoltConnectOptions *options, BoltTransport *transport,
                             BoltConnection **out);
/* Sends GOODBYE when possible, closes the socket and frees everything. */
void boltClose(BoltConnection *connection);

/* Password over plain TCP to a host that is not loopback: boltConnect logs
 * one warning per process (issue 11). */

/* Negotiated version, e.g. 5 and 8. */
uint8_t boltVersionMajor(const BoltConnection *connection);
uint8_t boltVersionMinor(const BoltConnection *connection);
/* Server agent from HELLO SUCCESS, e.g. "Neo4j/5.26.0". */
const char *boltServerAgent(const BoltConnection *connection);
/* "host:port" of the server, for messages and logs. */
const char *boltPeer(const BoltConnection *connection);

typedef enum { BOLT_ACCESS_WRITE, BOLT_ACCESS_READ } BoltAccessMode;

typedef struct {
    const char *database;        /* NULL = the user's home database */
    BoltAccessMode mode;
    const BoltValue *txMetadata; /* map or NULL */
    int64_t txTimeoutMs;         /* 0 = server default */
    int64_t fetchSize;           /* records per PULL; 0 = 1000, -1 = all */
} BoltQueryOptions;

/* Explicit transactions. Inside one, boltRun takes its database and mode from
 * the BEGIN (options there are ignored). */
ErrCode boltBegin(BoltConnection *connection, const BoltQueryOptions *options);
ErrCode boltCommit(BoltConnection *connection);
ErrCode boltRollback(BoltConnection *connection);

/* Starts a query (auto-commit outside a transaction). params is a map or NULL.
 * Only one result may be open at a time; a previous one is discarded first. */
ErrCode boltRun(BoltConnection *connection, const char *query, const BoltValue *params,
                const BoltQueryOptions *options);
/* Column names of the open result. */
uint32_t boltFieldCount(const BoltConnection *connection);
const char *boltFieldName(const BoltConnection *connection, uint32_t index);
/* Next record: *record points at a list value with boltFieldCount items, or is
 * NULL at the end of the result. Valid until the next call on the connection. */
ErrCode boltFetch(BoltConnection *connection, const BoltValue **record);
/* Drops the rest of the open result (DISCARD). */
ErrCode boltDiscard(BoltConnection *connection);
/* Metadata of the final SUCCESS of the last finished result (stats, bookmark...). */
const BoltValue *boltResultSummary(const BoltConnection *connection);

/* Runs a query and returns the first column of its first row, copied into
 * arena; out is null when the result is empty. Remaining rows are discarded. */
ErrCode boltQuerySingle(BoltConnection *connection, const char *query, const BoltValue *params,
                        const BoltQueryOptions *options, Arena *arena, BoltValue *out);

/* ROUTE (Bolt 4.3+, sent in its 4.4 form): asks the server for the routing
 * table of database (NULL = home database) and copies the `rt` map
 * ({ttl, db, servers: [{addresses, role}]}) into arena. bolt/routing.h
 * parses it. Outside transactions only. */
ErrCode boltRoute(BoltConnection *connection, const char *database, Arena *arena, BoltValue *out);

#endif
