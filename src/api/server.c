/* libmicrohttpd glue: start and stop, the request body with its size limit,
 * and turning an ApiResponse into an HTTP response. Routing and
 * authentication are in routes.c. */
#include "api/api_internal.h"

#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bodies beyond the limit are read and dropped (so the client gets its 413)
 * up to this much, then the connection is closed. */
#define API_DISCARD_LIMIT (4u * API_MAX_BODY_BYTES)
#define API_CONNECTION_LIMIT 256
/* Defaults of BACKUP_API_CONNECTION_TIMEOUT and
 * BACKUP_API_MAX_CONNECTIONS_PER_CLIENT (config.c holds the same values). */
#define API_CONNECTION_TIMEOUT_SECONDS 10
#define API_CONNECTIONS_PER_CLIENT 16

typedef struct {
    Buffer body;
    size_t received;
    bool tooLarge;
    bool pathHasNul;
} ApiConnectionState;

/* What the URI callback hands the request callback when the raw path holds
 * %00: libmicrohttpd decodes it into a NUL that silently cuts the path. A
 * marker, not an allocation: a client that leaves before its headers end
 * never reaches apiOnCompleted. */
static char apiPathNulMarker;

static void *apiOnUri(void *payload, const char *uri, struct MHD_Connection *connection)
{
    (void)payload;
    (void)connection;
    size_t pathLength = strcspn(uri, "?");
    for (size_t index = 0; index + 2 < pathLength; index++)
        if (uri[index] == '%' && uri[index + 1] == '0' && uri[index + 2] == '0')
            return &apiPathNulMarker;
    return NULL;
}

/* libmicrohttpd's own messages (bind failures, TLS handshakes...); fmt is
 * libmicrohttpd's, and the attribute tells the compiler so. */
__attribute__((format(printf, 2, 0))) static void apiOnDaemonLog(void *payload, const char *fmt, va_list args)
{
    ApiServer *server = payload;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, args);
    line[strcspn(line, "\r\n")] = '\0';
    if (atomic_load(&server->starting))
        snprintf(server->startError, sizeof(server->startError), "%s", line);
    logDebug("HTTP: %s", line);
}

static void apiAddSecurityHeaders(struct MHD_Response *response, const ApiResponse *out)
{
    MHD_add_response_header(response, "Cache-Control", "no-store");
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
    if (out->html) {
        /* No script at all, styles inline, forms post to this server only. */
        MHD_add_response_header(response, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
        MHD_add_response_header(response, "X-Frame-Options", "DENY");
    }
}

static enum MHD_Result apiSend(struct MHD_Connection *connection, ApiResponse *out)
{
    size_t length = out->body.length;
    void *data = out->body.data;
    out->body.data = NULL; /* handed to libmicrohttpd, which frees it */
    out->body.length = 0;
    struct MHD_Response *response =
        data ? MHD_create_response_from_buffer(length, data, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!response) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(response, "Content-Type", out->contentType ? out->contentType : "application/json");
    if (out->location[0])
        MHD_add_response_header(response, "Location", out->location);
    if (out->setCookie[0])
        MHD_add_response_header(response, "Set-Cookie", out->setCookie);
    if (out->allow)
        MHD_add_response_header(response, "Allow", out->allow);
    if (out->authChallenge)
        MHD_add_response_header(response, "WWW-Authenticate", "Bearer realm=\"neo4j-backup\"");
    apiAddSecurityHeaders(response, out);
    enum MHD_Result result = MHD_queue_response(connection, out->status, response);
    MHD_destroy_response(response);
    return result;
}

static void apiResponseInit(ApiResponse *response)
{
    memset(response, 0, sizeof(*response));
    bufferInit(&response->body);
    response->status = 500;
}

static enum MHD_Result apiSendTooLarge(struct MHD_Connection *connection)
{
    ApiResponse response;
    apiResponseInit(&response);
    char message[128];
    snprintf(message, sizeof(message), "the request body is larger than %u bytes", API_MAX_BODY_BYTES);
    apiRespondError(&response, 413, "API_PAYLOAD_TOO_LARGE", message, "Send a smaller request body");
    enum MHD_Result result = apiSend(connection, &response);
    bufferFree(&response.body);
    return result;
}

static void apiClientText(struct MHD_Connection *connection, char *out, size_t size)
{
    snprintf(out, size, "?");
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *address = info->client_addr;
    if (address->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)address)->sin_addr, out, (socklen_t)size);
    else if (address->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)address)->sin6_addr, out, (socklen_t)size);
}

/* The local address of the connection ("10.0.0.5", "[::1]"): with a
 * wildcard BACKUP_API_LISTEN it is the address the client dialled. */
static bool apiLocalHostText(struct MHD_Connection *connection, char *out, size_t size, uint16_t *port)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info)
        return false;
    struct sockaddr_storage local;
    socklen_t length = sizeof(local);
    if (getsockname(info->connect_fd, (struct sockaddr *)&local, &length) != 0)
        return false;
    char numeric[INET6_ADDRSTRLEN];
    if (local.ss_family == AF_INET &&
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&local)->sin_addr, numeric, sizeof(numeric))) {
        snprintf(out, size, "%s", numeric);
        *port = ntohs(((const struct sockaddr_in *)&local)->sin_port);
        return true;
    }
    if (local.ss_family == AF_INET6 &&
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&local)->sin6_addr, numeric, sizeof(numeric))) {
        snprintf(out, size, "[%s]", numeric);
        *port = ntohs(((const struct sockaddr_in6 *)&local)->sin6_port);
        return true;
    }
    return false;
}

static enum MHD_Result apiOnRequest(void *payload, struct MHD_Connection *connection, const char *url,
                                    const char *method, const char *version, const char *uploadData,
                                    size_t *uploadSize, void **connectionState)
{
    (void)version;
    ApiServer *server = payload;
    ApiConnectionState *state = *connectionState;
    bool pathHasNul = *connectionState == &apiPathNulMarker;
    if (!state || pathHasNul) {
        /* Headers are in: refuse a declared oversized body before reading it. */
        *connectionState = NULL;
        state = memCalloc(1, sizeof(*state));
        bufferInit(&state->body);
        state->pathHasNul = pathHasNul;
        *connectionState = state;
        const char *declared = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (declared && strtoull(declared, NULL, 10) > API_MAX_BODY_BYTES)
            return apiSendTooLarge(connection);
        return MHD_YES;
    }
    if (*uploadSize > 0) {
        state->received += *uploadSize;
        if (!state->tooLarge && state->body.length + *uploadSize > API_MAX_BODY_BYTES) {
            state->tooLarge = true;
            bufferFree(&state->body);
        }
        if (!state->tooLarge)
            bufferAppend(&state->body, uploadData, *uploadSize);
        *uploadSize = 0;
        return state->received > API_DISCARD_LIMIT ? MHD_NO : MHD_YES;
    }
    if (state->tooLarge)
        return apiSendTooLarge(connection);

    bufferAppendByte(&state->body, 0);
    char path[1024];
    snprintf(path, sizeof(path), "%s", url);
    size_t pathLength = strlen(path);
    while (pathLength > 1 && path[pathLength - 1] == '/')
        path[--pathLength] = '\0';
    char client[64];
    apiClientText(connection, client, sizeof(client));
    char logPath[512];
    char logMethod[64];
    apiLogEscape(path, logPath, sizeof(logPath));
    apiLogEscape(method, logMethod, sizeof(logMethod));
    char localHost[INET6_ADDRSTRLEN + 2];
    uint16_t localPort = 0;
    bool haveLocal = apiLocalHostText(connection, localHost, sizeof(localHost), &localPort);
    ApiRequest request = {
        .connection = connection,
        .method = method,
        .path = path,
        .body = (const char *)state->body.data,
        .bodyLength = state->body.length - 1,
        .client = client,
        .logPath = logPath,
        .logMethod = logMethod,
        .host = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
        .origin = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Origin"),
        .contentType = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .localHost = haveLocal ? localHost : NULL,
        .localPort = localPort ? localPort : server->port,
        .pathHasNul = state->pathHasNul,
    };
    ApiResponse response;
    apiResponseInit(&response);
    apiRoute(server, &request, &response);
    logDebug("HTTP %s %s %s -> %u", client, logMethod, logPath, response.status);
    enum MHD_Result result = apiSend(connection, &response);
    bufferFree(&response.body);
    return result;
}

static void apiOnCompleted(void *payload, struct MHD_Connection *connection, void **connectionState,
                           enum MHD_RequestTerminationCode reason)
{
    (void)payload;
    (void)connection;
    (void)reason;
    ApiConnectionState *state = *connectionState;
    *connectionState = NULL;
    if (!state || state == (void *)&apiPathNulMarker)
        return;
    bufferFree(&state->body);
    free(state);
    *connectionState = NULL;
}

static char *apiCopySecret(const char *text)
{
    if (!text)
        return NULL;
    char *copy = memStrdup(text);
    return copy;
}

static void apiFreeSecret(char *secret)
{
    if (!secret)
        return;
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}

static void apiServerFree(ApiServer *server)
{
    apiFreeSecret(server->token);
    apiFreeSecret(server->tlsKeyPem);
    free(server->tlsCertPem);
    free(server->allowedHosts);
    OPENSSL_cleanse(server->sessionCookie, sizeof(server->sessionCookie));
    free(server);
}

ErrCode apiServerStart(const ApiServerOptions *options, ApiServer **out)
{
    *out = NULL;
    bool tls = options->tlsCertPem && options->tlsKeyPem;
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        errSet(CONFIG_INVALID, "this libmicrohttpd was built without TLS support");
        errSetAction("Unset BACKUP_API_TLS_CERT and BACKUP_API_TLS_KEY and put a TLS proxy in front");
        return CONFIG_INVALID;
    }
    ApiServer *server = memCalloc(1, sizeof(*server));
    server->config = options->config;
    server->cancelFlag = options->cancelFlag;
    server->address = options->address;
    server->token = apiCopySecret(options->token);
    server->allowedHosts = apiCopySecret(options->allowedHosts);
    const char *portColon = strrchr(server->address.text, ':');
    snprintf(server->listenHost, sizeof(server->listenHost), "%.*s",
             (int)(portColon ? portColon - server->address.text : 0), server->address.text);
    if (server->token)
        apiSessionCookieValue(server->token, server->sessionCookie);
    server->tls = tls;
    if (tls) {
        server->tlsCertPem = apiCopySecret(options->tlsCertPem);
        server->tlsKeyPem = apiCopySecret(options->tlsKeyPem);
    }
    server->jobs = apiJobsNew(options->config, options->cancelFlag, options->backends);

    unsigned int flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_ERROR_LOG;
    if (server->address.address.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tlsOptions[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, server->tlsCertPem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, server->tlsKeyPem},
        {MHD_OPTION_END, 0, NULL},
    };
    /* The daemon's threads inherit this mask (see api.h). */
    sigset_t blocked;
    sigset_t previous;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGHUP);
    sigaddset(&blocked, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &blocked, &previous);
    atomic_store(&server->starting, true);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        flags, server->address.port, NULL, NULL, apiOnRequest, server,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&server->address.address,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT,
        options->connectionTimeout ? options->connectionTimeout : (unsigned int)API_CONNECTION_TIMEOUT_SECONDS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        options->connectionsPerClient ? options->connectionsPerClient : (unsigned int)API_CONNECTIONS_PER_CLIENT,
        MHD_OPTION_URI_LOG_CALLBACK, apiOnUri, server,
        MHD_OPTION_NOTIFY_COMPLETED, apiOnCompleted, server,
        MHD_OPTION_EXTERNAL_LOGGER, apiOnDaemonLog, server,
        MHD_OPTION_ARRAY, tls ? tlsOptions : &tlsOptions[2],
        MHD_OPTION_END);
    atomic_store(&server->starting, false);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (!daemon) {
        errSet(CONFIG_INVALID, "cannot serve the HTTP API on %s%s%s", server->address.text,
               server->startError[0] ? ": " : "", server->startError);
        errSetAction("Choose a free address in BACKUP_API_LISTEN, or stop what listens there");
        apiJobsFree(server->jobs);
        apiServerFree(server);
        return CONFIG_INVALID;
    }
    server->daemon = daemon;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info && info->port ? info->port : server->address.port;
    *out = server;
    return ERR_OK;
}

uint16_t apiServerPort(const ApiServer *server)
{
    return server->port;
}

void apiServerStop(ApiServer *server)
{
    if (!server)
        return;
    MHD_stop_daemon(server->daemon);
    apiJobsFree(server->jobs);
    apiServerFree(server);
}
