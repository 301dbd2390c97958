/* Alerts: tell an operator, away from the terminal, that something needs them.
 *
 * Sinks: e-mail over SMTP (libcurl; smtp:// with STARTTLS when the server offers
 * it, or smtps://) and an HTTP webhook receiving JSON. alertSend() fans one
 * Alert out to every configured sink and never fails the caller: a sink that
 * cannot be reached is logged as a warning.
 *
 * Ownership: an Alert holds its text by value (fixed arrays, truncated when too
 * long). Config structs only borrow their strings; the caller keeps them alive
 * for the call. No function keeps a pointer after it returns.
 * Secrets (SMTP password, webhook token) never appear in a reason, a log line
 * or a message. */
#ifndef NBK_ALERT_ALERT_H
#define NBK_ALERT_ALERT_H

#include "common/buffer.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef enum {
    ALERT_CRITICAL,   /* operator action needed now (e.g. scheduler paused) */
    ALERT_ERROR,      /* an operation failed */
    ALERT_WARNING,    /* something degraded, nothing lost yet */
} AlertSeverity;

typedef struct {
    AlertSeverity severity;
    char code[64];          /* contract code name, e.g. "BACKUP_NO_SPACE" */
    char reason[1024];      /* one line: what went wrong */
    char action[512];       /* what the operator should do */
    char host[256];         /* gethostname() of the machine that raised it */
    char backupId[64];      /* may be empty */
    time_t time;            /* when it happened (UTC seconds) */
    char logTail[8192];     /* last log lines, may be empty */
} Alert;

typedef struct {
    const char *smtpUrl;    /* "smtp://host:587" (STARTTLS when offered) or "smtps://host:465" */
    const char *from;       /* From address; NULL/empty = "neo4j-backup@<host>" */
    const char *to;         /* BACKUP_ALERT_EMAIL: one address or a comma-separated list */
    const char *user;       /* optional SMTP AUTH user */
    const char *password;   /* optional, secret */
    const char *caFile;     /* optional PEM bundle to verify the server (self-signed relays) */
    bool requireTls;        /* smtp:// only: refuse to send if STARTTLS is not offered, even on loopback */
    /* smtp:// to a relay not on loopback: STARTTLS only when offered
     * (BACKUP_SMTP_REQUIRE_TLS=false); without it, STARTTLS is required
     * there. A password still forces it. */
    bool allowPlainText;
    long timeoutMs;         /* whole exchange; 0 = 30000 */
} AlertEmailConfig;

typedef struct {
    const char *url;        /* http:// or https:// endpoint receiving a JSON POST */
    const char *token;      /* optional bearer token, secret */
    const char *caFile;     /* optional PEM bundle */
    long timeoutMs;         /* 0 = 30000 */
} AlertWebhookConfig;

typedef struct {
    AlertEmailConfig email;      /* used when email.to and email.smtpUrl are set */
    AlertWebhookConfig webhook;  /* used when webhook.url is set */
} AlertConfig;

const char *alertSeverityName(AlertSeverity severity);  /* "CRITICAL", "ERROR", "WARNING" */

/* Fills *out: the given texts (NULL = empty), this host's name, time = now,
 * empty backup id and log tail. */
void alertInit(Alert *out, AlertSeverity severity, const char *code, const char *reason,
               const char *action);
/* Same, from an error detail (errLast()); an empty action becomes the code's
 * default action. */
void alertInitFromError(Alert *out, AlertSeverity severity, const ErrDetail *detail);
void alertSetBackupId(Alert *alert, const char *backupId);
/* Loads the last maxLines lines of a log file (e.g. the scheduler's tee file)
 * into alert->logTail, keeping whole lines that fit. A missing file leaves it
 * empty and returns BACKUP_IO_FAILED. */
ErrCode alertLoadLogTail(Alert *alert, const char *path, size_t maxLines);

/* True when at least one sink is configured. */
bool alertConfigured(const AlertConfig *config);

/* The complete RFC 5322 message (CRLF line ends, no dot-stuffing: libcurl does
 * that on the wire) appended to *out. Exposed for tests and --dry-run. */
ErrCode alertFormatEmail(const AlertEmailConfig *config, const Alert *alert, Buffer *out);
/* The webhook's JSON body, NUL-terminated, appended to *out. */
ErrCode alertFormatJson(const Alert *alert, Buffer *out);

/* Each returns ERR_OK, or ALERT_FAILED with errLast() naming the sink and cause. */
ErrCode alertSendEmail(const AlertEmailConfig *config, const Alert *alert);
ErrCode alertSendWebhook(const AlertWebhookConfig *config, const Alert *alert);

/* Sends to every configured sink, logs each failure with logWarn, and returns
 * true when all configured sinks accepted it (true when none is configured).
 * The caller's errLast() code, reason and action are preserved. */
bool alertSend(const AlertConfig *config, const Alert *alert);

#endif
