/* The status page's charts: each backup's size over time, the repository's
 * total as it grew, and backup durations, drawn as inline SVG (no script, no
 * external asset, colours from the page's CSS so dark mode works). Each
 * point and bar carries a <title>, which browsers show on hover and screen
 * readers read; each chart has a <title> and a <desc> in words. */
#include "api/api_internal.h"

#include "common/format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The newest backups drawn; older ones are left out of the charts only. */
#define API_CHART_MAX_POINTS 200
/* The drawing area in SVG units (the SVG scales to its card's width). */
#define API_CHART_WIDTH 360.0
#define API_CHART_HEIGHT 170.0
#define API_CHART_LEFT 62.0   /* room for the value labels */
#define API_CHART_RIGHT 10.0
#define API_CHART_TOP 10.0
#define API_CHART_BOTTOM 22.0 /* room for the date labels */

typedef enum {
    API_CHART_SIZE,     /* each backup's archive size, a line with a dot per backup */
    API_CHART_TOTAL,    /* bytes stored by the backups created up to each time, an area */
    API_CHART_DURATION, /* each backup's duration, a bar per backup */
} ApiChartKind;

typedef struct {
    const CatEntry *entry;
    double value;
} ApiChartPoint;

static void apiChartRaw(Buffer *out, const char *markup)
{
    bufferAppend(out, markup, strlen(markup));
}

static double apiChartPlotWidth(void) { return API_CHART_WIDTH - API_CHART_LEFT - API_CHART_RIGHT; }
static double apiChartPlotHeight(void) { return API_CHART_HEIGHT - API_CHART_TOP - API_CHART_BOTTOM; }

/* "2026-12-02" for a span of days, "12-02 14:30" within two days. */
static void apiChartDate(int64_t when, bool withTime, char *out, size_t size)
{
    time_t seconds = (time_t)when;
    struct tm parts;
    gmtime_r(&seconds, &parts);
    strftime(out, size, withTime ? "%m-%d %H:%M" : "%Y-%m-%d", &parts);
}

static const char *apiChartValueText(ApiChartKind kind, double value, char *out, size_t size)
{
    if (kind == API_CHART_DURATION)
        return fmtDuration(out, size, value);
    return fmtSize(out, size, (uint64_t)value);
}

/* Axis labels must fit the left margin: "45 s", "2.5 min", "1.2 h". */
static const char *apiChartAxisText(ApiChartKind kind, double value, char *out, size_t size)
{
    if (kind != API_CHART_DURATION)
        return fmtSize(out, size, (uint64_t)value);
    if (value < 60)
        snprintf(out, size, "%.2g s", value);
    else if (value < 3600)
        snprintf(out, size, "%.2g min", value / 60);
    else
        snprintf(out, size, "%.2g h", value / 3600);
    return out;
}

/* Fills points oldest first (the list is newest first); returns how many. */
static size_t apiChartCollect(const ApiSnapshot *snapshot, ApiChartKind kind, ApiChartPoint *points)
{
    size_t count = 0;
    double running = 0;
    for (size_t index = snapshot->list.count; index-- > 0;) {
        const CatEntry *entry = &snapshot->list.entries[index];
        const Manifest *manifest = entry->manifest;
        if (kind == API_CHART_TOTAL) {
            running += (double)entry->diskBytes; /* every backup's files count, whatever its state */
            points[count++ % API_CHART_MAX_POINTS] = (ApiChartPoint){entry, running};
            continue;
        }
        if (!manifest || !catEntryUsable(entry))
            continue; /* failed or damaged backups have no meaningful size or duration */
        double value = kind == API_CHART_SIZE ? (double)manifest->archive.sizeCompressed : manifest->durationSeconds;
        points[count++ % API_CHART_MAX_POINTS] = (ApiChartPoint){entry, value};
    }
    if (count <= API_CHART_MAX_POINTS)
        return count;
    /* Kept the newest API_CHART_MAX_POINTS in a ring: put them back in order. */
    ApiChartPoint ordered[API_CHART_MAX_POINTS];
    for (size_t index = 0; index < API_CHART_MAX_POINTS; index++)
        ordered[index] = points[(count + index) % API_CHART_MAX_POINTS];
    for (size_t index = 0; index < API_CHART_MAX_POINTS; index++)
        points[index] = ordered[index];
    return API_CHART_MAX_POINTS;
}

static double apiChartX(ApiChartKind kind, const ApiChartPoint *points, size_t count, size_t index)
{
    double width = apiChartPlotWidth();
    if (kind == API_CHART_DURATION) /* bars: evenly spaced, in time order */
        return API_CHART_LEFT + width * ((double)index + 0.5) / (double)count;
    int64_t first = points[0].entry->created;
    int64_t last = points[count - 1].entry->created;
    if (last <= first)
        return API_CHART_LEFT + width / 2;
    return API_CHART_LEFT + width * (double)(points[index].entry->created - first) / (double)(last - first);
}

static double apiChartY(double value, double top)
{
    return API_CHART_TOP + apiChartPlotHeight() * (1.0 - value / top);
}

static void apiChartAxes(Buffer *out, ApiChartKind kind, const ApiChartPoint *points, size_t count, double top)
{
    char text[FORMAT_TEXT_SIZE];
    for (int step = 0; step <= 2; step++) {
        double value = top * step / 2.0;
        double y = apiChartY(value, top);
        bufferAppendF(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", API_CHART_LEFT, y,
                      API_CHART_WIDTH - API_CHART_RIGHT, y);
        bufferAppendF(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", API_CHART_LEFT - 6,
                      y + 4);
        apiHtmlEscape(out, step == 0 ? "0" : apiChartAxisText(kind, value, text, sizeof(text)));
        bufferAppendF(out, "</text>");
    }
    int64_t first = points[0].entry->created;
    int64_t last = points[count - 1].entry->created;
    bool withTime = last - first < 2 * 86400;
    char date[32];
    double y = API_CHART_HEIGHT - 6;
    apiChartDate(first, withTime, date, sizeof(date));
    bufferAppendF(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"start\">", API_CHART_LEFT, y);
    apiHtmlEscape(out, date);
    bufferAppendF(out, "</text>");
    if (count > 1 && last > first) {
        apiChartDate(last, withTime, date, sizeof(date));
        bufferAppendF(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                      API_CHART_WIDTH - API_CHART_RIGHT, y);
        apiHtmlEscape(out, date);
        bufferAppendF(out, "</text>");
    }
}

/* A differential backup (drawn apart from the full ones in the size chart). */
static bool apiChartIsDiff(const ApiChartPoint *point)
{
    return point->entry->manifest && manifestIsDiff(point->entry->manifest);
}

/* One point's hover text: "<id>: 1.2 MB", "<id> (differential): 80 KB". */
static void apiChartPointTitle(Buffer *out, ApiChartKind kind, const ApiChartPoint *point)
{
    char value[FORMAT_TEXT_SIZE];
    bufferAppendF(out, "<title>");
    apiHtmlEscape(out, point->entry->id);
    if (kind == API_CHART_SIZE && apiChartIsDiff(point))
        apiChartRaw(out, " (differential)");
    apiHtmlEscape(out, kind == API_CHART_TOTAL ? ": total " : ": ");
    apiHtmlEscape(out, apiChartValueText(kind, point->value, value, sizeof(value)));
    bufferAppendF(out, "</title>");
}

/* Sizes: full backups and differentials as two series (a line and dots
 * each; differentials in their own colour, dashed), since a differential
 * holds only what changed and would otherwise read as a shrinking graph. */
static void apiChartSizeMarks(Buffer *out, const ApiChartPoint *points, size_t count, double top)
{
    for (int diff = 0; diff <= 1; diff++) {
        bool started = false;
        for (size_t index = 0; index < count; index++) {
            if (apiChartIsDiff(&points[index]) != (bool)diff)
                continue;
            if (!started)
                apiChartRaw(out, diff ? "<path class=\"line diff\" d=\"M" : "<path class=\"line\" d=\"M");
            bufferAppendF(out, "%s%.1f %.1f", started ? " L" : "", apiChartX(API_CHART_SIZE, points, count, index),
                          apiChartY(points[index].value, top));
            started = true;
        }
        if (started)
            apiChartRaw(out, "\"/>");
    }
    for (size_t index = 0; index < count; index++) {
        bufferAppendF(out, "<circle class=\"dot%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\">",
                      apiChartIsDiff(&points[index]) ? " diff" : "", apiChartX(API_CHART_SIZE, points, count, index),
                      apiChartY(points[index].value, top));
        apiChartPointTitle(out, API_CHART_SIZE, &points[index]);
        bufferAppendF(out, "</circle>");
    }
}

static void apiChartMarks(Buffer *out, ApiChartKind kind, const ApiChartPoint *points, size_t count, double top)
{
    double base = apiChartY(0, top);
    if (kind == API_CHART_DURATION) {
        double slot = apiChartPlotWidth() / (double)count;
        double width = slot * 0.7 < 1 ? 1 : slot * 0.7;
        for (size_t index = 0; index < count; index++) {
            double x = apiChartX(kind, points, count, index) - width / 2;
            double y = apiChartY(points[index].value, top);
            bufferAppendF(out, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">", x, y,
                          width, base - y);
            apiChartPointTitle(out, kind, &points[index]);
            bufferAppendF(out, "</rect>");
        }
        return;
    }
    if (kind == API_CHART_SIZE) {
        apiChartSizeMarks(out, points, count, top);
        return;
    }
    /* The total is a step: it holds its value until the next backup is added. */
    if (kind == API_CHART_TOTAL)
        bufferAppendF(out, "<path class=\"area\" d=\"M%.1f %.1f", apiChartX(kind, points, count, 0), base);
    else
        apiChartRaw(out, "<path class=\"line\" d=\"M");
    double previousY = base;
    for (size_t index = 0; index < count; index++) {
        double x = apiChartX(kind, points, count, index);
        double y = apiChartY(points[index].value, top);
        if (kind == API_CHART_TOTAL)
            bufferAppendF(out, " L%.1f %.1f L%.1f %.1f", x, previousY, x, y);
        else
            bufferAppendF(out, "%s%.1f %.1f", index == 0 ? "" : " L", x, y);
        previousY = y;
    }
    if (kind == API_CHART_TOTAL)
        bufferAppendF(out, " L%.1f %.1f L%.1f %.1f Z", API_CHART_WIDTH - API_CHART_RIGHT, previousY,
                      API_CHART_WIDTH - API_CHART_RIGHT, base);
    bufferAppendF(out, "\"/>");
    for (size_t index = 0; index < count; index++) {
        bufferAppendF(out, "<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\">",
                      apiChartX(kind, points, count, index), apiChartY(points[index].value, top));
        apiChartPointTitle(out, kind, &points[index]);
        bufferAppendF(out, "</circle>");
    }
}

static void apiChart(Buffer *out, const ApiSnapshot *snapshot, ApiChartKind kind, ApiChartPoint *points)
{
    static const char *const titles[] = {"Backup size", "Repository total", "Backup duration"};
    static const char *const names[] = {"size", "total", "duration"};
    size_t count = apiChartCollect(snapshot, kind, points);
    apiChartRaw(out, "<figure class=\"card chart\"><h3>");
    apiHtmlEscape(out, titles[kind]);
    apiChartRaw(out, "</h3>");
    if (count == 0) {
        apiChartRaw(out, "<p class=\"muted\">No backups to draw yet.</p></figure>");
        return;
    }
    double top = 0;
    double sum = 0;
    for (size_t index = 0; index < count; index++) {
        top = points[index].value > top ? points[index].value : top;
        sum += points[index].value;
    }
    top = top > 0 ? top * 1.15 : 1; /* headroom above the highest mark */
    bufferAppendF(out,
                  "<svg class=\"chart-%s\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-labelledby=\"chart-%s-title "
                  "chart-%s-desc\" xmlns=\"http://www.w3.org/2000/svg\"><title id=\"chart-%s-title\">",
                  names[kind], API_CHART_WIDTH, API_CHART_HEIGHT, names[kind], names[kind], names[kind]);
    apiHtmlEscape(out, titles[kind]);
    apiChartRaw(out, kind == API_CHART_DURATION ? ", one bar per backup in time order" : " over time");
    bufferAppendF(out, "</title><desc id=\"chart-%s-desc\">", names[kind]);
    char newest[FORMAT_TEXT_SIZE];
    char extra[FORMAT_TEXT_SIZE];
    char text[256];
    apiChartValueText(kind, points[count - 1].value, newest, sizeof(newest));
    size_t diffs = 0;
    for (size_t index = 0; kind == API_CHART_SIZE && index < count; index++)
        diffs += apiChartIsDiff(&points[index]);
    if (kind == API_CHART_TOTAL)
        snprintf(text, sizeof(text), "%zu backups, %s stored now", count, newest);
    else
        snprintf(text, sizeof(text), "%zu backups, newest %s, average %s", count, newest,
                 apiChartValueText(kind, sum / (double)count, extra, sizeof(extra)));
    apiHtmlEscape(out, text);
    if (diffs) {
        snprintf(text, sizeof(text), "; %zu full and %zu differential, drawn as two series", count - diffs, diffs);
        apiHtmlEscape(out, text);
    }
    apiChartRaw(out, "</desc>");
    apiChartAxes(out, kind, points, count, top);
    apiChartMarks(out, kind, points, count, top);
    apiChartRaw(out, "</svg>");
    if (diffs)
        apiChartRaw(out, "<p class=\"legend muted\"><span class=\"key\">&#9679;</span> full "
                         "<span class=\"key diff\">&#9679;</span> differential (its own size)</p>");
    apiChartRaw(out, "</figure>");
}

void apiPageCharts(const ApiSnapshot *snapshot, Buffer *out)
{
    ApiChartPoint points[API_CHART_MAX_POINTS];
    apiChartRaw(out, "<h2>Trends</h2><section class=\"charts\" aria-label=\"Trends\">");
    apiChart(out, snapshot, API_CHART_SIZE, points);
    apiChart(out, snapshot, API_CHART_TOTAL, points);
    apiChart(out, snapshot, API_CHART_DURATION, points);
    apiChartRaw(out, "</section>");
}
