/* The byte transport under a Bolt connection: TCP and TLS (OpenSSL) over a
 * non-blocking socket, every wait a poll() with the configured timeout. */
#include "bolt/transport.h"

#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TRANSPORT_DEFAULT_CONNECT_TIMEOUT_MS 10000

struct BoltTransport {
    int fd;
    SSL_CTX *sslContext;
    SSL *ssl;
    int timeoutMs;
    char peer[300];
};

/* ---- time helpers ---------------------------------------------------- */

/* Milliseconds left until deadline (-1 = no deadline), never below 0. */
static int transportRemainingMs(int64_t deadlineMs)
{
    if (deadlineMs < 0)
        return -1;
    int64_t left = deadlineMs - timeMonotonicMs();
    return left < 0 ? 0 : (int)left;
}

/* Waits for events on fd. ERR_OK when ready, NEO4J_TIMEOUT when the deadline passed. */
static ErrCode transportWait(const BoltTransport *transport, short events, int64_t deadlineMs,
                             const char *what)
{
    for (;;) {
        struct pollfd waitFor = {.fd = transport->fd, .events = events};
        int ready = poll(&waitFor, 1, transportRemainingMs(deadlineMs));
        if (ready > 0)
            return ERR_OK;
        if (ready == 0)
            return errSet(NEO4J_TIMEOUT, "no answer from %s within the timeout while %s",
                          transport->peer, what);
        if (errno != EINTR)
            return errSet(NEO4J_UNREACHABLE, "waiting for %s failed: %s", transport->peer,
                          strerror(errno));
    }
}

static int64_t transportDeadline(const BoltTransport *transport)
{
    return transport->timeoutMs > 0 ? timeMonotonicMs() + transport->timeoutMs : -1;
}

static bool transportSetNonBlocking(int fd)
{
    int flags = fcntl(fd, F_GETFL, 0);
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

/* ---- an OpenSSL BIO that never raises SIGPIPE ------------------------- */
/* The stock socket BIO writes with write(), which raises SIGPIPE when the peer
 * is gone; a library must not change the process's signal dispositions. */

static int transportBioWrite(BIO *bio, const char *data, int length)
{
    BIO_clear_retry_flags(bio);
    ssize_t sent = send(BIO_get_fd(bio, NULL), data, (size_t)length, MSG_NOSIGNAL);
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(bio);
    return (int)sent;
}

static int transportBioRead(BIO *bio, char *data, int capacity)
{
    BIO_clear_retry_flags(bio);
    ssize_t received = recv(BIO_get_fd(bio, NULL), data, (size_t)capacity, 0);
    if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(bio);
    return (int)received;
}

static int transportBioPuts(BIO *bio, const char *text)
{
    return transportBioWrite(bio, text, (int)strlen(text));
}

static long transportBioCtrl(BIO *bio, int command, long number, void *pointer)
{
    switch (command) {
    case BIO_C_SET_FD:
        BIO_set_data(bio, (void *)(intptr_t)(*(int *)pointer));
        BIO_set_init(bio, 1);
        return 1;
    case BIO_C_GET_FD:
        if (!BIO_get_init(bio))
            return -1;
        if (pointer)
            *(int *)pointer = (int)(intptr_t)BIO_get_data(bio);
        return (long)(intptr_t)BIO_get_data(bio);
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return 0;
    }
}

static BIO_METHOD *transportBioMethod(void)
{
    /* Built once and kept for the life of the process, like OpenSSL's own methods. */
    static BIO_METHOD *method;
    static int initialised;
    if (!__atomic_load_n(&initialised, __ATOMIC_ACQUIRE)) {
        BIO_METHOD *created = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                           "nbk bolt socket");
        if (!created)
            return NULL;
        BIO_meth_set_write(created, transportBioWrite);
        BIO_meth_set_read(created, transportBioRead);
        BIO_meth_set_puts(created, transportBioPuts);
        BIO_meth_set_ctrl(created, transportBioCtrl);
        BIO_METHOD *expected = NULL;
        if (!__atomic_compare_exchange_n(&method, &expected, created, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            BIO_meth_free(created); /* another thread won the race */
        __atomic_store_n(&initialised, 1, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&method, __ATOMIC_ACQUIRE);
}

/* First queued OpenSSL error as text (or a fallback), clearing the queue. */
static void transportSslErrorText(char *text, size_t size, const char *fallback)
{
    unsigned long code = ERR_get_error();
    if (code == 0)
        snprintf(text, size, "%s", fallback);
    else
        ERR_error_string_n(code, text, size);
    ERR_clear_error();
}

/* ---- construction ---------------------------------------------------- */

static BoltTransport *transportNew(int fd, const char *peer)
{
    BoltTransport *transport = memCalloc(1, sizeof(*transport));
    transport->fd = fd;
    snprintf(transport->peer, sizeof(transport->peer), "%s", peer ? peer : "peer");
    return transport;
}

BoltTransport *boltTransportFromFd(int fd, const char *peerName)
{
    transportSetNonBlocking(fd);
    return transportNew(fd, peerName);
}

void boltTransportSetTimeout(BoltTransport *transport, int timeoutMs)
{
    transport->timeoutMs = timeoutMs > 0 ? timeoutMs : 0;
}

const char *boltTransportPeer(const BoltTransport *transport) { return transport->peer; }
bool boltTransportIsTls(const BoltTransport *transport) { return transport->ssl != NULL; }

static void transportFormatPeer(char *text, size_t size, const char *host, uint16_t port)
{
    if (strchr(host, ':'))
        snprintf(text, size, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(text, size, "%s:%u", host, (unsigned)port);
}

/* Non-blocking connect to one resolved address, bounded by deadline.
 * Returns the socket, or -1 with *failure set to errno (ETIMEDOUT on timeout). */
static int transportConnectAddress(const struct addrinfo *address, int64_t deadlineMs, int *failure)
{
    int fd = socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    address->ai_protocol);
    if (fd < 0) {
        *failure = errno;
        return -1;
    }
    if (connect(fd, address->ai_addr, address->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        *failure = errno;
        close(fd);
        return -1;
    }
    for (;;) {
        struct pollfd waitFor = {.fd = fd, .events = POLLOUT};
        int ready = poll(&waitFor, 1, transportRemainingMs(deadlineMs));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            *failure = ready == 0 ? ETIMEDOUT : errno;
            close(fd);
            return -1;
        }
        break;
    }
    int socketError = 0;
    socklen_t errorLength = sizeof(socketError);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &errorLength) != 0)
        socketError = errno;
    if (socketError != 0) {
        *failure = socketError;
        close(fd);
        return -1;
    }
    return fd;
}

static bool transportIsIpLiteral(const char *host)
{
    unsigned char scratch[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, scratch) == 1 || inet_pton(AF_INET6, host, scratch) == 1;
}

static ErrCode transportStartTls(BoltTransport *transport, const BoltTransportOptions *options,
                                 int64_t deadlineMs)
{
    char sslError[256];
    transport->sslContext = SSL_CTX_new(TLS_client_method());
    if (!transport->sslContext)
        return errSet(NEO4J_UNREACHABLE, "cannot create a TLS context for %s", transport->peer);
    SSL_CTX_set_min_proto_version(transport->sslContext, TLS1_2_VERSION);

    if (options->tls == BOLT_TLS_VERIFIED) {
        SSL_CTX_set_verify(transport->sslContext, SSL_VERIFY_PEER, NULL);
        int loaded = options->caFile
                         ? SSL_CTX_load_verify_locations(transport->sslContext, options->caFile, NULL)
                         : SSL_CTX_set_default_verify_paths(transport->sslContext);
        if (loaded != 1) {
            transportSslErrorText(sslError, sizeof(sslError), "unknown reason");
            ErrCode code = errSet(CONFIG_INVALID, "cannot load CA certificates from %s: %s",
                                  options->caFile ? options->caFile : "the system store",
                                  sslError);
            errSetAction("Point the CA file setting at a readable PEM bundle");
            return code;
        }
    } else {
        /* bolt+ssc: encrypted, but any certificate (self-signed) is accepted. */
        SSL_CTX_set_verify(transport->sslContext, SSL_VERIFY_NONE, NULL);
    }

    transport->ssl = SSL_new(transport->sslContext);
    BIO_METHOD *method = transportBioMethod();
    BIO *bio = method ? BIO_new(method) : NULL;
    if (!transport->ssl || !bio) {
        BIO_free(bio);
        return errSet(NEO4J_UNREACHABLE, "cannot set up TLS for %s", transport->peer);
    }
    BIO_set_fd(bio, transport->fd, BIO_NOCLOSE);
    SSL_set_bio(transport->ssl, bio, bio);

    bool ipLiteral = transportIsIpLiteral(options->host);
    if (!ipLiteral)
        SSL_set_tlsext_host_name(transport->ssl, options->host); /* SNI */
    if (options->tls == BOLT_TLS_VERIFIED) {
        X509_VERIFY_PARAM *param = SSL_get0_param(transport->ssl);
        int set = ipLiteral ? X509_VERIFY_PARAM_set1_ip_asc(param, options->host)
                            : X509_VERIFY_PARAM_set1_host(param, options->host, 0);
        if (set != 1)
            return errSet(NEO4J_UNREACHABLE, "cannot set the expected TLS host name %s",
                          options->host);
    }

    for (;;) {
        ERR_clear_error();
        int result = SSL_connect(transport->ssl);
        if (result == 1)
            break;
        int reason = SSL_get_error(transport->ssl, result);
        if (reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE) {
            ErrCode waited = transportWait(transport, reason == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                                           deadlineMs, "negotiating TLS");
            if (waited != ERR_OK)
                return waited;
            continue;
        }
        long verify = SSL_get_verify_result(transport->ssl);
        if (options->tls == BOLT_TLS_VERIFIED && verify != X509_V_OK) {
            ErrCode code = errSet(NEO4J_UNREACHABLE,
                                  "TLS certificate of %s is not trusted: %s", transport->peer,
                                  X509_verify_cert_error_string(verify));
            errSetAction("Give the CA certificate with the CA file setting, or use bolt+ssc:// "
                         "to accept a self-signed certificate");
            ERR_clear_error();
            return code;
        }
        transportSslErrorText(sslError, sizeof(sslError),
                              reason == SSL_ERROR_SYSCALL || reason == SSL_ERROR_ZERO_RETURN
                                  ? "the server closed the connection"
                                  : "handshake failed");
        ErrCode code = errSet(NEO4J_UNREACHABLE, "TLS handshake with %s failed: %s",
                              transport->peer, sslError);
        errSetAction("Check that the server has TLS enabled for Bolt; if not, use bolt://");
        return code;
    }
    logDebug("TLS to %s: %s, %s", transport->peer, SSL_get_version(transport->ssl),
             SSL_get_cipher_name(transport->ssl));
    return ERR_OK;
}

ErrCode boltTransportConnect(const BoltTransportOptions *options, BoltTransport **out)
{
    *out = NULL;
    int timeoutMs = options->connectTimeoutMs > 0 ? options->connectTimeoutMs
                                                  : TRANSPORT_DEFAULT_CONNECT_TIMEOUT_MS;
    int64_t deadlineMs = timeMonotonicMs() + timeoutMs;
    char peer[300];
    transportFormatPeer(peer, sizeof(peer), options->host, options->port);

    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)options->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV};
    struct addrinfo *addresses = NULL;
    int resolved = getaddrinfo(options->host, service, &hints, &addresses);
    if (resolved == EAI_ADDRFAMILY || resolved == EAI_NONAME) {
        /* AI_ADDRCONFIG hides loopback-only families on hosts without other addresses. */
        hints.ai_flags = AI_NUMERICSERV;
        resolved = getaddrinfo(options->host, service, &hints, &addresses);
    }
    if (resolved != 0) {
        if (resolved == EAI_NONAME || resolved == EAI_NODATA || resolved == EAI_FAIL)
            return errSet(NEO4J_UNREACHABLE, "host not found: %s", options->host);
        return errSet(NEO4J_UNREACHABLE, "cannot resolve %s: %s", options->host,
                      resolved == EAI_SYSTEM ? strerror(errno) : gai_strerror(resolved));
    }

    int fd = -1;
    int failure = 0;
    char attempted[300] = "";
    for (const struct addrinfo *address = addresses; address && fd < 0; address = address->ai_next) {
        char numeric[INET6_ADDRSTRLEN] = "";
        getnameinfo(address->ai_addr, address->ai_addrlen, numeric, sizeof(numeric), NULL, 0,
                    NI_NUMERICHOST);
        transportFormatPeer(attempted, sizeof(attempted), numeric, options->port);
        fd = transportConnectAddress(address, deadlineMs, &failure);
        if (fd < 0)
            logDebug("connect to %s failed: %s", attempted, strerror(failure));
        if (failure == ETIMEDOUT)
            break;
    }
    freeaddrinfo(addresses);
    if (fd < 0) {
        if (failure == ETIMEDOUT)
            return errSet(NEO4J_TIMEOUT, "connecting to %s timed out after %d ms", peer, timeoutMs);
        if (failure == ECONNREFUSED)
            return errSet(NEO4J_UNREACHABLE, "connection refused by %s", attempted);
        return errSet(NEO4J_UNREACHABLE, "cannot connect to %s: %s", attempted, strerror(failure));
    }

    int enable = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &enable, sizeof(enable));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &enable, sizeof(enable));

    BoltTransport *transport = transportNew(fd, peer);
    if (options->tls != BOLT_TLS_NONE) {
        ErrCode code = transportStartTls(transport, options, deadlineMs);
        if (code != ERR_OK) {
            boltTransportClose(transport);
            return code;
        }
    }
    *out = transport;
    return ERR_OK;
}

/* ---- I/O ------------------------------------------------------------- */

static ErrCode transportLost(const BoltTransport *transport, const char *detail)
{
    return errSet(NEO4J_UNREACHABLE, "connection to %s lost: %s", transport->peer, detail);
}

ErrCode boltTransportWrite(BoltTransport *transport, const void *data, size_t length)
{
    const uint8_t *cursor = data;
    int64_t deadlineMs = transportDeadline(transport);
    while (length > 0) {
        if (transport->ssl) {
            size_t written = 0;
            ERR_clear_error();
            int result = SSL_write_ex(transport->ssl, cursor, length, &written);
            if (result == 1) {
                cursor += written;
                length -= written;
                continue;
            }
            int reason = SSL_get_error(transport->ssl, result);
            if (reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE) {
                ErrCode waited = transportWait(transport, reason == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                                               deadlineMs, "sending");
                if (waited != ERR_OK)
                    return waited;
                continue;
            }
            char sslError[256];
            transportSslErrorText(sslError, sizeof(sslError), strerror(errno));
            return transportLost(transport, sslError);
        }
        ssize_t sent = send(transport->fd, cursor, length, MSG_NOSIGNAL);
        if (sent > 0) {
            cursor += sent;
            length -= (size_t)sent;
            continue;
        }
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ErrCode waited = transportWait(transport, POLLOUT, deadlineMs, "sending");
            if (waited != ERR_OK)
                return waited;
            continue;
        }
        return transportLost(transport, sent < 0 ? strerror(errno) : "send returned 0");
    }
    return ERR_OK;
}

ErrCode boltTransportRead(BoltTransport *transport, void *data, size_t capacity, size_t *received)
{
    *received = 0;
    int64_t deadlineMs = transportDeadline(transport);
    for (;;) {
        if (transport->ssl) {
            size_t got = 0;
            ERR_clear_error();
            int result = SSL_read_ex(transport->ssl, data, capacity, &got);
            if (result == 1) {
                *received = got;
                return ERR_OK;
            }
            int reason = SSL_get_error(transport->ssl, result);
            if (reason == SSL_ERROR_ZERO_RETURN)
                return ERR_OK; /* clean TLS close */
            if (reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE) {
                ErrCode waited = transportWait(transport, reason == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                                               deadlineMs, "waiting for data");
                if (waited != ERR_OK)
                    return waited;
                continue;
            }
            if (reason == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
                ERR_clear_error();
                return ERR_OK; /* closed without close_notify: still an end of stream */
            }
            char sslError[256];
            transportSslErrorText(sslError, sizeof(sslError), strerror(errno));
            return transportLost(transport, sslError);
        }
        ssize_t got = recv(transport->fd, data, capacity, 0);
        if (got >= 0) {
            *received = (size_t)got;
            return ERR_OK;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            ErrCode waited = transportWait(transport, POLLIN, deadlineMs, "waiting for data");
            if (waited != ERR_OK)
                return waited;
            continue;
        }
        if (errno == ECONNRESET)
            return ERR_OK; /* the peer went away: the caller reports it in context */
        return transportLost(transport, strerror(errno));
    }
}

void boltTransportClose(BoltTransport *transport)
{
    if (!transport)
        return;
    if (transport->ssl) {
        /* Best effort close_notify; never wait for the peer's. */
        SSL_shutdown(transport->ssl);
        SSL_free(transport->ssl);
    }
    SSL_CTX_free(transport->sslContext);
    if (transport->fd >= 0)
        close(transport->fd);
    free(transport);
}
