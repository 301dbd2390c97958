/* Helpers shared by the alert sinks (alert.c, smtp.c, webhook.c); not public. */
#ifndef NBK_ALERT_ALERT_INTERNAL_H
#define NBK_ALERT_ALERT_INTERNAL_H

#include "alert/alert.h"

#include <stdbool.h>
#include <stddef.h>

#define ALERT_DEFAULT_TIMEOUT_MS 30000L

/* curl_global_init exactly once per process. */
void alertCurlInit(void);

/* "scheme://host:port" of url, without user info, path or query, for messages.
 * Writes "(invalid URL)" when url cannot be parsed. */
void alertRedactUrl(const char *url, char *out, size_t size);
/* True when url's host is a loopback name or address. */
bool alertUrlIsLoopback(const char *url);
/* Replaces every occurrence of secret in text (NUL-terminated, in place) by "***". */
void alertScrubSecret(char *text, const char *secret);

/* Appends text as valid UTF-8: invalid bytes become U+FFFD, CR and other control
 * characters except LF and TAB are dropped. */
void alertAppendCleanUtf8(Buffer *out, const char *text);
/* Copies text to out as one header-safe line: control characters become spaces. */
void alertOneLine(const char *text, char *out, size_t size);
/* A host name reduced to letters, digits, '-' and '.', for Message-ID and EHLO. */
void alertDomainOf(const char *host, char *out, size_t size);

/* "2025-12-27T15:30:00Z" */
void alertIsoTime(time_t value, char *out, size_t size);
/* "[neo4j-backup] CRITICAL BACKUP_NO_SPACE on host" */
void alertSubject(const Alert *alert, char *out, size_t size);

#endif
