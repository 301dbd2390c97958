/* BACKUP_API_LISTEN: "host:port" or "[ipv6]:port" into a socket address. */
#include "api/api.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ErrCode apiAddressInvalid(const char *text, const char *why)
{
    errSet(CONFIG_INVALID, "BACKUP_API_LISTEN: invalid value '%s' (%s)", text, why);
    errSetAction("Set BACKUP_API_LISTEN to host:port, e.g. 127.0.0.1:9090 or [::1]:9090");
    return CONFIG_INVALID;
}

static bool apiAddressIsLoopback(const struct sockaddr *address)
{
    if (address->sa_family == AF_INET) {
        const struct sockaddr_in *ipv4 = (const struct sockaddr_in *)address;
        return (ntohl(ipv4->sin_addr.s_addr) >> 24) == 127;
    }
    if (address->sa_family == AF_INET6) {
        const struct sockaddr_in6 *ipv6 = (const struct sockaddr_in6 *)address;
        if (IN6_IS_ADDR_LOOPBACK(&ipv6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&ipv6->sin6_addr) && ipv6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

ErrCode apiAddressParse(const char *text, ApiAddress *out)
{
    memset(out, 0, sizeof(*out));
    if (!text || !text[0])
        return apiAddressInvalid("", "empty");
    char host[256];
    const char *portText;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return apiAddressInvalid(text, "expected [address]:port");
        size_t length = (size_t)(close - text - 1);
        if (length == 0 || length >= sizeof(host))
            return apiAddressInvalid(text, "bad address");
        memcpy(host, text + 1, length);
        host[length] = '\0';
        portText = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon)
            return apiAddressInvalid(text, "no port: expected host:port");
        if (memchr(text, ':', (size_t)(colon - text)))
            return apiAddressInvalid(text, "write an IPv6 address in brackets: [::1]:9090");
        size_t length = (size_t)(colon - text);
        if (length == 0 || length >= sizeof(host))
            return apiAddressInvalid(text, "no host: use 0.0.0.0:port to listen on every interface");
        memcpy(host, text, length);
        host[length] = '\0';
        portText = colon + 1;
    }
    if (!portText[0] || strlen(portText) > 5)
        return apiAddressInvalid(text, "bad port");
    for (const char *cursor = portText; *cursor; cursor++)
        if (!isdigit((unsigned char)*cursor))
            return apiAddressInvalid(text, "bad port");
    long port = strtol(portText, NULL, 10);
    if (port > 65535)
        return apiAddressInvalid(text, "port above 65535");

    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    struct addrinfo *found = NULL;
    int status = getaddrinfo(host, portText, &hints, &found);
    if (status != 0 || !found) {
        errSet(CONFIG_INVALID, "BACKUP_API_LISTEN: cannot resolve '%s': %s", host, gai_strerror(status));
        errSetAction("Set BACKUP_API_LISTEN to an address of this machine, e.g. 127.0.0.1:9090");
        return CONFIG_INVALID;
    }
    /* "localhost" may resolve to ::1 first; IPv4 is what most clients try. */
    const struct addrinfo *chosen = found;
    for (const struct addrinfo *candidate = found; candidate; candidate = candidate->ai_next)
        if (candidate->ai_family == AF_INET) {
            chosen = candidate;
            break;
        }
    if (chosen->ai_addrlen > sizeof(out->address)) {
        freeaddrinfo(found);
        return apiAddressInvalid(text, "address too long");
    }
    memcpy(&out->address, chosen->ai_addr, chosen->ai_addrlen);
    out->length = (socklen_t)chosen->ai_addrlen;
    out->port = (uint16_t)port;
    out->loopback = apiAddressIsLoopback(chosen->ai_addr);
    char numeric[INET6_ADDRSTRLEN] = "?";
    if (chosen->ai_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)chosen->ai_addr)->sin_addr, numeric, sizeof(numeric));
        snprintf(out->text, sizeof(out->text), "%s:%ld", numeric, port);
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)chosen->ai_addr)->sin6_addr, numeric, sizeof(numeric));
        snprintf(out->text, sizeof(out->text), "[%s]:%ld", numeric, port);
    }
    freeaddrinfo(found);
    return ERR_OK;
}
