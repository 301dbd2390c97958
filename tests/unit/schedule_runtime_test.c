/* The scheduler's runtime (src/schedule/runtime.c) with fake callbacks and
 * an injected clock: the retry sequence after failures, the pause after
 * BACKUP_MAX_FAILURES and the resume that follows, alerts as events, and
 * --resume editing the state file, and the started hook (--schedule --serve
 * starts its server there) seeing the scheduler recorded as running. The
 * wait callback moves the clock instead of sleeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "schedule/runtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LINES 64

typedef struct {
    int64_t now;                     /* the injected clock */
    volatile sig_atomic_t cancel;
    volatile sig_atomic_t reload;
    volatile sig_atomic_t resume;
    unsigned failuresToScript;       /* the first N backups fail */
    unsigned backupsToRun;           /* cancel after this many attempts */
    unsigned backups;
    int64_t backupStarts[16];
    unsigned cleanups;
    bool resumeWhenPaused;           /* the wait asks for a resume when it sees a pause */
    char lines[MAX_LINES][256];
    unsigned lineCount;
    unsigned alerts;
    char alertCodes[8][64];
    char alertIds[8][64];
    unsigned criticals;
    unsigned stateSaves;
    bool pausedSeen;
} Fake;

static char root[256];

static int64_t fakeClock(void *payload)
{
    return ((const Fake *)payload)->now;
}

static int setUp(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/nbk-schedrt-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int tearDown(void **state)
{
    (void)state;
    timeSetClock(NULL, NULL);
    char command[300];
    snprintf(command, sizeof(command), "rm -rf '%s'", root);
    return system(command) == 0 ? 0 : -1;
}

static ErrCode fakeBackup(void *payload, char id[CAT_ID_SIZE])
{
    Fake *fake = payload;
    fake->backupStarts[fake->backups % 16] = timeNow(); /* pinned to the run's start */
    fake->backups++;
    if (fake->backups >= fake->backupsToRun)
        fake->cancel = 1; /* the loop ends after handling this run */
    if (fake->backups <= fake->failuresToScript)
        return errSet(NEO4J_UNREACHABLE, "Neo4j is down (attempt %u)", fake->backups);
    char text[TIME_TEXT_SIZE];
    timeBackupId(timeNow(), text);
    snprintf(id, CAT_ID_SIZE, "%s", text);
    return ERR_OK;
}

static ErrCode fakeCleanup(void *payload, const RetPolicy *policy, SchedCleanupResult *out)
{
    (void)policy;
    (void)out;
    ((Fake *)payload)->cleanups++;
    return ERR_OK;
}

static void fakeWait(void *payload, double seconds)
{
    Fake *fake = payload;
    if (seconds <= 0)
        return;
    fake->now += (int64_t)ceil(seconds);
    if (fake->resumeWhenPaused && fake->pausedSeen)
        fake->resume = 1;
}

static void fakeEvent(const SchedEvent *event, void *payload)
{
    Fake *fake = payload;
    switch (event->kind) {
    case SCHED_EVENT_LINE:
        if (fake->lineCount < MAX_LINES)
            snprintf(fake->lines[fake->lineCount++], 256, "%s", event->text);
        if (strcmp(event->name, "SCHEDULER_PAUSED") == 0)
            fake->pausedSeen = true;
        break;
    case SCHED_EVENT_ALERT:
        if (fake->alerts < 8) {
            snprintf(fake->alertCodes[fake->alerts], 64, "%s",
                     event->alertError ? errName(event->alertError->code) : event->alertCode);
            snprintf(fake->alertIds[fake->alerts], 64, "%s", event->backupId ? event->backupId : "");
        }
        fake->alerts++;
        if (event->alertSeverity == SCHED_ALERT_CRITICAL)
            fake->criticals++;
        break;
    case SCHED_EVENT_STATE_SAVED:
        assert_non_null(event->state);
        fake->stateSaves++;
        break;
    default:
        break;
    }
}

static SchedRuntimeRequest makeRequest(Fake *fake, int maxFailures)
{
    SchedRuntimeRequest request = {
        .root = root,
        .backup = fakeBackup,
        .cleanup = fakeCleanup,
        .wait = fakeWait,
        .payload = fake,
        .cancelFlag = &fake->cancel,
        .reloadFlag = &fake->reload,
        .resumeFlag = &fake->resume,
        .pid = 4242,
        .onEvent = fakeEvent,
        .eventPayload = fake,
    };
    assert_int_equal(cronParse("0 2 * * *", &request.settings.schedule), ERR_OK);
    request.settings.policy = (SchedPolicy){.retryDelays = {60, 300}, .retryDelayCount = 2,
                                            .maxFailures = maxFailures};
    request.settings.retention = (RetPolicy){.days = 7};
    request.settings.alertOnFailure = true;
    return request;
}

/* The index of the first line starting with prefix at or after from; fails the test when none. */
static unsigned findLine(const Fake *fake, unsigned from, const char *prefix)
{
    for (unsigned index = from; index < fake->lineCount; index++)
        if (strncmp(fake->lines[index], prefix, strlen(prefix)) == 0)
            return index;
    fail_msg("no line starting with \"%s\" after line %u", prefix, from);
    return 0;
}

static void loadState(SchedState *state)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", root, SCHED_STATE_FILE);
    bool found = false;
    assert_int_equal(schedStateLoad(path, state, &found), ERR_OK);
    assert_true(found);
}

static void testRetriesFollowTheDelaysThenSucceed(void **state)
{
    (void)state;
    Fake fake = {.now = timeFromParts(2026, 1, 1, 1, 59, 0), .failuresToScript = 2, .backupsToRun = 3};
    timeSetClock(fakeClock, &fake);
    SchedRuntimeRequest request = makeRequest(&fake, 5);
    assert_int_equal(schedRuntimeRun(&request), ERR_OK);

    assert_int_equal(fake.backups, 3);
    /* The regular run at 02:00, then retries 1 and 5 minutes after each failure. */
    assert_int_equal(fake.backupStarts[0], timeFromParts(2026, 1, 1, 2, 0, 0));
    assert_int_equal(fake.backupStarts[1], timeFromParts(2026, 1, 1, 2, 1, 0));
    assert_int_equal(fake.backupStarts[2], timeFromParts(2026, 1, 1, 2, 6, 0));

    unsigned line = findLine(&fake, 0, "BACKUP_START: ");
    line = findLine(&fake, line, "BACKUP_FAILED: ");
    assert_non_null(strstr(fake.lines[line], "(NEO4J_UNREACHABLE, failure 1 of 5)"));
    line = findLine(&fake, line, "RETRY: attempt 2 at 2026-01-01 02:01:00");
    line = findLine(&fake, line, "NEXT_BACKUP: 2026-01-01 02:01:00");
    assert_non_null(strstr(fake.lines[line], "(retry)"));
    line = findLine(&fake, line, "BACKUP_FAILED: ");
    assert_non_null(strstr(fake.lines[line], "failure 2 of 5"));
    line = findLine(&fake, line, "RETRY: attempt 3 at 2026-01-01 02:06:00");
    line = findLine(&fake, line, "BACKUP_SUCCESS: ");
    line = findLine(&fake, line, "CLEANUP_START: Remove backups older than 7 days");
    line = findLine(&fake, line, "CLEANUP_SUCCESS: Deleted 0 backups");
    line = findLine(&fake, line, "NEXT_BACKUP: 2026-01-02 02:00:00");
    assert_int_equal(fake.cleanups, 1);

    /* BACKUP_ALERT_ON_FAILURE: one alert per failure, naming the attempt. */
    assert_int_equal(fake.alerts, 2);
    assert_string_equal(fake.alertCodes[0], "NEO4J_UNREACHABLE");
    char firstId[TIME_TEXT_SIZE];
    timeBackupId(fake.backupStarts[0], firstId);
    assert_string_equal(fake.alertIds[0], firstId);
    assert_int_equal(fake.criticals, 0);

    SchedState saved;
    loadState(&saved);
    assert_int_equal(saved.consecutiveFailures, 0);
    assert_int_equal(saved.runsTotal, 3);
    assert_int_equal(saved.failuresTotal, 2);
    assert_int_equal(saved.pid, 0); /* stopped */
    assert_false(saved.paused);
    assert_true(fake.stateSaves >= 4);
}

static void testPausesAfterMaxFailuresAndResumes(void **state)
{
    (void)state;
    Fake fake = {.now = timeFromParts(2026, 1, 1, 1, 59, 30), .failuresToScript = 3, .backupsToRun = 4,
                 .resumeWhenPaused = true};
    timeSetClock(fakeClock, &fake);
    SchedRuntimeRequest request = makeRequest(&fake, 3);
    assert_int_equal(schedRuntimeRun(&request), ERR_OK);

    assert_int_equal(fake.backups, 4);
    unsigned line = findLine(&fake, 0, "BACKUP_FAILED: ");
    line = findLine(&fake, line + 1, "BACKUP_FAILED: ");
    line = findLine(&fake, line + 1, "BACKUP_FAILED: ");
    assert_non_null(strstr(fake.lines[line], "failure 3 of 3"));
    assert_int_equal(findLine(&fake, line, "SCHEDULER_PAUSED: 3 consecutive failures"), line + 1);
    line = findLine(&fake, line, "NEXT_BACKUP: none (paused; run neo4j-backup --resume)");
    /* Paused: no backup until the resume, then one at once. */
    line = findLine(&fake, line, "SCHEDULER_RESUMED");
    assert_int_equal(findLine(&fake, line, "BACKUP_START: "), line + 1);
    findLine(&fake, line, "BACKUP_SUCCESS: ");
    assert_true(fake.backupStarts[3] > fake.backupStarts[2]);
    assert_true(fake.backupStarts[3] - fake.backupStarts[2] <= 2 * SCHED_PAUSED_POLL_SECONDS);

    /* Three failure alerts and the CRITICAL pause alert. */
    assert_int_equal(fake.alerts, 4);
    assert_string_equal(fake.alertCodes[3], "SCHEDULER_PAUSED");
    assert_int_equal(fake.criticals, 1);

    SchedState saved;
    loadState(&saved);
    assert_false(saved.paused);
    assert_int_equal(saved.consecutiveFailures, 0);
}

typedef struct {
    Fake *fake;
    ErrCode answer;
    unsigned calls;
    int64_t pidSeen;
    unsigned backupsSeen;
} StartedProbe;

/* The fake with the probe after it: the runtime hands every callback the
 * same payload, a pointer to the fake, which is the first member here. */
typedef struct {
    Fake fake;
    StartedProbe *probe;
} FakeWithProbe;

static ErrCode probeStarted(void *payload)
{
    StartedProbe *probe = ((FakeWithProbe *)payload)->probe;
    probe->calls++;
    SchedState saved;
    loadState(&saved);
    probe->pidSeen = saved.pid;
    probe->backupsSeen = probe->fake->backups;
    return probe->answer == ERR_OK ? ERR_OK : errSet(probe->answer, "address already in use (test)");
}

static void testStartedHookSeesTheSchedulerRunning(void **state)
{
    (void)state;
    FakeWithProbe both = {.fake = {.now = timeFromParts(2026, 1, 1, 1, 59, 0), .backupsToRun = 1}};
    StartedProbe probe = {.fake = &both.fake};
    both.probe = &probe;
    timeSetClock(fakeClock, &both.fake);
    SchedRuntimeRequest request = makeRequest(&both.fake, 5);
    request.started = probeStarted;
    assert_int_equal(schedRuntimeRun(&request), ERR_OK);
    assert_int_equal(probe.calls, 1);
    assert_int_equal(probe.pidSeen, 4242); /* recorded before the hook runs */
    assert_int_equal(probe.backupsSeen, 0); /* and before the first backup */
    assert_int_equal(both.fake.backups, 1);

    /* A hook that fails (the server cannot bind) stops the scheduler before
     * any backup and leaves it recorded as stopped. */
    FakeWithProbe failing = {.fake = {.now = timeFromParts(2026, 1, 1, 1, 59, 0), .backupsToRun = 1}};
    StartedProbe refused = {.fake = &failing.fake, .answer = CONFIG_INVALID};
    failing.probe = &refused;
    timeSetClock(fakeClock, &failing.fake);
    request = makeRequest(&failing.fake, 5);
    request.started = probeStarted;
    assert_int_equal(schedRuntimeRun(&request), CONFIG_INVALID);
    assert_int_equal(refused.calls, 1);
    assert_int_equal(failing.fake.backups, 0);
    SchedState saved;
    loadState(&saved);
    assert_int_equal(saved.pid, 0);
}

static void testResumeEditsTheStateWhenNoSchedulerRuns(void **state)
{
    (void)state;
    Fake fake = {.now = timeFromParts(2026, 1, 1, 12, 0, 0)};
    timeSetClock(fakeClock, &fake);
    SchedResumeRequest request = {.root = root, .onEvent = fakeEvent, .eventPayload = &fake};
    SchedResumeOutcome outcome;
    assert_int_equal(schedRuntimeResume(&request, &outcome), ERR_OK);
    assert_int_equal(outcome, SCHED_RESUME_NOT_PAUSED);

    SchedState paused;
    schedStateInit(&paused);
    paused.paused = true;
    paused.pausedAt = fake.now - 3600;
    paused.consecutiveFailures = 5;
    snprintf(paused.pauseReason, sizeof(paused.pauseReason), "5 consecutive failures");
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", root, SCHED_STATE_FILE);
    assert_int_equal(schedRuntimeSaveState(path, &paused), ERR_OK);

    request.dryRun = true;
    assert_int_equal(schedRuntimeResume(&request, &outcome), ERR_OK);
    assert_int_equal(outcome, SCHED_RESUME_DRY_RUN);
    SchedState saved;
    loadState(&saved);
    assert_true(saved.paused);

    request.dryRun = false;
    assert_int_equal(schedRuntimeResume(&request, &outcome), ERR_OK);
    assert_int_equal(outcome, SCHED_RESUME_STATE);
    loadState(&saved);
    assert_false(saved.paused);
    assert_int_equal(saved.consecutiveFailures, 0);
    assert_int_equal(saved.nextRun, 0);
}

int main(void)
{
    logSetVerbose(false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testRetriesFollowTheDelaysThenSucceed, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testPausesAfterMaxFailuresAndResumes, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testResumeEditsTheStateWhenNoSchedulerRuns, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testStartedHookSeesTheSchedulerRunning, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
