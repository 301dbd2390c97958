/* The load choice of a logical restore (restore/restore_service.h): auto picks the
 * import load only for an instance the tool can stop, bolt and import force
 * their load, and the reason names what decided it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "restore/restore_service.h"

#include <string.h>

static InstanceConfig stoppableTarget(void)
{
    InstanceConfig instance;
    memset(&instance, 0, sizeof(instance));
    strcpy(instance.name, "test-neo4j");
    instance.neo4jHome = "/opt/neo4j";
    instance.stopCommand = "neo4j stop";
    instance.startCommand = "neo4j start";
    return instance;
}

static void testAutoImportsIntoAStoppableTarget(void **state)
{
    (void)state;
    InstanceConfig target = stoppableTarget();
    char why[256];
    assert_int_equal(restoreChooseLoad(RESTORE_LOAD_AUTO, &target, why, sizeof(why)), RESTORE_LOAD_IMPORT);
    assert_non_null(strstr(why, "auto"));
    assert_non_null(strstr(why, "test-neo4j"));
    /* Unset means the default, auto. */
    RestoreLoad unset = RESTORE_LOAD_BOLT;
    assert_int_equal(restoreLoadParse(NULL, &unset), ERR_OK);
    assert_int_equal(unset, RESTORE_LOAD_AUTO);
    assert_int_equal(restoreLoadParse("sideways", &unset), CONFIG_INVALID);
}

static void testAutoKeepsATargetWithoutCommandsOnline(void **state)
{
    (void)state;
    char why[256];
    InstanceConfig noHome = stoppableTarget();
    noHome.neo4jHome = NULL;
    assert_int_equal(restoreChooseLoad(RESTORE_LOAD_AUTO, &noHome, why, sizeof(why)), RESTORE_LOAD_BOLT);
    assert_non_null(strstr(why, "no NEO4J_HOME"));

    InstanceConfig noStop = stoppableTarget();
    noStop.stopCommand = NULL;
    assert_int_equal(restoreChooseLoad(RESTORE_LOAD_AUTO, &noStop, why, sizeof(why)), RESTORE_LOAD_BOLT);
    assert_non_null(strstr(why, "no STOP_COMMAND"));

    InstanceConfig noStart = stoppableTarget();
    noStart.startCommand = NULL;
    noStart.isProduction = true;
    assert_int_equal(restoreChooseLoad(RESTORE_LOAD_AUTO, &noStart, why, sizeof(why)), RESTORE_LOAD_BOLT);
    assert_non_null(strstr(why, "production has no NEO4J_START_COMMAND"));
}

static void testBoltAndImportAreForced(void **state)
{
    (void)state;
    char why[256];
    InstanceConfig stoppable = stoppableTarget();
    assert_int_equal(restoreChooseLoad(RESTORE_LOAD_BOLT, &stoppable, why, sizeof(why)), RESTORE_LOAD_BOLT);
    assert_non_null(strstr(why, "bolt"));
    InstanceConfig online = stoppableTarget();
    online.neo4jHome = NULL;
    /* Forced import on a target that cannot stop: chosen here, refused by restoreImportPreflight. */
    assert_int_equal(restoreChooseLoad(RESTORE_LOAD_IMPORT, &online, why, sizeof(why)), RESTORE_LOAD_IMPORT);
    assert_int_equal(restoreImportPreflight(&online), CONFIG_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testAutoImportsIntoAStoppableTarget),
        cmocka_unit_test(testAutoKeepsATargetWithoutCommandsOnline),
        cmocka_unit_test(testBoltAndImportAreForced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
