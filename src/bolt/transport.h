/* Byte transport under the Bolt connection: TCP, TLS over TCP (OpenSSL), or an
 * already open file descriptor (tests hand one end of a socketpair).
 *
 * The socket is non-blocking underneath so that every wait goes through poll()
 * with the configured timeout; callers see blocking semantics. SIGPIPE is never
 * raised (send with MSG_NOSIGNAL; OpenSSL writes through our own send hook).
 *
 * Ownership: a BoltTransport owns its socket and TLS state; boltTransportClose
 * releases both. Errors: NEO4J_UNREACHABLE (refused, unknown host, TLS failure,
 * connection lost) or NEO4J_TIMEOUT, with errLast() saying why. */
#ifndef NBK_BOLT_TRANSPORT_H
#define NBK_BOLT_TRANSPORT_H

#include "bolt/connection.h"
#include "common/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct BoltTransport BoltTransport;

typedef struct {
    const char *host;        /* name or IP literal (no brackets) */
    uint16_t port;
    BoltTlsMode tls;
    const char *caFile;      /* PEM bundle for BOLT_TLS_VERIFIED; NULL = system CAs */
    int connectTimeoutMs;    /* <= 0 = 10000; covers resolve + TCP + TLS handshake */
} BoltTransportOptions;

ErrCode boltTransportConnect(const BoltTransportOptions *options, BoltTransport **out);
/* Wraps an open, connected stream socket (plain, no TLS); takes ownership. */
BoltTransport *boltTransportFromFd(int fd, const char *peerName);
/* Timeout for every later read and write; <= 0 = wait forever. */
void boltTransportSetTimeout(BoltTransport *transport, int timeoutMs);

/* Writes all bytes. */
ErrCode boltTransportWrite(BoltTransport *transport, const void *data, size_t length);
/* Reads between 1 and capacity bytes; *received = 0 means the peer closed the
 * connection (the caller knows what it was waiting for, so it words the error). */
ErrCode boltTransportRead(BoltTransport *transport, void *data, size_t capacity, size_t *received);

/* "host:port" of the peer, for messages. */
const char *boltTransportPeer(const BoltTransport *transport);
bool boltTransportIsTls(const BoltTransport *transport);
void boltTransportClose(BoltTransport *transport);

#endif
