/* The checks that keep web pages out of the HTTP API, free of any server
 * state: the Host header against the names the server answers to (DNS
 * rebinding), the Origin of state-changing requests (cross-site forms and
 * fetches), the media type of a body (a page can POST text/plain without a
 * preflight, never application/json), and the escaping of request text
 * before it reaches the log. */
#include "api/api.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Splits "name", "name:port", "[v6]" or "[v6]:port" at the port. The name
 * keeps its brackets. False for anything else (a bad or empty port, junk
 * after "]"). *port is 0 when none is written. */
static bool apiSplitAuthority(const char *text, size_t length, size_t *nameLength, unsigned *port)
{
    *port = 0;
    size_t end = length;
    if (length > 0 && text[0] == '[') {
        const char *close = memchr(text, ']', length);
        if (!close)
            return false;
        end = (size_t)(close - text) + 1;
        if (end < length && text[end] != ':')
            return false;
    } else {
        const char *colon = memchr(text, ':', length);
        if (colon)
            end = (size_t)(colon - text);
    }
    *nameLength = end;
    if (end == 0)
        return false;
    if (end == length)
        return true;
    size_t digits = length - end - 1;
    if (digits == 0 || digits > 5)
        return false;
    unsigned value = 0;
    for (size_t index = end + 1; index < length; index++) {
        if (!isdigit((unsigned char)text[index]))
            return false;
        value = value * 10 + (unsigned)(text[index] - '0');
    }
    if (value == 0 || value > 65535)
        return false;
    *port = value;
    return true;
}

static void apiTrim(const char **text, size_t *length)
{
    while (*length > 0 && (**text == ' ' || **text == '\t')) {
        (*text)++;
        (*length)--;
    }
    while (*length > 0 && ((*text)[*length - 1] == ' ' || (*text)[*length - 1] == '\t'))
        (*length)--;
}

/* Does the authority (name, port) match the entry "name" or "name:port"?
 * An entry without a port takes the bound port or none. */
static bool apiEntryMatches(const char *entry, size_t entryLength, const char *name, size_t nameLength,
                            unsigned port, uint16_t boundPort)
{
    apiTrim(&entry, &entryLength);
    size_t entryNameLength = 0;
    unsigned entryPort = 0;
    if (entryLength == 0 || !apiSplitAuthority(entry, entryLength, &entryNameLength, &entryPort))
        return false;
    if (entryNameLength != nameLength || strncasecmp(entry, name, nameLength) != 0)
        return false;
    if (entryPort)
        return port == entryPort;
    return port == 0 || port == boundPort;
}

static bool apiListMatches(const char *list, const char *name, size_t nameLength, unsigned port,
                           uint16_t boundPort)
{
    while (list && *list) {
        const char *comma = strchr(list, ',');
        size_t length = comma ? (size_t)(comma - list) : strlen(list);
        if (apiEntryMatches(list, length, name, nameLength, port, boundPort))
            return true;
        list = comma ? comma + 1 : NULL;
    }
    return false;
}

static bool apiAuthorityAllowed(const ApiHostRules *rules, const char *text, size_t length)
{
    size_t nameLength = 0;
    unsigned port = 0;
    if (length == 0 || !apiSplitAuthority(text, length, &nameLength, &port))
        return false;
    for (size_t index = 0; index < length; index++)
        if ((unsigned char)text[index] <= ' ' || text[index] == 0x7f || text[index] == '/' || text[index] == '@')
            return false;
    if (rules->listenHost && apiEntryMatches(rules->listenHost, strlen(rules->listenHost), text, nameLength,
                                             port, rules->port))
        return true;
    /* Any address of this connection is no rebinding: a browser sends it
     * only to a page it loaded from this very server. */
    if (rules->localHost && apiEntryMatches(rules->localHost, strlen(rules->localHost), text, nameLength, port,
                                            rules->port))
        return true;
    if (rules->loopback && apiListMatches("localhost,127.0.0.1,[::1]", text, nameLength, port, rules->port))
        return true;
    return apiListMatches(rules->allowedHosts, text, nameLength, port, rules->port);
}

bool apiHostAllowed(const ApiHostRules *rules, const char *host)
{
    if (!host)
        return false;
    size_t length = strlen(host);
    apiTrim(&host, &length);
    return apiAuthorityAllowed(rules, host, length);
}

bool apiOriginAllowed(const ApiHostRules *rules, const char *origin)
{
    if (!origin)
        return true; /* not a browser, or a same-origin GET: nothing to forge */
    size_t length = strlen(origin);
    apiTrim(&origin, &length);
    /* Either scheme: behind a TLS proxy the page is https, the server http. */
    size_t skip = 0;
    if (length > 7 && strncasecmp(origin, "http://", 7) == 0)
        skip = 7;
    else if (length > 8 && strncasecmp(origin, "https://", 8) == 0)
        skip = 8;
    else
        return false; /* "null" (sandboxed frames, file:) and anything else is foreign */
    return apiAuthorityAllowed(rules, origin + skip, length - skip);
}

bool apiMediaTypeIs(const char *contentType, const char *mediaType)
{
    if (!contentType)
        return false;
    size_t length = strcspn(contentType, ";");
    apiTrim(&contentType, &length);
    return length == strlen(mediaType) && strncasecmp(contentType, mediaType, length) == 0;
}

bool apiAllowedHostsValid(const char *list, char *bad, size_t badSize)
{
    while (list && *list) {
        const char *comma = strchr(list, ',');
        size_t length = comma ? (size_t)(comma - list) : strlen(list);
        const char *entry = list;
        apiTrim(&entry, &length);
        size_t nameLength = 0;
        unsigned port = 0;
        bool valid = length > 0 && apiSplitAuthority(entry, length, &nameLength, &port);
        for (size_t index = 0; valid && index < length; index++)
            valid = (unsigned char)entry[index] > ' ' && entry[index] != 0x7f && !strchr("/@*?#", entry[index]);
        if (!valid) {
            snprintf(bad, badSize, "%.*s", (int)length, entry);
            return false;
        }
        list = comma ? comma + 1 : NULL;
    }
    return true;
}

size_t apiLogEscape(const char *text, char *out, size_t size)
{
    size_t written = 0;
    if (size == 0)
        return 0;
    for (const unsigned char *cursor = (const unsigned char *)(text ? text : ""); *cursor; cursor++) {
        char piece[5];
        if (*cursor < 0x20 || *cursor == 0x7f)
            snprintf(piece, sizeof(piece), "\\x%02x", *cursor);
        else if (*cursor == '\\')
            snprintf(piece, sizeof(piece), "\\\\");
        else
            snprintf(piece, sizeof(piece), "%c", *cursor);
        size_t length = strlen(piece);
        if (written + length >= size)
            break; /* cut whole escapes only, never half of one */
        memcpy(out + written, piece, length);
        written += length;
    }
    out[written] = '\0';
    return written;
}
