/* Alert values, shared helpers and the dispatcher; the sinks live in smtp.c
 * and webhook.c. */
#include "alert/alert.h"

#include "alert/alert_internal.h"
#include "common/log.h"
#include "common/mem.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- alert values ------------------------------------------------------- */

const char *alertSeverityName(AlertSeverity severity)
{
    switch (severity) {
    case ALERT_CRITICAL: return "CRITICAL";
    case ALERT_ERROR: return "ERROR";
    case ALERT_WARNING: return "WARNING";
    }
    return "ERROR";
}

static void alertCopy(char *out, size_t size, const char *text)
{
    snprintf(out, size, "%s", text ? text : "");
}

void alertInit(Alert *out, AlertSeverity severity, const char *code, const char *reason,
               const char *action)
{
    memset(out, 0, sizeof(*out));
    out->severity = severity;
    alertCopy(out->code, sizeof(out->code), code);
    alertCopy(out->reason, sizeof(out->reason), reason);
    alertCopy(out->action, sizeof(out->action), action);
    if (gethostname(out->host, sizeof(out->host) - 1) != 0 || !out->host[0])
        alertCopy(out->host, sizeof(out->host), "unknown-host");
    out->time = time(NULL);
}

void alertInitFromError(Alert *out, AlertSeverity severity, const ErrDetail *detail)
{
    const char *action = detail->action[0] ? detail->action : errDefaultAction(detail->code);
    const char *reason = detail->reason[0] ? detail->reason : errDefaultMessage(detail->code);
    alertInit(out, severity, errName(detail->code), reason, action);
}

void alertSetBackupId(Alert *alert, const char *backupId)
{
    alertCopy(alert->backupId, sizeof(alert->backupId), backupId);
}

ErrCode alertLoadLogTail(Alert *alert, const char *path, size_t maxLines)
{
    alert->logTail[0] = '\0';
    FILE *file = fopen(path, "rb");
    if (!file)
        return errSet(BACKUP_IO_FAILED, "cannot open log file %s: %s", path, strerror(errno));
    /* The tail of a long log is all we need: read at most the last 64 KiB. */
    char chunk[65536];
    long start = 0;
    if (fseek(file, 0, SEEK_END) == 0) {
        long size = ftell(file);
        start = size > (long)sizeof(chunk) - 1 ? size - (long)sizeof(chunk) + 1 : 0;
    }
    fseek(file, start, SEEK_SET);
    size_t length = fread(chunk, 1, sizeof(chunk) - 1, file);
    fclose(file);
    chunk[length] = '\0';
    while (length > 0 && (chunk[length - 1] == '\n' || chunk[length - 1] == '\r'))
        chunk[--length] = '\0';

    /* Walk back over maxLines line ends, then drop the oldest lines until it fits. */
    size_t first = 0;
    size_t linesSeen = 0;
    for (size_t position = length; position > 0; position--) {
        if (chunk[position - 1] == '\n' && ++linesSeen == maxLines) {
            first = position;
            break;
        }
    }
    if (maxLines == 0)
        first = length;
    else if (start > 0 && first == 0) {
        /* The first line in the chunk is probably cut: skip it. */
        const char *newline = memchr(chunk, '\n', length);
        first = newline ? (size_t)(newline - chunk) + 1 : length;
    }
    while (length - first >= sizeof(alert->logTail)) {
        const char *newline = memchr(chunk + first, '\n', length - first);
        first = newline ? (size_t)(newline - chunk) + 1 : length;
    }
    memcpy(alert->logTail, chunk + first, length - first);
    alert->logTail[length - first] = '\0';
    return ERR_OK;
}

bool alertConfigured(const AlertConfig *config)
{
    bool email = config->email.to && config->email.to[0] && config->email.smtpUrl &&
                 config->email.smtpUrl[0];
    bool webhook = config->webhook.url && config->webhook.url[0];
    return email || webhook;
}

/* ---- shared helpers ------------------------------------------------------ */

static pthread_once_t alertCurlOnce = PTHREAD_ONCE_INIT;

static void alertCurlInitOnce(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void alertCurlInit(void)
{
    pthread_once(&alertCurlOnce, alertCurlInitOnce);
}

void alertRedactUrl(const char *url, char *out, size_t size)
{
    snprintf(out, size, "(invalid URL)");
    CURLU *parsed = curl_url();
    if (!parsed)
        return;
    char *scheme = NULL;
    char *host = NULL;
    char *port = NULL;
    if (url && curl_url_set(parsed, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (curl_url_get(parsed, CURLUPART_PORT, &port, 0) == CURLUE_OK)
            snprintf(out, size, "%s://%s:%s", scheme, host, port);
        else
            snprintf(out, size, "%s://%s", scheme, host);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(parsed);
}

bool alertUrlIsLoopback(const char *url)
{
    CURLU *parsed = curl_url();
    char *host = NULL;
    bool loopback = false;
    if (parsed && url && curl_url_set(parsed, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        loopback = strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
                   strcmp(host, "[::1]") == 0;
    }
    curl_free(host);
    curl_url_cleanup(parsed);
    return loopback;
}

void alertScrubSecret(char *text, const char *secret)
{
    if (!secret || !secret[0])
        return;
    size_t secretLength = strlen(secret);
    char *found;
    while ((found = strstr(text, secret)) != NULL) {
        size_t tail = strlen(found + secretLength);
        memcpy(found, "***", 3);
        if (secretLength != 3)
            memmove(found + 3, found + secretLength, tail + 1);
    }
}

/* Length of the valid UTF-8 sequence at text (1-4), or 0 when invalid. */
static size_t alertUtf8Length(const unsigned char *text)
{
    unsigned char lead = text[0];
    size_t length;
    unsigned int minimum;
    unsigned int codePoint;
    if (lead < 0x80)
        return 1;
    if (lead >= 0xC2 && lead <= 0xDF)
        length = 2, minimum = 0x80, codePoint = lead & 0x1F;
    else if (lead >= 0xE0 && lead <= 0xEF)
        length = 3, minimum = 0x800, codePoint = lead & 0x0F;
    else if (lead >= 0xF0 && lead <= 0xF4)
        length = 4, minimum = 0x10000, codePoint = lead & 0x07;
    else
        return 0;
    for (size_t index = 1; index < length; index++) {
        if ((text[index] & 0xC0) != 0x80)
            return 0;
        codePoint = (codePoint << 6) | (text[index] & 0x3F);
    }
    if (codePoint < minimum || codePoint > 0x10FFFF || (codePoint >= 0xD800 && codePoint <= 0xDFFF))
        return 0;
    return length;
}

void alertAppendCleanUtf8(Buffer *out, const char *text)
{
    const unsigned char *cursor = (const unsigned char *)(text ? text : "");
    while (*cursor) {
        size_t length = alertUtf8Length(cursor);
        if (length == 0) {
            bufferAppend(out, "\xEF\xBF\xBD", 3);
            cursor++;
        } else if (length == 1 && (*cursor < 0x20 || *cursor == 0x7F) && *cursor != '\n' &&
                   *cursor != '\t') {
            cursor++;
        } else {
            bufferAppend(out, cursor, length);
            cursor += length;
        }
    }
}

void alertOneLine(const char *text, char *out, size_t size)
{
    size_t used = 0;
    for (const unsigned char *cursor = (const unsigned char *)(text ? text : "");
         *cursor && used + 1 < size; cursor++)
        out[used++] = (*cursor < 0x20 || *cursor == 0x7F) ? ' ' : (char)*cursor;
    if (size)
        out[used] = '\0';
}

void alertDomainOf(const char *host, char *out, size_t size)
{
    size_t used = 0;
    for (const char *cursor = host ? host : ""; *cursor && used + 1 < size; cursor++) {
        char letter = *cursor;
        bool allowed = (letter >= 'a' && letter <= 'z') || (letter >= 'A' && letter <= 'Z') ||
                       (letter >= '0' && letter <= '9') || letter == '-' || letter == '.';
        if (allowed)
            out[used++] = letter;
    }
    if (used == 0)
        snprintf(out, size, "localhost");
    else
        out[used] = '\0';
}

void alertIsoTime(time_t value, char *out, size_t size)
{
    struct tm utc;
    if (!gmtime_r(&value, &utc)) {
        snprintf(out, size, "1970-01-01T00:00:00Z");
        return;
    }
    /* strftime: the compiler cannot prove the ranges of tm fields for snprintf. */
    if (strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &utc) == 0 && size > 0)
        out[0] = '\0';
}

void alertSubject(const Alert *alert, char *out, size_t size)
{
    char code[sizeof(alert->code)];
    char host[sizeof(alert->host)];
    alertOneLine(alert->code[0] ? alert->code : "ALERT", code, sizeof(code));
    alertOneLine(alert->host, host, sizeof(host));
    snprintf(out, size, "[neo4j-backup] %s %s on %s", alertSeverityName(alert->severity), code,
             host);
}

/* ---- webhook body -------------------------------------------------------- */

static json_object *alertJsonString(const char *text)
{
    Buffer clean;
    bufferInit(&clean);
    alertAppendCleanUtf8(&clean, text);
    json_object *value = json_object_new_string_len(clean.length ? (const char *)clean.data : "",
                                                    (int)clean.length);
    bufferFree(&clean);
    return value;
}

ErrCode alertFormatJson(const Alert *alert, Buffer *out)
{
    char isoTime[32];
    char subject[512];
    char text[2048];
    alertIsoTime(alert->time, isoTime, sizeof(isoTime));
    alertSubject(alert, subject, sizeof(subject));
    snprintf(text, sizeof(text), "%s: %s", subject, alert->reason);

    json_object *root = json_object_new_object();
    if (!root)
        memOutOfMemory("json-c object");
    json_object_object_add(root, "source", json_object_new_string("neo4j-backup"));
    json_object_object_add(root, "version", json_object_new_string(NBK_VERSION));
    json_object_object_add(root, "severity", json_object_new_string(alertSeverityName(alert->severity)));
    json_object_object_add(root, "code", alertJsonString(alert->code));
    json_object_object_add(root, "reason", alertJsonString(alert->reason));
    json_object_object_add(root, "action", alertJsonString(alert->action));
    json_object_object_add(root, "host", alertJsonString(alert->host));
    json_object_object_add(root, "backupId",
                           alert->backupId[0] ? alertJsonString(alert->backupId) : NULL);
    json_object_object_add(root, "time", json_object_new_string(isoTime));
    json_object_object_add(root, "timestamp", json_object_new_int64((int64_t)alert->time));
    json_object_object_add(root, "logTail", alert->logTail[0] ? alertJsonString(alert->logTail) : NULL);
    /* Chat webhooks (Slack, Mattermost) show "text" as the message. */
    json_object_object_add(root, "text", alertJsonString(text));
    const char *serialized =
        json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    bufferAppend(out, serialized, strlen(serialized) + 1);
    json_object_put(root);
    return ERR_OK;
}

/* ---- dispatcher ---------------------------------------------------------- */

bool alertSend(const AlertConfig *config, const Alert *alert)
{
    /* The caller usually reports its own error after alerting: keep it intact. */
    ErrDetail saved = errSave();
    bool allDelivered = true;
    int sinks = 0;

    if (config->email.to && config->email.to[0]) {
        sinks++;
        if (!config->email.smtpUrl || !config->email.smtpUrl[0]) {
            logWarn("Alert e-mail not sent: BACKUP_ALERT_EMAIL is set but BACKUP_SMTP_URL is not");
            allDelivered = false;
        } else if (alertSendEmail(&config->email, alert) != ERR_OK) {
            logWarn("Alert e-mail not sent: %s", errLast()->reason);
            allDelivered = false;
        } else {
            logInfo("Alert %s sent by e-mail to %s", alert->code, config->email.to);
        }
    }
    if (config->webhook.url && config->webhook.url[0]) {
        sinks++;
        if (alertSendWebhook(&config->webhook, alert) != ERR_OK) {
            logWarn("Alert webhook not delivered: %s", errLast()->reason);
            allDelivered = false;
        } else {
            logInfo("Alert %s sent to the webhook", alert->code);
        }
    }
    if (sinks == 0)
        logDebug("No alert sink configured (BACKUP_ALERT_EMAIL, BACKUP_ALERT_WEBHOOK); "
                 "alert %s only logged", alert->code);

    errRestore(&saved);
    return allDelivered;
}
