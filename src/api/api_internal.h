/* Shared inside src/api only: the server's state, one request and one
 * response as the routes see them, and the response helpers. */
#ifndef NBK_API_API_INTERNAL_H
#define NBK_API_API_INTERNAL_H

#include "api/api.h"
#include "api/jobs.h"
#include "api/metrics.h"
#include "common/buffer.h"

#include <json-c/json.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct MHD_Daemon;
struct MHD_Connection;

struct ApiServer {
    Config *config;
    volatile sig_atomic_t *cancelFlag;
    ApiAddress address;
    char *token;      /* NULL: no authentication */
    char sessionCookie[65]; /* apiSessionCookieValue(token) */
    char *tlsCertPem;
    char *tlsKeyPem;
    char *allowedHosts;   /* BACKUP_API_ALLOWED_HOSTS or NULL */
    char listenHost[96];  /* BACKUP_API_LISTEN without its port */
    bool tls;
    uint16_t port;
    struct MHD_Daemon *daemon;
    ApiJobs *jobs;
    atomic_bool starting;  /* MHD_start_daemon is running */
    char startError[512];  /* libmicrohttpd's complaint while starting */
};

typedef struct {
    struct MHD_Connection *connection;
    const char *method;   /* "GET", "HEAD" (treated as GET), "POST", "DELETE"... */
    const char *path;     /* without the query string, trailing '/' removed */
    const char *body;     /* NUL-terminated copy of the body ("" when none) */
    size_t bodyLength;
    const char *client;   /* "127.0.0.1" (for the log) */
    const char *logPath;  /* path and method escaped for the log (apiLogEscape) */
    const char *logMethod;
    const char *host;     /* headers, NULL when absent */
    const char *origin;
    const char *contentType;
    const char *localHost; /* this connection's local address, NULL if unknown */
    uint16_t localPort;   /* the port it reached (the bound port) */
    bool pathHasNul;      /* the raw path held %00, which the decoded path hides */
} ApiRequest;

typedef struct {
    unsigned status;
    Buffer body;
    const char *contentType;
    char location[256];   /* Location header, empty for none */
    char setCookie[256];  /* Set-Cookie header, empty for none */
    const char *allow;    /* Allow header of a 405 */
    bool html;            /* adds the page's security headers */
    bool authChallenge;   /* adds WWW-Authenticate to a 401 */
} ApiResponse;

#define API_SESSION_COOKIE "nbk_session"

/* Routes the request (authentication included) and fills the response. */
void apiRoute(ApiServer *server, const ApiRequest *request, ApiResponse *response);

/* Response helpers (routes.c). */
void apiRespondJson(ApiResponse *response, unsigned status, json_object *body); /* takes body */
void apiRespondError(ApiResponse *response, unsigned status, const char *code, const char *message,
                     const char *action);
/* The last error (errLast) with the HTTP status that fits its code. */
void apiRespondFailure(ApiResponse *response, ErrCode code);
unsigned apiHttpStatusForError(ErrCode code);

/* The status page (status_page.c). */
void apiStatusPage(ApiServer *server, const ApiSnapshot *snapshot, ApiResponse *response);
void apiLoginPage(ApiServer *server, bool failed, ApiResponse *response);
/* Appends text with &, <, >, " and ' escaped. */
void apiHtmlEscape(Buffer *out, const char *text);
/* The status page's "Trends": backup sizes, the repository total and
 * durations over time as inline SVG charts (status_chart.c). */
void apiPageCharts(const ApiSnapshot *snapshot, Buffer *out);

#endif
