/* Alert e-mail: an RFC 5322 message sent with libcurl's SMTP client.
 * libcurl dot-stuffs the body (a line starting with '.' is sent as "..") and
 * appends the terminating "<CRLF>.<CRLF>" itself, so the message is handed to
 * it as plain text with CRLF line ends. */
#include "alert/alert.h"

#include "alert/alert_internal.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SMTP_MAX_RECIPIENTS 32
#define SMTP_ADDRESS_MAX 320

/* ---- addresses ----------------------------------------------------------- */

/* Extracts the bare address from "addr" or "Display Name <addr>" (length bytes
 * of text) and checks it looks like local@domain with nothing that could break
 * an SMTP command or a header. */
static bool smtpAddressOf(const char *text, size_t length, char *out, size_t size)
{
    while (length > 0 && (*text == ' ' || *text == '\t'))
        text++, length--;
    while (length > 0 && (text[length - 1] == ' ' || text[length - 1] == '\t'))
        length--;
    const char *open = memchr(text, '<', length);
    if (open) {
        const char *close = memchr(open, '>', length - (size_t)(open - text));
        if (!close || close != text + length - 1)
            return false;
        for (const char *name = text; name < open; name++)
            if ((unsigned char)*name < 0x20 || *name == 0x7F)
                return false;
        length = (size_t)(close - open - 1);
        text = open + 1;
    }
    if (length == 0 || length >= size)
        return false;
    const char *at = memchr(text, '@', length);
    if (!at || at == text || at == text + length - 1 || memchr(at + 1, '@', length - (size_t)(at - text) - 1))
        return false;
    for (size_t index = 0; index < length; index++) {
        unsigned char letter = (unsigned char)text[index];
        if (letter <= 0x20 || letter >= 0x7F || strchr("<>,;:\"()[]\\", letter))
            return false;
    }
    memcpy(out, text, length);
    out[length] = '\0';
    return true;
}

typedef struct {
    char addresses[SMTP_MAX_RECIPIENTS][SMTP_ADDRESS_MAX];
    int count;
} SmtpRecipients;

/* Splits BACKUP_ALERT_EMAIL on ',' or ';'. */
static ErrCode smtpParseRecipients(const char *to, SmtpRecipients *out)
{
    out->count = 0;
    const char *cursor = to ? to : "";
    while (*cursor) {
        size_t length = strcspn(cursor, ",;");
        bool blank = strspn(cursor, " \t") >= length;
        if (!blank) {
            if (out->count == SMTP_MAX_RECIPIENTS)
                return errSet(CONFIG_INVALID, "BACKUP_ALERT_EMAIL lists more than %d addresses",
                              SMTP_MAX_RECIPIENTS);
            if (!smtpAddressOf(cursor, length, out->addresses[out->count], SMTP_ADDRESS_MAX))
                return errSet(CONFIG_INVALID, "BACKUP_ALERT_EMAIL: '%.*s' is not an e-mail address",
                              (int)(length > 200 ? 200 : length), cursor);
            out->count++;
        }
        cursor += length;
        if (*cursor)
            cursor++;
    }
    if (out->count == 0)
        return errSet(CONFIG_INVALID, "BACKUP_ALERT_EMAIL is empty: no recipient for the alert");
    return ERR_OK;
}

/* The From header value and the envelope sender. */
static ErrCode smtpSender(const AlertEmailConfig *config, const Alert *alert, char *header,
                          size_t headerSize, char *envelope, size_t envelopeSize)
{
    if (!config->from || !config->from[0]) {
        char domain[256];
        alertDomainOf(alert->host, domain, sizeof(domain));
        snprintf(envelope, envelopeSize, "neo4j-backup@%s", domain);
        snprintf(header, headerSize, "neo4j-backup <%s>", envelope);
        return ERR_OK;
    }
    if (!smtpAddressOf(config->from, strlen(config->from), envelope, envelopeSize))
        return errSet(CONFIG_INVALID, "BACKUP_SMTP_FROM: '%s' is not an e-mail address",
                      config->from);
    bool ascii = true;
    for (const unsigned char *cursor = (const unsigned char *)config->from; *cursor; cursor++)
        ascii = ascii && *cursor < 0x80;
    /* A non-ASCII display name would need RFC 2047; the bare address is enough. */
    if (ascii)
        alertOneLine(config->from, header, headerSize);
    else
        snprintf(header, headerSize, "%s", envelope);
    return ERR_OK;
}

/* ---- message ------------------------------------------------------------- */

static void smtpDateHeader(time_t value, char *out, size_t size)
{
    static const char *const weekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm utc;
    gmtime_r(&value, &utc);
    /* Fixed English names: RFC 5322 dates do not follow the locale. */
    snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", weekdays[utc.tm_wday],
             utc.tm_mday, months[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min,
             utc.tm_sec);
}

/* Subject as is when ASCII, else RFC 2047 encoded words of whole UTF-8 characters. */
static void smtpAppendSubject(Buffer *out, const char *subject)
{
    bool ascii = true;
    for (const unsigned char *cursor = (const unsigned char *)subject; *cursor; cursor++)
        ascii = ascii && *cursor < 0x80;
    bufferAppendF(out, "Subject: ");
    if (ascii) {
        bufferAppendF(out, "%s\r\n", subject);
        return;
    }
    Buffer clean;
    bufferInit(&clean);
    alertAppendCleanUtf8(&clean, subject);
    size_t offset = 0;
    while (offset < clean.length) {
        /* 36 bytes -> 48 base64 characters: a 60-character encoded word, so even
         * the first line with "Subject: " stays within RFC 2047's 76. */
        size_t take = clean.length - offset < 36 ? clean.length - offset : 36;
        while (take > 0 && offset + take < clean.length && (clean.data[offset + take] & 0xC0) == 0x80)
            take--;
        unsigned char encoded[64];
        EVP_EncodeBlock(encoded, clean.data + offset, (int)take);
        bufferAppendF(out, "%s=?UTF-8?B?%s?=", offset ? "\r\n " : "", (const char *)encoded);
        offset += take;
    }
    bufferAppendF(out, "\r\n");
    bufferFree(&clean);
}

static bool smtpNeedsQuotedPrintable(const Buffer *body)
{
    size_t lineLength = 0;
    for (size_t index = 0; index < body->length; index++) {
        if (body->data[index] >= 0x80)
            return true;
        lineLength = body->data[index] == '\n' ? 0 : lineLength + 1;
        if (lineLength > 990)
            return true;
    }
    return false;
}

/* Body lines end in CRLF; quoted-printable (RFC 2045) keeps every line short and
 * 7-bit so any relay passes it unchanged. */
static void smtpAppendBody(Buffer *out, const Buffer *body, bool quotedPrintable)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t lineLength = 0;
    for (size_t index = 0; index < body->length; index++) {
        unsigned char letter = body->data[index];
        if (letter == '\n') {
            bufferAppend(out, "\r\n", 2);
            lineLength = 0;
            continue;
        }
        if (!quotedPrintable) {
            bufferAppendByte(out, letter);
            continue;
        }
        bool lineEnds = index + 1 == body->length || body->data[index + 1] == '\n';
        bool literal = (letter >= 33 && letter <= 126 && letter != '=') ||
                       ((letter == ' ' || letter == '\t') && !lineEnds);
        size_t width = literal ? 1 : 3;
        if (lineLength + width > 75) {
            bufferAppend(out, "=\r\n", 3);
            lineLength = 0;
        }
        if (literal) {
            bufferAppendByte(out, letter);
        } else {
            char escaped[3] = {'=', hex[letter >> 4], hex[letter & 0x0F]};
            bufferAppend(out, escaped, 3);
        }
        lineLength += width;
    }
    if (body->length == 0 || body->data[body->length - 1] != '\n')
        bufferAppend(out, "\r\n", 2);
}

ErrCode alertFormatEmail(const AlertEmailConfig *config, const Alert *alert, Buffer *out)
{
    SmtpRecipients recipients;
    ErrCode code = smtpParseRecipients(config->to, &recipients);
    if (code != ERR_OK)
        return code;
    char fromHeader[512];
    char fromAddress[SMTP_ADDRESS_MAX];
    code = smtpSender(config, alert, fromHeader, sizeof(fromHeader), fromAddress,
                      sizeof(fromAddress));
    if (code != ERR_OK)
        return code;

    char date[64];
    char subject[512];
    char domain[256];
    char stamp[32];
    unsigned char random[8] = {0};
    time_t now = time(NULL);
    smtpDateHeader(now, date, sizeof(date));
    alertSubject(alert, subject, sizeof(subject));
    alertDomainOf(alert->host, domain, sizeof(domain));
    alertIsoTime(now, stamp, sizeof(stamp));
    if (RAND_bytes(random, sizeof(random)) != 1)
        random[0] = (unsigned char)now;   /* uniqueness matters, secrecy does not */

    bufferAppendF(out, "Date: %s\r\n", date);
    bufferAppendF(out, "From: %s\r\n", fromHeader);
    bufferAppendF(out, "To: ");
    for (int index = 0; index < recipients.count; index++)
        bufferAppendF(out, "%s%s", index ? ",\r\n " : "", recipients.addresses[index]);
    bufferAppendF(out, "\r\n");
    smtpAppendSubject(out, subject);
    bufferAppendF(out, "Message-ID: <%.4s%.2s%.2s%.2s%.2s%.2s.", stamp, stamp + 5, stamp + 8,
                  stamp + 11, stamp + 14, stamp + 17);
    for (size_t index = 0; index < sizeof(random); index++)
        bufferAppendF(out, "%02x", random[index]);
    bufferAppendF(out, "@%s>\r\n", domain);
    char codeLine[sizeof(alert->code)];
    alertOneLine(alert->code, codeLine, sizeof(codeLine));
    bufferAppendF(out, "X-Neo4j-Backup-Severity: %s\r\n", alertSeverityName(alert->severity));
    bufferAppendF(out, "X-Neo4j-Backup-Code: %s\r\n", codeLine);
    /* RFC 3834: vacation responders must not answer a machine. */
    bufferAppendF(out, "Auto-Submitted: auto-generated\r\n");
    bufferAppendF(out, "MIME-Version: 1.0\r\n");
    bufferAppendF(out, "Content-Type: text/plain; charset=utf-8\r\n");

    char when[80];
    struct tm utc;
    gmtime_r(&alert->time, &utc);
    snprintf(when, sizeof(when), "%04d-%02d-%02d %02d:%02d:%02d UTC", utc.tm_year + 1900,
             utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    Buffer body;
    bufferInit(&body);
    bufferAppendF(&body, "%s: %s on ", alertSeverityName(alert->severity), codeLine);
    alertAppendCleanUtf8(&body, alert->host);
    bufferAppendF(&body, "\n\nCode:      %s\nReason:    ", codeLine);
    alertAppendCleanUtf8(&body, alert->reason);
    bufferAppendF(&body, "\nAction:    ");
    alertAppendCleanUtf8(&body, alert->action);
    bufferAppendF(&body, "\nHost:      ");
    alertAppendCleanUtf8(&body, alert->host);
    bufferAppendF(&body, "\nBackup ID: ");
    alertAppendCleanUtf8(&body, alert->backupId[0] ? alert->backupId : "(none)");
    bufferAppendF(&body, "\nTime:      %s\n", when);
    if (alert->logTail[0]) {
        bufferAppendF(&body, "\nLast log lines:\n");
        alertAppendCleanUtf8(&body, alert->logTail);
        bufferAppendF(&body, "\n");
    }
    bufferAppendF(&body, "\n-- \nSent automatically by neo4j-backup %s on ", NBK_VERSION);
    alertAppendCleanUtf8(&body, alert->host);
    bufferAppendF(&body, ".\n");

    bool quotedPrintable = smtpNeedsQuotedPrintable(&body);
    bufferAppendF(out, "Content-Transfer-Encoding: %s\r\n\r\n",
                  quotedPrintable ? "quoted-printable" : "7bit");
    smtpAppendBody(out, &body, quotedPrintable);
    bufferFree(&body);
    return ERR_OK;
}

/* ---- delivery ------------------------------------------------------------ */

typedef struct {
    const uint8_t *data;
    size_t length;
    size_t offset;
} SmtpUpload;

static size_t smtpRead(char *destination, size_t size, size_t count, void *userdata)
{
    SmtpUpload *upload = userdata;
    size_t room = size * count;
    size_t left = upload->length - upload->offset;
    size_t take = left < room ? left : room;
    memcpy(destination, upload->data + upload->offset, take);
    upload->offset += take;
    return take;
}

/* The URL to hand to curl: its path is the EHLO name, so when the operator gave
 * none we announce this host instead of curl's default "localhost". */
static char *smtpCurlUrl(const char *url, const char *domain, bool *implicitTls)
{
    CURLU *parsed = curl_url();
    char *scheme = NULL;
    char *path = NULL;
    char *result = NULL;
    if (!parsed || curl_url_set(parsed, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        goto done;
    if (strcasecmp(scheme, "smtp") != 0 && strcasecmp(scheme, "smtps") != 0)
        goto done;
    *implicitTls = strcasecmp(scheme, "smtps") == 0;
    if (curl_url_get(parsed, CURLUPART_PATH, &path, 0) != CURLUE_OK || strcmp(path, "/") == 0 ||
        !path[0]) {
        char newPath[300];
        snprintf(newPath, sizeof(newPath), "/%s", domain);
        curl_url_set(parsed, CURLUPART_PATH, newPath, 0);
    }
    curl_url_get(parsed, CURLUPART_URL, &result, 0);
done:
    curl_free(scheme);
    curl_free(path);
    curl_url_cleanup(parsed);
    return result;
}

ErrCode alertSendEmail(const AlertEmailConfig *config, const Alert *alert)
{
    const char *action = "Check BACKUP_SMTP_URL, BACKUP_SMTP_USER/BACKUP_SMTP_PASSWORD and "
                         "BACKUP_ALERT_EMAIL, and that the mail relay accepts mail from this host";
    char where[512];
    alertRedactUrl(config->smtpUrl, where, sizeof(where));
    if (!config->smtpUrl || !config->smtpUrl[0]) {
        errSet(ALERT_FAILED, "alert e-mail not sent: no SMTP server configured (BACKUP_SMTP_URL)");
        errSetAction("%s", action);
        return ALERT_FAILED;
    }

    SmtpRecipients recipients;
    Buffer message;
    bufferInit(&message);
    char fromHeader[512];
    char fromAddress[SMTP_ADDRESS_MAX];
    if (smtpParseRecipients(config->to, &recipients) != ERR_OK ||
        smtpSender(config, alert, fromHeader, sizeof(fromHeader), fromAddress,
                   sizeof(fromAddress)) != ERR_OK ||
        alertFormatEmail(config, alert, &message) != ERR_OK) {
        char cause[sizeof(errLast()->reason)];
        snprintf(cause, sizeof(cause), "%s", errLast()->reason);
        bufferFree(&message);
        errSet(ALERT_FAILED, "alert e-mail via %s not sent: %s", where, cause);
        errSetAction("%s", action);
        return ALERT_FAILED;
    }

    char domain[256];
    alertDomainOf(alert->host, domain, sizeof(domain));
    bool implicitTls = false;
    alertCurlInit();
    char *curlUrl = smtpCurlUrl(config->smtpUrl, domain, &implicitTls);
    if (!curlUrl) {
        bufferFree(&message);
        errSet(ALERT_FAILED, "alert e-mail not sent: BACKUP_SMTP_URL %s is not an smtp:// or "
               "smtps:// URL", where);
        errSetAction("%s", action);
        return ALERT_FAILED;
    }

    struct curl_slist *recipientList = NULL;
    char bracketed[SMTP_ADDRESS_MAX + 2];
    for (int index = 0; index < recipients.count; index++) {
        snprintf(bracketed, sizeof(bracketed), "<%s>", recipients.addresses[index]);
        recipientList = curl_slist_append(recipientList, bracketed);
    }
    char sender[SMTP_ADDRESS_MAX + 2];
    snprintf(sender, sizeof(sender), "<%s>", fromAddress);

    /* Nothing crosses a network in clear: an opportunistic STARTTLS is
     * stripped by anyone on the path, so it is required unless the relay is
     * on this machine or the operator turned that off; a password forces it. */
    bool hasPassword = config->password && config->password[0];
    bool overNetwork = !alertUrlIsLoopback(config->smtpUrl);
    bool mustEncrypt = config->requireTls || (overNetwork && (!config->allowPlainText || hasPassword));
    long timeoutMs = config->timeoutMs > 0 ? config->timeoutMs : ALERT_DEFAULT_TIMEOUT_MS;
    SmtpUpload upload = {.data = message.data, .length = message.length, .offset = 0};
    char curlError[CURL_ERROR_SIZE] = "";

    ErrCode result = ERR_OK;
    bool startTlsRefused = false;
    CURL *curl = curl_easy_init();
    if (!curl) {
        result = errSet(ALERT_FAILED, "alert e-mail not sent: cannot initialise libcurl");
        goto done;
    }
    curl_easy_setopt(curl, CURLOPT_URL, curlUrl);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, sender);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipientList);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, smtpRead);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_USE_SSL, implicitTls || mustEncrypt ? (long)CURLUSESSL_ALL
                                                                        : (long)CURLUSESSL_TRY);
    if (config->user && config->user[0])
        curl_easy_setopt(curl, CURLOPT_USERNAME, config->user);
    if (hasPassword)
        curl_easy_setopt(curl, CURLOPT_PASSWORD, config->password);
    if (config->caFile && config->caFile[0])
        curl_easy_setopt(curl, CURLOPT_CAINFO, config->caFile);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeoutMs);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeoutMs);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curlError);

    CURLcode status = curl_easy_perform(curl);
    if (status != CURLE_OK) {
        long smtpReply = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &smtpReply);
        char replyText[48] = "";
        if (smtpReply > 0)
            snprintf(replyText, sizeof(replyText), ", server replied %ld", smtpReply);
        char reason[sizeof(errLast()->reason)];
        snprintf(reason, sizeof(reason), "alert e-mail to %s via %s failed: %s (%s%s)", config->to,
                 where, curl_easy_strerror(status), curlError[0] ? curlError : "no detail",
                 replyText);
        alertScrubSecret(reason, config->password);
        startTlsRefused = status == CURLE_USE_SSL_FAILED && !implicitTls;
        /* The log line of a failed alert shows the reason only: name the way out there. */
        result = errSet(ALERT_FAILED, "%s%s", reason,
                        startTlsRefused ? "; the relay does not offer STARTTLS, required for a relay not on "
                                          "loopback (BACKUP_SMTP_REQUIRE_TLS)"
                                        : "");
    }

done:
    if (startTlsRefused)
        errSetAction("The relay %s does not offer STARTTLS, which a relay that is not on loopback must: use "
                     "smtps://, a relay that offers STARTTLS, or set BACKUP_SMTP_REQUIRE_TLS=false to send in "
                     "clear text",
                     where);
    else if (result != ERR_OK)
        errSetAction("%s", action);
    if (curl)
        curl_easy_cleanup(curl);
    curl_slist_free_all(recipientList);
    curl_free(curlUrl);
    bufferFree(&message);
    return result;
}
