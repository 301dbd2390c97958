/* The status page at /: one self-contained HTML document (inline CSS, no
 * script, no external asset) that reads well on a phone. It shows only what
 * the JSON API shows: no configuration values, no secrets. */
#include "api/api_internal.h"

#include "common/format.h"
#include "common/timeutil.h"
#include "schedule/cron.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define API_PAGE_REFRESH_SECONDS 60
#define API_PAGE_JOBS_SHOWN 10
/* A scheduled backup later than its due time by this much is overdue. */
#define API_OVERDUE_GRACE_SECONDS 3600

static const char apiPageStyle[] =
    ":root{color-scheme:light dark;--bg:#f6f7f9;--fg:#1d2330;--muted:#5d6675;--card:#fff;--line:#dde1e7;"
    "--ok:#1b7f3b;--warn:#9a6700;--bad:#c62828;--okbg:#e6f4ea;--warnbg:#fff4d6;--badbg:#fde7e7;"
    "--accent:#2f6fdb;--accentbg:#e3ecfb;--diff:#c2410c}"
    "@media (prefers-color-scheme:dark){:root{--bg:#12151b;--fg:#e6e9ef;--muted:#9aa3b2;--card:#1b2029;"
    "--line:#2c3340;--okbg:#133321;--warnbg:#3a2e0b;--badbg:#3d1717;--ok:#5fd38a;--warn:#f0c24b;--bad:#ff7b7b;"
    "--accent:#7aa7ff;--accentbg:#1c2a45;--diff:#ffa657}}"
    "*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "background:var(--bg);color:var(--fg)}header,main,footer{max-width:1100px;margin:0 auto;padding:12px 16px}"
    "h1{font-size:1.4rem;margin:8px 0 2px}h2{font-size:1.1rem;margin:22px 0 8px}h3{font-size:.8rem;margin:0 0 4px;"
    "text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}.sub{color:var(--muted);margin:0;"
    "font-size:.85rem}code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}"
    ".alerts{list-style:none;padding:0;margin:0}.alert{padding:10px 12px;border-radius:8px;margin:6px 0;"
    "border-left:4px solid}.alert.crit{background:var(--badbg);border-color:var(--bad)}.alert.warn{"
    "background:var(--warnbg);border-color:var(--warn)}.allok{padding:10px 12px;border-radius:8px;"
    "background:var(--okbg);border-left:4px solid var(--ok);margin:6px 0}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:10px;margin-top:14px}"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px}"
    ".big{font-size:1.25rem;font-weight:600;margin:0}.card p{margin:2px 0}.muted{color:var(--muted)}"
    "table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);"
    "border-radius:10px;overflow:hidden}th,td{text-align:left;padding:8px 10px;border-bottom:1px solid var(--line);"
    "vertical-align:top}th{font-size:.8rem;color:var(--muted);font-weight:600}tr:last-child td{border-bottom:0}"
    ".badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:.8rem;font-weight:600;"
    "white-space:nowrap}.b-ok{background:var(--okbg);color:var(--ok)}.b-warn{background:var(--warnbg);"
    "color:var(--warn)}.b-bad{background:var(--badbg);color:var(--bad)}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:10px}"
    ".chart{margin:0}.chart svg{display:block;width:100%;height:auto}.chart .grid{stroke:var(--line);"
    "stroke-width:1}.chart .axis{fill:var(--muted);font-size:11px}.chart .line{fill:none;stroke:var(--accent);"
    "stroke-width:2}.chart .dot{fill:var(--accent)}.chart .area{fill:var(--accentbg);stroke:var(--accent);"
    "stroke-width:1.5}.chart .bar{fill:var(--accent)}.chart .line.diff{stroke:var(--diff);stroke-dasharray:4 3}"
    ".chart .dot.diff{fill:var(--diff)}.legend{font-size:.8rem;margin:4px 0 0}.legend .key{color:var(--accent)}"
    ".legend .key.diff{color:var(--diff)}"
    "footer{color:var(--muted);font-size:.8rem;display:flex;gap:12px;align-items:center;flex-wrap:wrap}"
    "button{font:inherit;padding:6px 12px;border-radius:6px;border:1px solid var(--line);background:var(--card);"
    "color:var(--fg)}input{font:inherit;padding:8px;border-radius:6px;border:1px solid var(--line);width:100%;"
    "max-width:420px;background:var(--card);color:var(--fg)}"
    "@media (max-width:640px){table,thead,tbody,tr,td{display:block}thead{display:none}tr{border-bottom:1px solid "
    "var(--line);padding:6px 0}td{border:0;padding:3px 10px}td::before{content:attr(data-label);display:inline-block;"
    "min-width:6.5em;color:var(--muted);font-size:.8rem}}";

static void apiPageText(Buffer *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats, then escapes: every dynamic text goes through here or apiHtmlEscape. */
static void apiPageText(Buffer *out, const char *fmt, ...)
{
    char text[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);
    apiHtmlEscape(out, text);
}

static void apiPageRaw(Buffer *out, const char *html)
{
    bufferAppend(out, html, strlen(html));
}

void apiHtmlEscape(Buffer *out, const char *text)
{
    for (const char *cursor = text; *cursor; cursor++) {
        switch (*cursor) {
        case '&': apiPageRaw(out, "&amp;"); break;
        case '<': apiPageRaw(out, "&lt;"); break;
        case '>': apiPageRaw(out, "&gt;"); break;
        case '"': apiPageRaw(out, "&quot;"); break;
        case '\'': apiPageRaw(out, "&#39;"); break;
        default: bufferAppendByte(out, (uint8_t)*cursor);
        }
    }
}

/* "just now", "5 min ago", "3 h ago", "2 days ago" (or "in ..." ahead). */
static const char *apiRelativeTime(int64_t when, int64_t now, char *out, size_t size)
{
    int64_t delta = now - when;
    bool future = delta < 0;
    int64_t seconds = future ? -delta : delta;
    char amount[48];
    if (seconds < 60) {
        snprintf(out, size, "%s", future ? "in less than a minute" : "just now");
        return out;
    }
    if (seconds < 3600)
        snprintf(amount, sizeof(amount), "%" PRId64 " min", seconds / 60);
    else if (seconds < 2 * 86400)
        snprintf(amount, sizeof(amount), "%" PRId64 " h", seconds / 3600);
    else
        snprintf(amount, sizeof(amount), "%" PRId64 " days", seconds / 86400);
    snprintf(out, size, future ? "in %s" : "%s ago", amount);
    return out;
}

static void apiPageHead(Buffer *out, const char *title, bool refresh)
{
    apiPageRaw(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    if (refresh)
        bufferAppendF(out, "<meta http-equiv=\"refresh\" content=\"%d\">", API_PAGE_REFRESH_SECONDS);
    apiPageRaw(out, "<title>");
    apiHtmlEscape(out, title);
    apiPageRaw(out, "</title><style>");
    apiPageRaw(out, apiPageStyle);
    apiPageRaw(out, "</style></head><body>\n");
}

static void apiPageFinish(ApiResponse *response, unsigned status)
{
    apiPageRaw(&response->body, "</body></html>\n");
    response->status = status;
    response->contentType = "text/html; charset=utf-8";
    response->html = true;
}

/* ---- alerts ------------------------------------------------------------------ */

static void apiAlert(Buffer *out, size_t *count, bool critical, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void apiAlert(Buffer *out, size_t *count, bool critical, const char *fmt, ...)
{
    char text[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);
    if (*count == 0)
        apiPageRaw(out, "<ul class=\"alerts\">");
    (*count)++;
    apiPageRaw(out, critical ? "<li class=\"alert crit\"><strong>Critical:</strong> "
                             : "<li class=\"alert warn\"><strong>Warning:</strong> ");
    apiHtmlEscape(out, text);
    apiPageRaw(out, "</li>");
}

static void apiPageAlerts(ApiServer *server, const ApiSnapshot *snapshot, Buffer *out)
{
    size_t count = 0;
    char text[TIME_TEXT_SIZE];
    const SchedState *scheduler = &snapshot->scheduler;
    if (scheduler->paused) {
        timeFormatDisplay(scheduler->pausedAt, text);
        apiAlert(out, &count, true,
                 "The scheduler is paused since %s: %s. Fix the cause, then run neo4j-backup --resume "
                 "(or POST /api/v1/scheduler/resume).",
                 text, scheduler->pauseReason);
    } else if (scheduler->consecutiveFailures > 0) {
        apiAlert(out, &count, false, "%d scheduled backup%s failed in a row; last error %s: %s",
                 scheduler->consecutiveFailures, scheduler->consecutiveFailures == 1 ? "" : "s",
                 scheduler->lastErrorCode, scheduler->lastError);
    }
    if (snapshot->haveScheduler && !snapshot->schedulerRunning)
        apiAlert(out, &count, false, "No scheduler is running for this storage path (start neo4j-backup --schedule).");
    if (snapshot->newestValid < 0) {
        apiAlert(out, &count, true, "There is no valid backup in the catalog.");
    } else if (snapshot->haveScheduler) {
        const char *expression = cfgGet(server->config, CFG_BACKUP_SCHEDULE);
        CronSchedule schedule;
        time_t due = 0;
        int64_t newest = snapshot->list.entries[snapshot->newestValid].created;
        if (expression && cronParse(expression, &schedule) == ERR_OK &&
            cronNext(&schedule, (time_t)newest, &due) == ERR_OK &&
            (int64_t)due + API_OVERDUE_GRACE_SECONDS < snapshot->now) {
            timeFormatDisplay((int64_t)due, text);
            apiAlert(out, &count, false, "The newest valid backup is overdue: the next one was due at %s.", text);
        }
    }
    if (snapshot->corruptedCount)
        apiAlert(out, &count, true, "%zu backup%s failed validation (CORRUPTED).", snapshot->corruptedCount,
                 snapshot->corruptedCount == 1 ? "" : "s");
    if (snapshot->incompleteCount)
        apiAlert(out, &count, true, "%zu backup%s lack%s the archive file (INCOMPLETE).", snapshot->incompleteCount,
                 snapshot->incompleteCount == 1 ? "" : "s", snapshot->incompleteCount == 1 ? "s" : "");
    if (snapshot->damagedCount)
        apiAlert(out, &count, true, "%zu backup%s %s an unreadable manifest (DAMAGED).", snapshot->damagedCount,
                 snapshot->damagedCount == 1 ? "" : "s", snapshot->damagedCount == 1 ? "has" : "have");
    if (snapshot->failedCount)
        apiAlert(out, &count, false, "%zu failed backup%s kept for diagnosis.", snapshot->failedCount,
                 snapshot->failedCount == 1 ? "" : "s");
    if (snapshot->haveSpace && snapshot->space.freePercent < (double)snapshot->minFreePercent)
        apiAlert(out, &count, true,
                 "Only %.1f%% of the storage file system is free (BACKUP_MIN_FREE_PERCENT is %" PRId64
                 "%%): backups will fail until space is freed.",
                 snapshot->space.freePercent, snapshot->minFreePercent);
    if (snapshot->recovery.state == RECOVERY_FAILED)
        apiAlert(out, &count, false, "The last restore (%s into %s) failed: %s", snapshot->recovery.backupId,
                 snapshot->recovery.target, snapshot->recovery.reason[0] ? snapshot->recovery.reason : "see the log");
    if (snapshot->recoveryInterrupted)
        apiAlert(out, &count, false, "A restore of %s into %s was interrupted (its process is gone).",
                 snapshot->recovery.backupId, snapshot->recovery.target);
    if (count)
        apiPageRaw(out, "</ul>");
    else
        apiPageRaw(out, "<p class=\"allok\">No alerts: nothing needs attention.</p>");
}

/* ---- cards --------------------------------------------------------------------- */

static void apiCardBegin(Buffer *out, const char *title)
{
    apiPageRaw(out, "<div class=\"card\"><h3>");
    apiHtmlEscape(out, title);
    apiPageRaw(out, "</h3>");
}

static void apiCardLine(Buffer *out, const char *cssClass, const char *text)
{
    bufferAppendF(out, "<p class=\"%s\">", cssClass);
    apiHtmlEscape(out, text);
    apiPageRaw(out, "</p>");
}

static void apiPageCards(ApiServer *server, const ApiSnapshot *snapshot, Buffer *out)
{
    char text[512];
    char when[TIME_TEXT_SIZE];
    char relative[64];
    char size[FORMAT_TEXT_SIZE];
    char seconds[FORMAT_TEXT_SIZE];
    apiPageRaw(out, "<section class=\"cards\" aria-label=\"Summary\">");

    apiCardBegin(out, "Last backup");
    if (snapshot->newestValid >= 0) {
        const CatEntry *entry = &snapshot->list.entries[snapshot->newestValid];
        apiCardLine(out, "big", apiRelativeTime(entry->created, snapshot->now, relative, sizeof(relative)));
        apiPageRaw(out, "<p><code>");
        apiHtmlEscape(out, entry->id);
        apiPageRaw(out, "</code></p>");
        snprintf(text, sizeof(text), "%s, %s", fmtSize(size, sizeof(size), entry->manifest->archive.sizeCompressed),
                 fmtDuration(seconds, sizeof(seconds), entry->manifest->durationSeconds));
        apiCardLine(out, "muted", text);
    } else {
        apiCardLine(out, "big", "none");
    }
    apiPageRaw(out, "</div>");

    apiCardBegin(out, "Next scheduled run");
    const SchedState *scheduler = &snapshot->scheduler;
    if (snapshot->schedulerRunning && scheduler->paused) {
        apiCardLine(out, "big", "none (paused)");
    } else if (snapshot->schedulerRunning && scheduler->nextRun > 0) {
        apiCardLine(out, "big", apiRelativeTime(scheduler->nextRun, snapshot->now, relative, sizeof(relative)));
        timeFormatDisplay(scheduler->nextRun, when);
        snprintf(text, sizeof(text), "%s%s", when, scheduler->nextIsRetry ? " (retry)" : "");
        apiCardLine(out, "muted", text);
    } else {
        apiCardLine(out, "big", "no scheduler running");
    }
    const char *expression = cfgGet(server->config, CFG_BACKUP_SCHEDULE);
    CronSchedule schedule;
    if (expression && cronParse(expression, &schedule) == ERR_OK) {
        char description[256];
        snprintf(text, sizeof(text), "Schedule: %s", cronDescribe(&schedule, description, sizeof(description)));
        apiCardLine(out, "muted", text);
    }
    apiPageRaw(out, "</div>");

    apiCardBegin(out, "Last restore test");
    const RecoveryStatus *recovery = &snapshot->recovery;
    switch (recovery->state) {
    case RECOVERY_NOT_RECOVERING: apiCardLine(out, "big", "never"); break;
    case RECOVERY_SUCCESS: apiCardLine(out, "big", recovery->promoted ? "promoted" : "passed"); break;
    case RECOVERY_FAILED: apiCardLine(out, "big", "failed"); break;
    default:
        apiCardLine(out, "big", snapshot->recoveryInterrupted ? "interrupted" : "in progress");
        break;
    }
    if (recovery->state != RECOVERY_NOT_RECOVERING) {
        snprintf(text, sizeof(text), "%s into %s, %s", recovery->backupId, recovery->target,
                 apiRelativeTime(recovery->since, snapshot->now, relative, sizeof(relative)));
        apiCardLine(out, "muted", text);
    }
    apiPageRaw(out, "</div>");

    apiCardBegin(out, "Storage");
    snprintf(text, sizeof(text), "%zu backup%s", snapshot->list.count, snapshot->list.count == 1 ? "" : "s");
    apiCardLine(out, "big", text);
    snprintf(text, sizeof(text), "%s stored", fmtSize(size, sizeof(size), snapshot->totalBytes));
    apiCardLine(out, "muted", text);
    if (snapshot->haveSpace) {
        snprintf(text, sizeof(text), "%s free (%.0f%%)", fmtSize(size, sizeof(size), snapshot->space.availableBytes),
                 snapshot->space.freePercent);
        apiCardLine(out, "muted", text);
    }
    apiPageRaw(out, "</div></section>");
}

/* ---- tables ---------------------------------------------------------------------- */

static void apiCell(Buffer *out, const char *label, const char *text)
{
    apiPageRaw(out, "<td data-label=\"");
    apiHtmlEscape(out, label);
    apiPageRaw(out, "\">");
    apiHtmlEscape(out, text);
    apiPageRaw(out, "</td>");
}

/* Green only when the archive agrees with the manifest (catEntryUsable). */
static const char *apiStatusBadgeClass(const CatEntry *entry)
{
    return catEntryUsable(entry) ? "b-ok" : "b-bad";
}

static void apiPageBackups(const ApiSnapshot *snapshot, Buffer *out)
{
    apiPageRaw(out, "<h2>Backups</h2>");
    if (snapshot->list.count == 0) {
        apiPageRaw(out, "<p class=\"muted\">No backups yet.</p>");
        return;
    }
    apiPageRaw(out, "<table class=\"backups\"><thead><tr><th>Backup</th><th>Status</th><th>Age</th><th>Size</th>"
                    "<th>Graph</th><th>Expires</th></tr></thead><tbody>");
    char text[256];
    char relative[64];
    char size[FORMAT_TEXT_SIZE];
    for (size_t index = 0; index < snapshot->list.count; index++) {
        const CatEntry *entry = &snapshot->list.entries[index];
        const Manifest *manifest = entry->manifest;
        const RetDecision *decision = &snapshot->decisions[index];
        apiPageRaw(out, "<tr><td data-label=\"Backup\"><code>");
        apiHtmlEscape(out, entry->id);
        apiPageRaw(out, "</code></td><td data-label=\"Status\">");
        bufferAppendF(out, "<span class=\"badge %s\">", apiStatusBadgeClass(entry));
        apiHtmlEscape(out, catEntryStatus(entry));
        apiPageRaw(out, "</span>");
        if (manifest && manifest->keep)
            apiPageRaw(out, " <span class=\"badge b-warn\">kept</span>");
        if (manifest && manifest->encryption.present)
            apiPageRaw(out, " <span class=\"badge\">encrypted</span>");
        if (manifest && manifestIsDiff(manifest)) {
            CatChainInfo chain;
            catListChainInfo(&snapshot->list, index, &chain);
            apiPageRaw(out, " <span class=\"badge\" title=\"");
            snprintf(text, sizeof(text), "of %s; chain of %zu backups, %s", chain.parentId ? chain.parentId : "",
                     chain.links, fmtSize(size, sizeof(size), chain.chainBytes));
            apiHtmlEscape(out, text);
            apiPageRaw(out, "\">differential</span>");
            if (chain.mixedKeys)
                apiPageRaw(out, " <span class=\"badge b-warn\">chain mixes keys</span>");
        }
        apiPageRaw(out, "</td>");
        apiCell(out, "Age", apiRelativeTime(entry->created, snapshot->now, relative, sizeof(relative)));
        apiCell(out, "Size", manifest ? fmtSize(size, sizeof(size), manifest->archive.sizeCompressed)
                                      : fmtSize(size, sizeof(size), entry->diskBytes));
        if (manifest)
            snprintf(text, sizeof(text), "%" PRIu64 " nodes, %" PRIu64 " relationships", manifest->stats.nodes,
                     manifest->stats.relationships);
        else
            snprintf(text, sizeof(text), "-");
        apiCell(out, "Graph", text);
        if (decision->expires <= 0)
            snprintf(text, sizeof(text), "never (kept)");
        else
            apiRelativeTime(decision->expires, snapshot->now, text, sizeof(text));
        apiCell(out, "Expires", text);
        apiPageRaw(out, "</tr>");
    }
    apiPageRaw(out, "</tbody></table>");
}

static void apiPageJobs(ApiServer *server, const ApiSnapshot *snapshot, Buffer *out)
{
    ApiJobInfo jobs[API_PAGE_JOBS_SHOWN];
    size_t count = apiJobsList(server->jobs, jobs, API_PAGE_JOBS_SHOWN);
    if (count == 0)
        return;
    apiPageRaw(out, "<h2>Recent API jobs</h2><table class=\"jobs\"><thead><tr><th>Job</th><th>Kind</th>"
                    "<th>Backup</th><th>State</th><th>Started</th></tr></thead><tbody>");
    char relative[64];
    for (size_t index = 0; index < count; index++) {
        const ApiJobInfo *job = &jobs[index];
        apiPageRaw(out, "<tr>");
        apiCell(out, "Job", job->id);
        apiCell(out, "Kind", apiJobKindName(job->request.kind));
        apiCell(out, "Backup", job->request.backupId[0] ? job->request.backupId
                               : job->resultBackupId[0] ? job->resultBackupId
                                                        : "-");
        apiPageRaw(out, "<td data-label=\"State\">");
        bufferAppendF(out, "<span class=\"badge %s\">",
                      job->state == API_JOB_SUCCEEDED ? "b-ok" : job->state == API_JOB_FAILED ? "b-bad" : "b-warn");
        apiHtmlEscape(out, apiJobStateName(job->state));
        apiPageRaw(out, "</span>");
        if (job->state == API_JOB_FAILED)
            apiPageText(out, " %s", job->errorCode);
        apiPageRaw(out, "</td>");
        apiCell(out, "Started", apiRelativeTime(job->created, snapshot->now, relative, sizeof(relative)));
        apiPageRaw(out, "</tr>");
    }
    apiPageRaw(out, "</tbody></table>");
}

void apiStatusPage(ApiServer *server, const ApiSnapshot *snapshot, ApiResponse *response)
{
    Buffer *out = &response->body;
    bufferClear(out);
    apiPageHead(out, "Neo4j backups", true);
    char now[TIME_TEXT_SIZE];
    timeFormatDisplay(snapshot->now, now);
    apiPageRaw(out, "<header><h1>Neo4j backups</h1><p class=\"sub\">");
    apiPageText(out, "%s · refreshes every %d s", now, API_PAGE_REFRESH_SECONDS);
    apiPageRaw(out, "</p></header>\n<main><h2>Alerts</h2>");
    apiPageAlerts(server, snapshot, out);
    apiPageCards(server, snapshot, out);
    apiPageCharts(snapshot, out);
    apiPageBackups(snapshot, out);
    apiPageJobs(server, snapshot, out);
    apiPageRaw(out, "</main>\n<footer><span>");
    apiPageText(out, "neo4j-backup %s · JSON at /api/v1 · metrics at /metrics", NBK_VERSION);
    apiPageRaw(out, "</span>");
    if (server->token)
        apiPageRaw(out, "<form method=\"post\" action=\"/logout\"><button type=\"submit\">Log out</button></form>");
    apiPageRaw(out, "</footer>\n");
    apiPageFinish(response, 200);
}

void apiLoginPage(ApiServer *server, bool failed, ApiResponse *response)
{
    (void)server;
    Buffer *out = &response->body;
    bufferClear(out);
    apiPageHead(out, "Neo4j backups: sign in", false);
    apiPageRaw(out, "<main><h1>Neo4j backups</h1><p>This status page needs the API token "
                    "(BACKUP_API_TOKEN).</p>");
    if (failed)
        apiPageRaw(out, "<p class=\"alert crit\">That token is not valid.</p>");
    apiPageRaw(out, "<form method=\"post\" action=\"/login\"><p><label for=\"token\">API token</label></p>"
                    "<p><input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" "
                    "required></p><p><button type=\"submit\">Sign in</button></p></form></main>\n");
    apiPageFinish(response, 401);
}
