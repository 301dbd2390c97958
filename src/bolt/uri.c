/* Parsing of Neo4j connection URIs: scheme://host[:port][/] */
#include "bolt/connection.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *name;
    BoltTlsMode tls;
    bool routing;
} UriScheme;

static const UriScheme uriSchemes[] = {
    {"bolt", BOLT_TLS_NONE, false},     {"bolt+s", BOLT_TLS_VERIFIED, false},
    {"bolt+ssc", BOLT_TLS_ANY_CERT, false}, {"neo4j", BOLT_TLS_NONE, true},
    {"neo4j+s", BOLT_TLS_VERIFIED, true}, {"neo4j+ssc", BOLT_TLS_ANY_CERT, true},
};

static ErrCode uriInvalid(const char *text, const char *why)
{
    /* Echo the URI only when it cannot hold credentials. */
    ErrCode code = strchr(text, '@') ? errSet(CONFIG_INVALID, "invalid NEO4J_URI: %s", why)
                                     : errSet(CONFIG_INVALID, "invalid NEO4J_URI '%s': %s", text, why);
    errSetAction("Use a URI like bolt://localhost:7687 (schemes: bolt, bolt+s, bolt+ssc, neo4j, "
                 "neo4j+s, neo4j+ssc)");
    return code;
}

static bool uriHostNameValid(const char *host, size_t length)
{
    for (size_t index = 0; index < length; index++) {
        unsigned char symbol = (unsigned char)host[index];
        if (!isalnum(symbol) && symbol != '-' && symbol != '.' && symbol != '_')
            return false;
    }
    return true;
}

static bool uriIpv6Valid(const char *host, size_t length)
{
    bool sawColon = false;
    for (size_t index = 0; index < length; index++) {
        unsigned char symbol = (unsigned char)host[index];
        if (symbol == '%') /* zone id: fe80::1%eth0 */
            return sawColon && index + 1 < length && uriHostNameValid(host + index + 1, length - index - 1);
        if (symbol == ':')
            sawColon = true;
        else if (!isxdigit(symbol) && symbol != '.')
            return false;
    }
    return sawColon;
}

ErrCode boltUriParse(const char *text, BoltUri *out)
{
    memset(out, 0, sizeof(*out));
    if (!text || !text[0])
        return uriInvalid("", "it is empty");

    const char *separator = strstr(text, "://");
    if (!separator)
        return uriInvalid(text, "no scheme (expected e.g. bolt://host:7687)");
    size_t schemeLength = (size_t)(separator - text);
    const UriScheme *scheme = NULL;
    for (size_t index = 0; index < sizeof(uriSchemes) / sizeof(uriSchemes[0]); index++)
        if (strlen(uriSchemes[index].name) == schemeLength &&
            strncasecmp(uriSchemes[index].name, text, schemeLength) == 0)
            scheme = &uriSchemes[index];
    if (!scheme)
        return uriInvalid(text, "unsupported scheme");

    const char *authority = separator + 3;
    size_t authorityLength = strcspn(authority, "/?#");
    const char *rest = authority + authorityLength;
    if (memchr(authority, '@', authorityLength)) {
        ErrCode code = errSet(CONFIG_INVALID,
                              "NEO4J_URI must not contain a user name or password");
        errSetAction("Remove the credentials from the URI and set NEO4J_USER and NEO4J_PASSWORD "
                     "(or NEO4J_PASSWORD_FILE) instead");
        return code;
    }
    if (strcmp(rest, "") != 0 && strcmp(rest, "/") != 0)
        return uriInvalid(text, "paths, query parameters and fragments are not supported");

    const char *host = authority;
    size_t hostLength;
    const char *portText = NULL;
    size_t portLength = 0;
    if (authorityLength > 0 && authority[0] == '[') {
        const char *closing = memchr(authority, ']', authorityLength);
        if (!closing)
            return uriInvalid(text, "IPv6 address without a closing ']'");
        host = authority + 1;
        hostLength = (size_t)(closing - host);
        if (!uriIpv6Valid(host, hostLength))
            return uriInvalid(text, "malformed IPv6 address");
        const char *after = closing + 1;
        size_t afterLength = authorityLength - (size_t)(after - authority);
        if (afterLength > 0) {
            if (after[0] != ':')
                return uriInvalid(text, "unexpected text after the IPv6 address");
            portText = after + 1;
            portLength = afterLength - 1;
        }
    } else {
        const char *colon = memchr(authority, ':', authorityLength);
        hostLength = colon ? (size_t)(colon - authority) : authorityLength;
        if (colon) {
            portText = colon + 1;
            portLength = authorityLength - hostLength - 1;
            if (memchr(portText, ':', portLength))
                return uriInvalid(text, "IPv6 addresses must be written in brackets, e.g. [::1]:7687");
        }
        if (!uriHostNameValid(host, hostLength))
            return uriInvalid(text, "the host name contains invalid characters");
    }
    if (hostLength == 0)
        return uriInvalid(text, "no host");
    if (hostLength >= sizeof(out->host))
        return uriInvalid(text, "the host name is too long");

    unsigned long port = 7687;
    if (portText) {
        if (portLength == 0 || portLength > 5)
            return uriInvalid(text, "the port must be a number from 1 to 65535");
        port = 0;
        for (size_t index = 0; index < portLength; index++) {
            if (!isdigit((unsigned char)portText[index]))
                return uriInvalid(text, "the port must be a number from 1 to 65535");
            port = port * 10 + (unsigned long)(portText[index] - '0');
        }
        if (port == 0 || port > 65535)
            return uriInvalid(text, "the port must be a number from 1 to 65535");
    }

    snprintf(out->scheme, sizeof(out->scheme), "%s", scheme->name);
    memcpy(out->host, host, hostLength);
    out->host[hostLength] = '\0';
    out->port = (uint16_t)port;
    out->tls = scheme->tls;
    out->routing = scheme->routing;
    return ERR_OK;
}

void boltAddressFormat(const char *host, uint16_t port, char *out, size_t size)
{
    if (strchr(host, ':'))
        snprintf(out, size, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(out, size, "%s:%u", host, (unsigned)port);
}

bool boltHostIsLoopback(const char *host)
{
    if (!host || !host[0])
        return false;
    size_t length = strlen(host);
    if (host[length - 1] == '.') /* "localhost." is the same name, fully qualified */
        length--;
    static const char suffix[] = ".localhost";
    size_t suffixLength = sizeof(suffix) - 1;
    if ((length == 9 && strncasecmp(host, "localhost", 9) == 0) ||
        (length > suffixLength && strncasecmp(host + length - suffixLength, suffix, suffixLength) == 0))
        return true; /* RFC 6761: localhost names never leave the machine */
    struct in_addr ipv4;
    if (inet_pton(AF_INET, host, &ipv4) == 1)
        return (ntohl(ipv4.s_addr) >> 24) == 127;
    char literal[64];
    size_t literalLength = strcspn(host, "%"); /* a zone id does not change the address */
    if (literalLength >= sizeof(literal))
        return false;
    memcpy(literal, host, literalLength);
    literal[literalLength] = '\0';
    struct in6_addr ipv6;
    if (inet_pton(AF_INET6, literal, &ipv6) != 1)
        return false;
    static const uint8_t loopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t mappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (memcmp(ipv6.s6_addr, loopback6, 16) == 0)
        return true;
    return memcmp(ipv6.s6_addr, mappedPrefix, 12) == 0 && ipv6.s6_addr[12] == 127;
}

bool boltUriSendsPasswordInClear(const BoltUri *uri)
{
    return uri->tls == BOLT_TLS_NONE && !boltHostIsLoopback(uri->host);
}

void boltUriSafe(const char *uri, char *out, size_t size)
{
    const char *scheme = strstr(uri, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    if (scheme && at)
        snprintf(out, size, "%.*s://%s", (int)(scheme - uri), uri, at + 1);
    else
        snprintf(out, size, "%s", uri);
}
