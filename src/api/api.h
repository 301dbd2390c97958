/* The optional HTTP API of `neo4j-backup --serve` (docs/api.md): a JSON API
 * under /api/v1, GET /metrics (Prometheus text), GET /healthz and a status
 * page at /, served by libmicrohttpd with one thread per connection.
 *
 * Long operations (create, validate, restore) run as jobs in their own
 * threads (src/api/jobs.c) through the same command functions as the command
 * line, so the API can never do what the CLI would refuse. Requests only read
 * the catalog and the state files, or start jobs.
 *
 * Threads: the server's and the jobs' threads block SIGINT, SIGTERM, SIGHUP
 * and SIGUSR1, so those signals reach the thread that waits for them (the
 * scheduler's loop or cmdServe's wait). A stop request (cancelFlag) makes
 * running jobs stop cleanly; apiServerStop waits for them.
 *
 * Security: every route except /healthz needs the bearer token (header
 * "Authorization: Bearer <token>", compared in constant time) unless the
 * server runs without one (allowed by cmdServe only on loopback with
 * --no-auth). The status page also accepts a cookie derived from the token
 * (set by its login form); the cookie never authorizes the JSON API, so a
 * browser cannot be made to change anything across sites. Neither the token
 * nor the cookie is ever logged or echoed. Before any of that, with or
 * without a token, routes.c refuses what a web page in a local browser could
 * send (guard.c): a Host that does not name this server (DNS rebinding), a
 * foreign Origin on a state-changing request, a body that is not
 * application/json (a form for /login), and a %00 in the path. */
#ifndef NBK_API_API_H
#define NBK_API_API_H

#include "common/config.h"
#include "common/error.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Largest request body accepted (413 beyond). */
#define API_MAX_BODY_BYTES (64u * 1024u)
/* Shortest token accepted by cmdServe. */
#define API_TOKEN_MIN_LENGTH 16

/* ---- listen address ---- */

typedef struct {
    struct sockaddr_storage address;
    socklen_t length;
    uint16_t port;
    bool loopback; /* 127.0.0.0/8, ::1 or ::ffff:127.x */
    char text[96]; /* "127.0.0.1:9090", "[::1]:9090" */
} ApiAddress;

/* Parses "host:port" or "[ipv6]:port" (a host name is resolved, IPv4
 * preferred). CONFIG_INVALID naming BACKUP_API_LISTEN on bad input. */
ErrCode apiAddressParse(const char *text, ApiAddress *out);

/* ---- authentication helpers (pure, unit-tested) ---- */

/* True when presented (presentedLength bytes) equals token. Compares the
 * SHA-256 digests with CRYPTO_memcmp: the time taken does not depend on
 * where the texts differ, nor reveal the token's length. */
bool apiTokenEqual(const char *presented, size_t presentedLength, const char *token);
/* The credentials of an "Authorization: Bearer <token>" header value (the
 * scheme is case-insensitive), NULL for anything else. Borrowed from header. */
const char *apiBearerCredentials(const char *header);
/* The status page's cookie value for a token: hex HMAC-SHA256(token, a fixed
 * label), so the cookie is not the token and cannot be turned back into it. */
void apiSessionCookieValue(const char *token, char out[65]);
/* Value of field `name` in an application/x-www-form-urlencoded body,
 * percent- and '+'-decoded into out (NUL-terminated). False when absent,
 * malformed or longer than outSize - 1. */
bool apiFormField(const char *body, size_t length, const char *name, char *out, size_t outSize);

/* ---- request guards (pure, unit-tested; guard.c) ---- */

/* The names a request may address the server by. */
typedef struct {
    uint16_t port;            /* the bound port */
    const char *listenHost;   /* BACKUP_API_LISTEN without the port: "127.0.0.1", "[::1]" */
    bool loopback;            /* also localhost, 127.0.0.1 and [::1] */
    const char *allowedHosts; /* BACKUP_API_ALLOWED_HOSTS: "name[:port],..." or NULL */
    const char *localHost;    /* this connection's local address ("10.0.0.5", "[fe80::1]") or NULL */
} ApiHostRules;

/* True when a Host header value names this server: one of the names of
 * rules, without a port or with the bound port (or the entry's own port).
 * False for NULL and anything malformed. */
bool apiHostAllowed(const ApiHostRules *rules, const char *host);
/* True when an Origin header may change state: absent (not a browser), or
 * http(s)://<a host apiHostAllowed takes>. "null" is foreign. */
bool apiOriginAllowed(const ApiHostRules *rules, const char *origin);
/* True when a Content-Type header's media type (parameters ignored, case
 * insensitive) is mediaType. */
bool apiMediaTypeIs(const char *contentType, const char *mediaType);
/* Checks a BACKUP_API_ALLOWED_HOSTS value; on false, bad holds the entry. */
bool apiAllowedHostsValid(const char *list, char *bad, size_t badSize);
/* Copies text for a log line with control characters written as \xNN and
 * '\' as "\\", so a request cannot forge lines; cut to fit size.
 * Returns the length written. */
size_t apiLogEscape(const char *text, char *out, size_t size);

/* ---- the server ---- */

typedef struct ApiServer ApiServer;

typedef struct {
    Config *config;                    /* borrowed, read-only; outlives the server */
    volatile sig_atomic_t *cancelFlag; /* set by SIGINT/SIGTERM */
    ApiAddress address;
    const char *token;                 /* NULL: no authentication; copied */
    const char *tlsCertPem;            /* both set: HTTPS; copied */
    const char *tlsKeyPem;
    const char *allowedHosts;          /* BACKUP_API_ALLOWED_HOSTS or NULL; copied */
    unsigned connectionTimeout;        /* seconds of silence before a client is dropped; 0: default */
    unsigned connectionsPerClient;     /* open connections per client address; 0: default */
    const struct ApiJobBackends *backends; /* borrowed; what create/validate jobs need (api/jobs.h) */
} ApiServerOptions;

/* Starts listening. CONFIG_INVALID when the address cannot be bound (the
 * reason names it) or TLS is asked for and unavailable. *out is owned by the
 * caller: apiServerStop. */
ErrCode apiServerStart(const ApiServerOptions *options, ApiServer **out);
/* The port actually bound (useful with port 0). */
uint16_t apiServerPort(const ApiServer *server);
/* Stops accepting, finishes the requests in flight, waits for running jobs
 * (which stop early when cancelFlag is set), wipes the secrets and frees. */
void apiServerStop(ApiServer *server);

#endif
