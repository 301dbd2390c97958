/* Unit tests for src/schedule/scheduler: retry and backoff, the pause after
 * repeated failures, resume, missed runs at start, the state file and metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/timeutil.h"
#include "schedule/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static SchedPolicy contractPolicy(void)
{
    SchedPolicy policy = {.retryDelays = {60, 300, 1800, 86400}, .retryDelayCount = 4, .maxFailures = 5};
    return policy;
}

static CronSchedule parseCron(const char *expression)
{
    CronSchedule schedule;
    if (cronParse(expression, &schedule) != ERR_OK)
        fail_msg("cronParse(%s): %s", expression, errLast()->reason);
    return schedule;
}

static int64_t at(int year, int month, int day, int hour, int minute, int second)
{
    return timeFromParts(year, month, day, hour, minute, second);
}

/* ---- retry and pause ------------------------------------------------------- */

static void testRetryDelaysFollowTheListAndRepeatTheLast(void **unused)
{
    (void)unused;
    SchedPolicy policy = contractPolicy();
    assert_int_equal(schedRetryDelay(&policy, 1), 60);
    assert_int_equal(schedRetryDelay(&policy, 2), 300);
    assert_int_equal(schedRetryDelay(&policy, 3), 1800);
    assert_int_equal(schedRetryDelay(&policy, 4), 86400);
    assert_int_equal(schedRetryDelay(&policy, 9), 86400);
    SchedPolicy none = {.retryDelayCount = 0, .maxFailures = 5};
    assert_int_equal(schedRetryDelay(&none, 1), -1);
}

/* The contract's sequence: 1 min, 5 min, 30 min, 24 h, then the fifth
 * failure pauses with a critical reason. */
static void testFiveFailuresRetryWithBackoffThenPause(void **unused)
{
    (void)unused;
    SchedPolicy policy = contractPolicy();
    SchedState state;
    schedStateInit(&state);
    const int64_t farAway = at(2026, 1, 1, 2, 0, 0);
    int64_t now = at(2025, 12, 27, 2, 0, 5);
    const int64_t expectedDelays[] = {60, 300, 1800, 86400};
    for (int failure = 1; failure <= 4; failure++) {
        SchedAfter after = schedRecordFailure(&state, &policy, now - 5, 5.0, now, farAway, "NEO4J_UNREACHABLE",
                                              "connection refused");
        assert_int_equal(after, SCHED_AFTER_RETRY);
        assert_int_equal(state.consecutiveFailures, failure);
        assert_false(state.paused);
        assert_true(state.nextIsRetry);
        assert_int_equal(state.nextRun, now + expectedDelays[failure - 1]);
        now = state.nextRun + 3;
    }
    SchedAfter after = schedRecordFailure(&state, &policy, now, 3.0, now, farAway, "NEO4J_UNREACHABLE",
                                          "connection refused");
    assert_int_equal(after, SCHED_AFTER_PAUSED);
    assert_true(state.paused);
    assert_int_equal(state.pausedAt, now);
    assert_int_equal(state.nextRun, 0);
    assert_non_null(strstr(state.pauseReason, "5 scheduled backups failed in a row"));
    assert_non_null(strstr(state.pauseReason, "NEO4J_UNREACHABLE: connection refused"));
    assert_int_equal(state.runsTotal, 5);
    assert_int_equal(state.failuresTotal, 5);
    assert_string_equal(state.lastErrorCode, "NEO4J_UNREACHABLE");
}

static void testRetryNeverDelaysTheNextRegularRun(void **unused)
{
    (void)unused;
    SchedPolicy policy = contractPolicy();
    SchedState state;
    schedStateInit(&state);
    int64_t now = at(2025, 12, 27, 2, 0, 0);
    /* Third failure: the 30-minute retry would come after the hourly run. */
    state.consecutiveFailures = 2;
    int64_t nextHour = at(2025, 12, 27, 3, 0, 0);
    schedRecordFailure(&state, &policy, now, 1.0, at(2025, 12, 27, 2, 45, 0), nextHour, "BACKUP_LOCKED", "busy");
    assert_int_equal(state.nextRun, nextHour);
    assert_false(state.nextIsRetry);
    assert_int_equal(state.consecutiveFailures, 3);
}

static void testSuccessClearsTheFailureCount(void **unused)
{
    (void)unused;
    SchedPolicy policy = contractPolicy();
    SchedState state;
    schedStateInit(&state);
    int64_t now = at(2025, 12, 27, 2, 0, 0);
    int64_t tomorrow = at(2025, 12, 28, 2, 0, 0);
    for (int failure = 0; failure < 4; failure++)
        schedRecordFailure(&state, &policy, now, 1.0, now, tomorrow, "NEO4J_UNREACHABLE", "down");
    assert_int_equal(state.consecutiveFailures, 4);
    assert_int_equal(schedRecordSuccess(&state, now + 100, 12.5, "neo4j-20251227-020140", tomorrow),
                     SCHED_AFTER_SCHEDULED);
    assert_int_equal(state.consecutiveFailures, 0);
    assert_int_equal(state.nextRun, tomorrow);
    assert_false(state.nextIsRetry);
    assert_int_equal(state.lastSuccess, now + 100);
    assert_string_equal(state.lastBackupId, "neo4j-20251227-020140");
    assert_string_equal(state.lastErrorCode, "");
    /* Four more failures do not pause: the count started again. */
    for (int failure = 0; failure < 4; failure++)
        assert_int_equal(schedRecordFailure(&state, &policy, now, 1.0, now, tomorrow, "X", "y"), SCHED_AFTER_RETRY);
    assert_false(state.paused);
}

static void testMaxFailuresOnePausesAtOnce(void **unused)
{
    (void)unused;
    SchedPolicy policy = contractPolicy();
    policy.maxFailures = 1;
    SchedState state;
    schedStateInit(&state);
    assert_int_equal(schedRecordFailure(&state, &policy, 10, 1.0, 20, 1000, "BACKUP_NO_SPACE", "full"),
                     SCHED_AFTER_PAUSED);
    assert_true(state.paused);
    assert_non_null(strstr(state.pauseReason, "1 scheduled backups failed"));
}

static void testResumeClearsThePauseAndRunsAtOnce(void **unused)
{
    (void)unused;
    SchedState state;
    schedStateInit(&state);
    assert_false(schedResume(&state, 500)); /* not paused: nothing changes */
    assert_int_equal(state.nextRun, 0);
    state.paused = true;
    state.pausedAt = 100;
    state.consecutiveFailures = 5;
    snprintf(state.pauseReason, sizeof(state.pauseReason), "5 scheduled backups failed in a row");
    assert_true(schedResume(&state, 500));
    assert_false(state.paused);
    assert_int_equal(state.consecutiveFailures, 0);
    assert_int_equal(state.nextRun, 500);
    assert_string_equal(state.pauseReason, "");
}

/* ---- missed runs and the start plan ------------------------------------------ */

static void testMissedRunsAreCounted(void **unused)
{
    (void)unused;
    CronSchedule daily = parseCron("0 2 * * *");
    uint64_t count = 0;
    int64_t first = 0;
    assert_int_equal(schedCountMissed(&daily, at(2025, 12, 27, 2, 0, 0), at(2025, 12, 30, 5, 0, 0), 100, &count,
                                      &first),
                     ERR_OK);
    assert_int_equal(count, 3);
    assert_int_equal(first, at(2025, 12, 28, 2, 0, 0));
    /* A fire time exactly at `now` counts: it was due. */
    assert_int_equal(schedCountMissed(&daily, at(2025, 12, 27, 2, 0, 0), at(2025, 12, 28, 2, 0, 0), 100, &count,
                                      &first),
                     ERR_OK);
    assert_int_equal(count, 1);
    assert_int_equal(schedCountMissed(&daily, at(2025, 12, 27, 2, 0, 0), at(2025, 12, 28, 1, 59, 59), 100, &count,
                                      &first),
                     ERR_OK);
    assert_int_equal(count, 0);
    assert_int_equal(first, 0);
    /* A seconds-level schedule down for a day stops counting at the limit. */
    CronSchedule everySecond = parseCron("* * * * * *");
    assert_int_equal(schedCountMissed(&everySecond, at(2025, 1, 1, 0, 0, 0), at(2025, 1, 2, 0, 0, 0), 1000, &count,
                                      &first),
                     ERR_OK);
    assert_int_equal(count, 1000);
}

static void testStartAfterDowntimeTakesOneCatchUp(void **unused)
{
    (void)unused;
    CronSchedule daily = parseCron("0 2 * * *");
    SchedState state;
    schedStateInit(&state);
    state.lastRun = at(2025, 12, 27, 2, 0, 0);
    state.nextRun = at(2025, 12, 28, 2, 0, 0);
    int64_t now = at(2025, 12, 30, 5, 0, 0);
    SchedStartPlan plan;
    assert_int_equal(schedPlanStart(&state, &daily, now, &plan), ERR_OK);
    assert_int_equal(plan.missedRuns, 3);
    assert_int_equal(plan.firstMissed, at(2025, 12, 28, 2, 0, 0));
    assert_true(plan.catchUp);
    assert_int_equal(plan.nextRun, now);
    assert_false(plan.missedAtLimit);
}

static void testStartWithoutHistoryWaitsForTheSchedule(void **unused)
{
    (void)unused;
    CronSchedule daily = parseCron("0 2 * * *");
    SchedState state;
    schedStateInit(&state);
    SchedStartPlan plan;
    assert_int_equal(schedPlanStart(&state, &daily, at(2025, 12, 27, 15, 0, 0), &plan), ERR_OK);
    assert_false(plan.catchUp);
    assert_int_equal(plan.missedRuns, 0);
    assert_int_equal(plan.nextRun, at(2025, 12, 28, 2, 0, 0));
    /* A restart before the next run misses nothing. */
    state.lastRun = at(2025, 12, 27, 2, 0, 0);
    assert_int_equal(schedPlanStart(&state, &daily, at(2025, 12, 28, 1, 0, 0), &plan), ERR_OK);
    assert_false(plan.catchUp);
    assert_int_equal(plan.nextRun, at(2025, 12, 28, 2, 0, 0));
}

static void testStartWhilePausedStaysPaused(void **unused)
{
    (void)unused;
    CronSchedule daily = parseCron("0 2 * * *");
    SchedState state;
    schedStateInit(&state);
    state.paused = true;
    state.lastRun = at(2025, 12, 1, 2, 0, 0); /* many missed runs: still no catch-up */
    SchedStartPlan plan;
    assert_int_equal(schedPlanStart(&state, &daily, at(2025, 12, 27, 15, 0, 0), &plan), ERR_OK);
    assert_false(plan.catchUp);
    assert_int_equal(plan.nextRun, 0);
}

static void testStartKeepsAPendingRetry(void **unused)
{
    (void)unused;
    CronSchedule daily = parseCron("0 2 * * *");
    SchedState state;
    schedStateInit(&state);
    state.lastRun = at(2025, 12, 27, 2, 0, 0);
    state.consecutiveFailures = 2;
    state.nextIsRetry = true;
    state.nextRun = at(2025, 12, 27, 2, 6, 0);
    SchedStartPlan plan;
    /* Restarted before the retry: the retry stays planned. */
    assert_int_equal(schedPlanStart(&state, &daily, at(2025, 12, 27, 2, 3, 0), &plan), ERR_OK);
    assert_false(plan.catchUp);
    assert_int_equal(plan.nextRun, at(2025, 12, 27, 2, 6, 0));
    /* Restarted after it: overdue, taken at once. */
    assert_int_equal(schedPlanStart(&state, &daily, at(2025, 12, 27, 9, 0, 0), &plan), ERR_OK);
    assert_true(plan.retryOverdue);
    assert_true(plan.catchUp);
    assert_int_equal(plan.missedRuns, 0);
    assert_int_equal(plan.nextRun, at(2025, 12, 27, 9, 0, 0));
}

/* ---- state file ------------------------------------------------------------- */

static SchedState sampleState(void)
{
    SchedState state;
    schedStateInit(&state);
    state.paused = true;
    snprintf(state.pauseReason, sizeof(state.pauseReason), "5 scheduled backups failed in a row (last: \"x\")");
    state.pausedAt = at(2025, 12, 31, 2, 0, 0);
    state.consecutiveFailures = 5;
    state.lastRun = at(2025, 12, 31, 1, 59, 0);
    state.lastSuccess = at(2025, 12, 26, 2, 0, 0);
    state.lastDurationSeconds = 145.25;
    snprintf(state.lastBackupId, sizeof(state.lastBackupId), "neo4j-20251226-020000");
    snprintf(state.lastErrorCode, sizeof(state.lastErrorCode), "NEO4J_UNREACHABLE");
    snprintf(state.lastError, sizeof(state.lastError), "connection refused by 127.0.0.1:7687 / ünïcode");
    state.nextRun = 0;
    state.nextIsRetry = false;
    state.pid = 4242;
    state.runsTotal = 77;
    state.failuresTotal = 9;
    return state;
}

static void assertStatesEqual(const SchedState *expected, const SchedState *actual)
{
    assert_int_equal(expected->paused, actual->paused);
    assert_string_equal(expected->pauseReason, actual->pauseReason);
    assert_int_equal(expected->pausedAt, actual->pausedAt);
    assert_int_equal(expected->consecutiveFailures, actual->consecutiveFailures);
    assert_int_equal(expected->lastRun, actual->lastRun);
    assert_int_equal(expected->lastSuccess, actual->lastSuccess);
    assert_float_equal(expected->lastDurationSeconds, actual->lastDurationSeconds, 0.001);
    assert_string_equal(expected->lastBackupId, actual->lastBackupId);
    assert_string_equal(expected->lastErrorCode, actual->lastErrorCode);
    assert_string_equal(expected->lastError, actual->lastError);
    assert_int_equal(expected->nextRun, actual->nextRun);
    assert_int_equal(expected->nextIsRetry, actual->nextIsRetry);
    assert_int_equal(expected->pid, actual->pid);
    assert_int_equal(expected->runsTotal, actual->runsTotal);
    assert_int_equal(expected->failuresTotal, actual->failuresTotal);
}

static void testStateTextRoundTrip(void **unused)
{
    (void)unused;
    SchedState original = sampleState();
    Buffer text;
    bufferInit(&text);
    schedStateFormat(&original, &text);
    assert_non_null(strstr((const char *)text.data, "\"paused_at\":\"2025-12-31T02:00:00Z\""));
    SchedState parsed;
    assert_int_equal(schedStateParse((const char *)text.data, &parsed), ERR_OK);
    assertStatesEqual(&original, &parsed);
    bufferFree(&text);

    /* A retry pending in the future survives too. */
    SchedState retrying;
    schedStateInit(&retrying);
    retrying.nextRun = at(2025, 12, 27, 2, 1, 0);
    retrying.nextIsRetry = true;
    retrying.consecutiveFailures = 1;
    bufferInit(&text);
    schedStateFormat(&retrying, &text);
    assert_int_equal(schedStateParse((const char *)text.data, &parsed), ERR_OK);
    assertStatesEqual(&retrying, &parsed);
    bufferFree(&text);
}

static void testStateFileSaveLoadAndDamage(void **unused)
{
    (void)unused;
    char directory[] = "/tmp/nbk-scheduler-test-XXXXXX";
    assert_non_null(mkdtemp(directory));
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", directory, SCHED_STATE_FILE);

    SchedState loaded;
    bool found = true;
    assert_int_equal(schedStateLoad(path, &loaded, &found), ERR_OK);
    assert_false(found);
    assert_false(loaded.paused);

    SchedState original = sampleState();
    assert_int_equal(schedStateSave(path, &original), ERR_OK);
    assert_int_equal(schedStateLoad(path, &loaded, &found), ERR_OK);
    assert_true(found);
    assertStatesEqual(&original, &loaded);

    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs("{\"paused\": tru", file);
    fclose(file);
    assert_int_equal(schedStateLoad(path, &loaded, &found), BACKUP_IO_FAILED);
    assert_false(found);
    assert_non_null(strstr(errLast()->reason, "damaged"));

    assert_int_equal(schedStateParse("{\"paused\": true, \"paused_at\": \"yesterday\"}", &loaded), BACKUP_IO_FAILED);
    assert_int_equal(schedStateParse("[1, 2]", &loaded), BACKUP_IO_FAILED);
    /* Unknown keys are ignored; missing ones stay empty. */
    assert_int_equal(schedStateParse("{\"paused\": true, \"future_key\": 1}", &loaded), ERR_OK);
    assert_true(loaded.paused);
    assert_int_equal(loaded.consecutiveFailures, 0);

    unlink(path);
    rmdir(directory);
}

static void testMetricsText(void **unused)
{
    (void)unused;
    SchedState state = sampleState();
    Buffer text;
    bufferInit(&text);
    schedMetricsFormat(&state, &text);
    const char *metrics = (const char *)text.data;
    assert_non_null(strstr(metrics, "# TYPE neo4j_backup_scheduler_paused gauge\nneo4j_backup_scheduler_paused 1\n"));
    assert_non_null(strstr(metrics, "\nneo4j_backup_consecutive_failures 5\n"));
    assert_non_null(strstr(metrics, "\nneo4j_backup_runs_total 77\n"));
    assert_non_null(strstr(metrics, "\nneo4j_backup_last_duration_seconds 145.250\n"));
    char expected[96];
    snprintf(expected, sizeof(expected), "\nneo4j_backup_last_success_timestamp_seconds %lld\n",
             (long long)at(2025, 12, 26, 2, 0, 0));
    assert_non_null(strstr(metrics, expected));
    bufferFree(&text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testRetryDelaysFollowTheListAndRepeatTheLast),
        cmocka_unit_test(testFiveFailuresRetryWithBackoffThenPause),
        cmocka_unit_test(testRetryNeverDelaysTheNextRegularRun),
        cmocka_unit_test(testSuccessClearsTheFailureCount),
        cmocka_unit_test(testMaxFailuresOnePausesAtOnce),
        cmocka_unit_test(testResumeClearsThePauseAndRunsAtOnce),
        cmocka_unit_test(testMissedRunsAreCounted),
        cmocka_unit_test(testStartAfterDowntimeTakesOneCatchUp),
        cmocka_unit_test(testStartWithoutHistoryWaitsForTheSchedule),
        cmocka_unit_test(testStartWhilePausedStaysPaused),
        cmocka_unit_test(testStartKeepsAPendingRetry),
        cmocka_unit_test(testStateTextRoundTrip),
        cmocka_unit_test(testStateFileSaveLoadAndDamage),
        cmocka_unit_test(testMetricsText),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
