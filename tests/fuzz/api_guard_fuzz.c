/* libFuzzer target for the HTTP API's request guards and log escaping
 * (src/api/guard.c) and its form parser (auth.c): whatever a client puts in
 * Host, Origin, Content-Type, a path or a login body, the checks never crash
 * or read out of bounds, and what they let through holds its promises:
 *   - apiLogEscape's output has no control character and, given room,
 *     unescapes back to the input;
 *   - an accepted Host or Origin holds no whitespace, control character,
 *     '/' (after the scheme) or '@';
 *   - apiFormField's value fits its buffer and holds no NUL.
 * The input is used as one NUL-terminated text (cut at its first NUL). */
#include "api/api.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzzCheckEscape(const char *text)
{
    size_t length = strlen(text);
    size_t roomy = length * 4 + 1;
    char *out = malloc(roomy);
    char *back = malloc(length + 1);
    if (!out || !back)
        abort();
    size_t written = apiLogEscape(text, out, roomy);
    if (written != strlen(out))
        abort();
    size_t backLength = 0;
    for (size_t index = 0; index < written; index++) {
        unsigned char byte = (unsigned char)out[index];
        if (byte < 0x20 || byte == 0x7f)
            abort();
        if (byte != '\\') {
            back[backLength++] = (char)byte;
        } else if (out[index + 1] == '\\') {
            back[backLength++] = '\\';
            index++;
        } else {
            if (out[index + 1] != 'x' || index + 3 >= written)
                abort();
            char hex[3] = {out[index + 2], out[index + 3], '\0'};
            back[backLength++] = (char)strtol(hex, NULL, 16);
            index += 3;
        }
    }
    if (backLength != length || memcmp(back, text, length) != 0)
        abort();
    char small[7];
    if (apiLogEscape(text, small, sizeof(small)) >= sizeof(small))
        abort();
    free(out);
    free(back);
}

/* The checks ignore spaces and tabs around a header value. */
static void fuzzCheckAuthority(const char *text, bool origin)
{
    size_t start = strspn(text, " \t");
    size_t end = strlen(text);
    while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t'))
        end--;
    if (origin) {
        const char *scheme = strstr(text + start, "://");
        if (!scheme || (size_t)(scheme - text) >= end)
            abort();
        start = (size_t)(scheme - text) + 3;
    }
    for (size_t index = start; index < end; index++)
        if ((unsigned char)text[index] <= ' ' || text[index] == 0x7f || text[index] == '/' || text[index] == '@')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';

    ApiHostRules loopback = {.port = 9090, .listenHost = "127.0.0.1", .loopback = true,
                             .allowedHosts = "backup.example.com,ops.example.com:8443,[fd00::5]"};
    ApiHostRules wide = {.port = 443, .listenHost = "[::]", .loopback = false, .allowedHosts = text,
                         .localHost = "10.0.0.5"};
    if (apiHostAllowed(&loopback, text))
        fuzzCheckAuthority(text, false);
    if (apiOriginAllowed(&loopback, text))
        fuzzCheckAuthority(text, true);
    (void)apiHostAllowed(&wide, "backup.example.com:443");
    (void)apiOriginAllowed(&wide, "https://10.0.0.5");
    (void)apiMediaTypeIs(text, "application/json");
    char bad[64];
    (void)apiAllowedHostsValid(text, bad, sizeof(bad));
    fuzzCheckEscape(text);

    char value[32];
    if (apiFormField(text, strlen(text), "token", value, sizeof(value)) && strlen(value) >= sizeof(value))
        abort();
    free(text);
    return 0;
}
