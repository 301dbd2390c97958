/* Alert webhook: one JSON POST (body from alertFormatJson) per alert. Redirects
 * are not followed and any status outside 2xx is a failure, so a webhook that
 * moved is noticed rather than silently dropping alerts. */
#include "alert/alert.h"

#include "alert/alert_internal.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char text[256];   /* start of the response body, for the failure reason */
    size_t length;
} WebhookResponse;

static size_t webhookWrite(char *data, size_t size, size_t count, void *userdata)
{
    WebhookResponse *response = userdata;
    size_t total = size * count;
    size_t room = sizeof(response->text) - 1 - response->length;
    size_t take = total < room ? total : room;
    memcpy(response->text + response->length, data, take);
    response->length += take;
    response->text[response->length] = '\0';
    return total;
}

/* Chat webhooks carry their secret in the path or query ("/services/T0/B0/XyZ"):
 * mask both wherever a server's answer or curl's message repeats them. */
static void webhookScrubUrlSecrets(char *reason, const char *url)
{
    CURLU *parsed = curl_url();
    if (!parsed || curl_url_set(parsed, CURLUPART_URL, url, 0) != CURLUE_OK) {
        curl_url_cleanup(parsed);
        return;
    }
    static const CURLUPart parts[] = {CURLUPART_PATH, CURLUPART_QUERY};
    for (size_t index = 0; index < sizeof(parts) / sizeof(parts[0]); index++) {
        char *text = NULL;
        if (curl_url_get(parsed, parts[index], &text, 0) == CURLUE_OK && strlen(text) > 1)
            alertScrubSecret(reason, text);
        curl_free(text);
    }
    curl_url_cleanup(parsed);
}

ErrCode alertSendWebhook(const AlertWebhookConfig *config, const Alert *alert)
{
    const char *action = "Check BACKUP_ALERT_WEBHOOK and that the endpoint is reachable from "
                         "this host";
    char where[512];
    alertRedactUrl(config->url, where, sizeof(where));
    if (!config->url || !config->url[0]) {
        errSet(ALERT_FAILED, "alert webhook not called: no URL configured (BACKUP_ALERT_WEBHOOK)");
        errSetAction("%s", action);
        return ALERT_FAILED;
    }
    if (strncasecmp(config->url, "http://", 7) != 0 && strncasecmp(config->url, "https://", 8) != 0) {
        errSet(ALERT_FAILED, "alert webhook not called: BACKUP_ALERT_WEBHOOK %s is not an "
               "http:// or https:// URL", where);
        errSetAction("%s", action);
        return ALERT_FAILED;
    }

    Buffer body;
    bufferInit(&body);
    if (alertFormatJson(alert, &body) != ERR_OK) {
        bufferFree(&body);
        return errSet(ALERT_FAILED, "alert webhook %s not called: %s", where, errLast()->reason);
    }

    alertCurlInit();
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json, */*");
    headers = curl_slist_append(headers, "User-Agent: neo4j-backup/" NBK_VERSION);
    char authorization[1024] = "";
    if (config->token && config->token[0]) {
        snprintf(authorization, sizeof(authorization), "Authorization: Bearer %s", config->token);
        headers = curl_slist_append(headers, authorization);
    }
    long timeoutMs = config->timeoutMs > 0 ? config->timeoutMs : ALERT_DEFAULT_TIMEOUT_MS;
    WebhookResponse response = {.length = 0};
    char curlError[CURL_ERROR_SIZE] = "";
    char reason[sizeof(errLast()->reason)] = "";

    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(reason, sizeof(reason), "alert webhook %s not called: cannot initialise libcurl",
                 where);
    } else {
        curl_easy_setopt(curl, CURLOPT_URL, config->url);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)body.data);
        /* The buffer carries a trailing NUL that is not part of the JSON. */
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)(body.length - 1));
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, webhookWrite);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        if (config->caFile && config->caFile[0])
            curl_easy_setopt(curl, CURLOPT_CAINFO, config->caFile);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeoutMs);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeoutMs);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curlError);

        CURLcode status = curl_easy_perform(curl);
        long httpStatus = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &httpStatus);
        if (status != CURLE_OK) {
            snprintf(reason, sizeof(reason), "alert webhook %s failed: %s (%s)", where,
                     curl_easy_strerror(status), curlError[0] ? curlError : "no detail");
        } else if (httpStatus < 200 || httpStatus >= 300) {
            char snippet[sizeof(response.text)];
            alertOneLine(response.text, snippet, sizeof(snippet));
            snprintf(reason, sizeof(reason), "alert webhook %s answered HTTP %ld%s%s", where,
                     httpStatus, snippet[0] ? ": " : "", snippet);
        }
        curl_easy_cleanup(curl);
    }
    curl_slist_free_all(headers);
    bufferFree(&body);
    /* The header held the token: do not leave it on the stack. */
    explicit_bzero(authorization, sizeof(authorization));

    if (!reason[0])
        return ERR_OK;
    alertScrubSecret(reason, config->token);
    webhookScrubUrlSecrets(reason, config->url);
    errSet(ALERT_FAILED, "%s", reason);
    errSetAction("%s", action);
    return ALERT_FAILED;
}
