/* Builders of the Bolt request messages (HELLO, LOGON, RUN, PULL, BEGIN...),
 * each appending one PackStream structure; see message.h. */
#include "bolt/message.h"

#include "bolt/packstream.h"

#include <stdio.h>
#include <string.h>

const char *boltMessageName(uint8_t signature)
{
    switch (signature) {
    case BOLT_MSG_HELLO: return "HELLO";
    case BOLT_MSG_GOODBYE: return "GOODBYE";
    case BOLT_MSG_RESET: return "RESET";
    case BOLT_MSG_RUN: return "RUN";
    case BOLT_MSG_BEGIN: return "BEGIN";
    case BOLT_MSG_COMMIT: return "COMMIT";
    case BOLT_MSG_ROLLBACK: return "ROLLBACK";
    case BOLT_MSG_DISCARD: return "DISCARD";
    case BOLT_MSG_PULL: return "PULL";
    case BOLT_MSG_ROUTE: return "ROUTE";
    case BOLT_MSG_LOGON: return "LOGON";
    case BOLT_MSG_SUCCESS: return "SUCCESS";
    case BOLT_MSG_RECORD: return "RECORD";
    case BOLT_MSG_IGNORED: return "IGNORED";
    case BOLT_MSG_FAILURE: return "FAILURE";
    default: break;
    }
    static _Thread_local char unknown[8];
    snprintf(unknown, sizeof(unknown), "0x%02X", signature);
    return unknown;
}

static void messagePackKey(Buffer *out, const char *key) { packString(out, key, strlen(key)); }

static void messagePackStringEntry(Buffer *out, const char *key, const char *value)
{
    messagePackKey(out, key);
    packString(out, value, strlen(value));
}

static void messagePackAuth(Buffer *out, const char *user, const char *password)
{
    if (!user) {
        messagePackStringEntry(out, "scheme", "none");
        return;
    }
    messagePackStringEntry(out, "scheme", "basic");
    messagePackStringEntry(out, "principal", user);
    messagePackStringEntry(out, "credentials", password ? password : "");
}

static uint32_t messageAuthEntries(const char *user) { return user ? 3 : 1; }

void boltMessageHello(Buffer *out, const BoltHelloFields *fields)
{
    uint32_t entries = 1; /* user_agent */
    if (fields->boltAgentProduct)
        entries++;
    if (fields->routingAddress)
        entries++;
    if (fields->patchUtc)
        entries++;
    if (fields->includeAuth)
        entries += messageAuthEntries(fields->user);

    packStructHeader(out, BOLT_MSG_HELLO, 1);
    packMapHeader(out, entries);
    messagePackStringEntry(out, "user_agent", fields->userAgent);
    if (fields->boltAgentProduct) {
        /* Values must be strings: absent keys are left out, never null. */
        uint32_t agentEntries = 1 + (fields->boltAgentPlatform != NULL) +
                                (fields->boltAgentLanguage != NULL);
        messagePackKey(out, "bolt_agent");
        packMapHeader(out, agentEntries);
        messagePackStringEntry(out, "product", fields->boltAgentProduct);
        if (fields->boltAgentPlatform)
            messagePackStringEntry(out, "platform", fields->boltAgentPlatform);
        if (fields->boltAgentLanguage)
            messagePackStringEntry(out, "language", fields->boltAgentLanguage);
    }
    if (fields->routingAddress) {
        messagePackKey(out, "routing");
        packMapHeader(out, 1);
        messagePackStringEntry(out, "address", fields->routingAddress);
    }
    if (fields->patchUtc) {
        messagePackKey(out, "patch_bolt");
        packListHeader(out, 1);
        packString(out, "utc", 3);
    }
    if (fields->includeAuth)
        messagePackAuth(out, fields->user, fields->password);
}

void boltMessageLogon(Buffer *out, const char *user, const char *password)
{
    packStructHeader(out, BOLT_MSG_LOGON, 1);
    packMapHeader(out, messageAuthEntries(user));
    messagePackAuth(out, user, password);
}

static void messagePackTxExtra(Buffer *out, const BoltTxExtra *extra)
{
    if (!extra) {
        packMapHeader(out, 0);
        return;
    }
    bool hasDatabase = extra->database && extra->database[0];
    bool hasMetadata = extra->txMetadata && extra->txMetadata->type == BOLT_MAP &&
                       extra->txMetadata->as.map.count > 0;
    bool hasTimeout = extra->txTimeoutMs > 0;
    packMapHeader(out, (uint32_t)hasDatabase + extra->readMode + hasMetadata + hasTimeout);
    if (hasDatabase)
        messagePackStringEntry(out, "db", extra->database);
    if (extra->readMode)
        messagePackStringEntry(out, "mode", "r");
    if (hasMetadata) {
        messagePackKey(out, "tx_metadata");
        packValue(out, extra->txMetadata);
    }
    if (hasTimeout) {
        messagePackKey(out, "tx_timeout");
        packInt(out, extra->txTimeoutMs);
    }
}

void boltMessageRun(Buffer *out, const char *query, const BoltValue *params,
                    const BoltTxExtra *extra)
{
    packStructHeader(out, BOLT_MSG_RUN, 3);
    packString(out, query, strlen(query));
    if (params && params->type == BOLT_MAP)
        packValue(out, params);
    else
        packMapHeader(out, 0);
    messagePackTxExtra(out, extra);
}

void boltMessageBegin(Buffer *out, const BoltTxExtra *extra)
{
    packStructHeader(out, BOLT_MSG_BEGIN, 1);
    messagePackTxExtra(out, extra);
}

static void messagePackStreamRequest(Buffer *out, uint8_t signature, int64_t count, int64_t qid)
{
    packStructHeader(out, signature, 1);
    packMapHeader(out, qid >= 0 ? 2 : 1);
    messagePackKey(out, "n");
    packInt(out, count);
    if (qid >= 0) {
        messagePackKey(out, "qid");
        packInt(out, qid);
    }
}

void boltMessagePull(Buffer *out, int64_t count, int64_t qid)
{
    messagePackStreamRequest(out, BOLT_MSG_PULL, count, qid);
}

void boltMessageDiscard(Buffer *out, int64_t count, int64_t qid)
{
    messagePackStreamRequest(out, BOLT_MSG_DISCARD, count, qid);
}

void boltMessageRoute(Buffer *out, const char *routingAddress, const char *database)
{
    packStructHeader(out, BOLT_MSG_ROUTE, 3);
    packMapHeader(out, routingAddress ? 1 : 0);
    if (routingAddress)
        messagePackStringEntry(out, "address", routingAddress);
    packListHeader(out, 0); /* no bookmarks: a backup does not chain transactions */
    bool hasDatabase = database && database[0];
    packMapHeader(out, hasDatabase ? 1 : 0);
    if (hasDatabase)
        messagePackStringEntry(out, "db", database);
}

void boltMessageSimple(Buffer *out, uint8_t signature) { packStructHeader(out, signature, 0); }
