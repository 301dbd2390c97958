/* Bolt request messages (bolt-facts.md §5): each builder appends the
 * PackStream encoding of one whole message (a structure) to out, unframed;
 * the connection frames it with boltChunkWrite. Field choice per protocol
 * version is the caller's (the connection knows what it negotiated).
 *
 * Ownership: builders only read their arguments. */
#ifndef NBK_BOLT_MESSAGE_H
#define NBK_BOLT_MESSAGE_H

#include "bolt/value.h"
#include "common/buffer.h"

#include <stdbool.h>
#include <stdint.h>

enum {
    BOLT_MSG_HELLO = 0x01,
    BOLT_MSG_GOODBYE = 0x02,
    BOLT_MSG_RESET = 0x0F,
    BOLT_MSG_RUN = 0x10,
    BOLT_MSG_BEGIN = 0x11,
    BOLT_MSG_COMMIT = 0x12,
    BOLT_MSG_ROLLBACK = 0x13,
    BOLT_MSG_DISCARD = 0x2F,
    BOLT_MSG_PULL = 0x3F,
    BOLT_MSG_ROUTE = 0x66,
    BOLT_MSG_LOGON = 0x6A,
    BOLT_MSG_SUCCESS = 0x70,
    BOLT_MSG_RECORD = 0x71,
    BOLT_MSG_IGNORED = 0x7E,
    BOLT_MSG_FAILURE = 0x7F,
};

/* Name of a message signature for errors and logs ("SUCCESS", "0x42"...). */
const char *boltMessageName(uint8_t signature);

typedef struct {
    const char *userAgent;      /* required */
    const char *boltAgentProduct; /* NULL = no bolt_agent (before 5.3) */
    const char *boltAgentPlatform;
    const char *boltAgentLanguage;
    const char *routingAddress; /* "host:port" for neo4j://; NULL = direct */
    bool patchUtc;              /* patch_bolt: ["utc"] (4.4) */
    /* Auth inside HELLO (4.4 and 5.0). includeAuth false = LOGON carries it. */
    bool includeAuth;
    const char *user;           /* NULL = scheme "none" */
    const char *password;
} BoltHelloFields;

void boltMessageHello(Buffer *out, const BoltHelloFields *fields);
/* LOGON {scheme, principal, credentials} (5.1+); user NULL = scheme "none". */
void boltMessageLogon(Buffer *out, const char *user, const char *password);

/* Extra of RUN (auto-commit) and BEGIN. Absent members are left out. */
typedef struct {
    const char *database;        /* NULL or "" = home database */
    bool readMode;               /* mode "r" */
    const BoltValue *txMetadata; /* map or NULL */
    int64_t txTimeoutMs;         /* <= 0 = absent */
} BoltTxExtra;

void boltMessageRun(Buffer *out, const char *query, const BoltValue *params,
                    const BoltTxExtra *extra); /* extra NULL = {} (inside BEGIN) */
void boltMessageBegin(Buffer *out, const BoltTxExtra *extra);
/* PULL/DISCARD {n[, qid]}; qid < 0 = absent (the last statement). */
void boltMessagePull(Buffer *out, int64_t count, int64_t qid);
void boltMessageDiscard(Buffer *out, int64_t count, int64_t qid);
/* ROUTE {routing context}, [bookmarks], {db} (4.4+ form; every server in
 * scope speaks 4.4 or newer). routingAddress is the "host:port" the user
 * addressed; database NULL or "" = the user's home database. */
void boltMessageRoute(Buffer *out, const char *routingAddress, const char *database);
/* Messages without fields: GOODBYE, RESET, COMMIT, ROLLBACK. */
void boltMessageSimple(Buffer *out, uint8_t signature);

#endif
