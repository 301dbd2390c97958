/* The load choice of a logical restore (command/import.h): auto picks the
 * import load only for an instance the tool can stop, bolt and import force
 * their load, and the reason names what decided it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "command/import.h"

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
    assert_int_equal(cmdImportChooseLoad("auto", &target, why, sizeof(why)), CMD_LOAD_IMPORT);
    assert_non_null(strstr(why, "auto"));
    assert_non_null(strstr(why, "test-neo4j"));
    /* Unset means the default, auto. */
    assert_int_equal(cmdImportChooseLoad(NULL, &target, why, sizeof(why)), CMD_LOAD_IMPORT);
}

static void testAutoKeepsATargetWithoutCommandsOnline(void **state)
{
    (void)state;
    char why[256];
    InstanceConfig noHome = stoppableTarget();
    noHome.neo4jHome = NULL;
    assert_int_equal(cmdImportChooseLoad("auto", &noHome, why, sizeof(why)), CMD_LOAD_BOLT);
    assert_non_null(strstr(why, "no NEO4J_HOME"));

    InstanceConfig noStop = stoppableTarget();
    noStop.stopCommand = NULL;
    assert_int_equal(cmdImportChooseLoad("auto", &noStop, why, sizeof(why)), CMD_LOAD_BOLT);
    assert_non_null(strstr(why, "no STOP_COMMAND"));

    InstanceConfig noStart = stoppableTarget();
    noStart.startCommand = NULL;
    noStart.isProduction = true;
    assert_int_equal(cmdImportChooseLoad(NULL, &noStart, why, sizeof(why)), CMD_LOAD_BOLT);
    assert_non_null(strstr(why, "production has no NEO4J_START_COMMAND"));
}

static void testBoltAndImportAreForced(void **state)
{
    (void)state;
    char why[256];
    InstanceConfig stoppable = stoppableTarget();
    assert_int_equal(cmdImportChooseLoad("bolt", &stoppable, why, sizeof(why)), CMD_LOAD_BOLT);
    assert_non_null(strstr(why, "bolt"));
    InstanceConfig online = stoppableTarget();
    online.neo4jHome = NULL;
    /* Forced import on a target that cannot stop: chosen here, refused by cmdImportPreflight. */
    assert_int_equal(cmdImportChooseLoad("import", &online, why, sizeof(why)), CMD_LOAD_IMPORT);
    assert_int_equal(cmdImportPreflight(&online), CONFIG_INVALID);
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
