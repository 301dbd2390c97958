/* Record views: accept exactly the layouts of records.h, reject the rest. */
#include "graph/records.h"

#include "bolt/packstream.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static BoltValue testNode(Arena *arena, int64_t key)
{
    BoltValue node = boltList(arena, 3);
    node.as.list.items[0] = boltInt(key);
    node.as.list.items[1] = boltList(arena, 2);
    node.as.list.items[1].as.list.items[0] = boltString(arena, "Person");
    node.as.list.items[1].as.list.items[1] = boltString(arena, "with space`tick");
    node.as.list.items[2] = boltMap(arena, 1);
    boltMapSet(arena, &node.as.list.items[2], 0, "name", boltString(arena, "Ada"));
    return node;
}

static BoltValue testRelationship(Arena *arena)
{
    BoltValue relationship = boltList(arena, 5);
    relationship.as.list.items[0] = boltInt(5);
    relationship.as.list.items[1] = boltInt(1);
    relationship.as.list.items[2] = boltInt(2);
    relationship.as.list.items[3] = boltString(arena, "KNOWS");
    relationship.as.list.items[4] = boltMap(arena, 0);
    return relationship;
}

static void testNodeView(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue node = testNode(arena, 42);
    GraphNode view;
    assert_int_equal(graphNodeFromValue(&node, &view), ERR_OK);
    assert_int_equal(view.key, 42);
    assert_ptr_equal(view.labels, &node.as.list.items[1]);
    assert_int_equal(view.labels->as.list.count, 2);
    assert_ptr_equal(view.properties, &node.as.list.items[2]);

    /* Survives a PackStream round trip (what the archive stores). */
    Buffer packed;
    bufferInit(&packed);
    packValue(&packed, &node);
    PackReader reader;
    packReaderInit(&reader, packed.data, packed.length);
    BoltValue decoded;
    assert_int_equal(unpackValue(&reader, arena, &decoded), ERR_OK);
    assert_int_equal(graphNodeFromValue(&decoded, &view), ERR_OK);
    assert_int_equal(view.key, 42);
    assert_string_equal(view.labels->as.list.items[1].as.string.data, "with space`tick");
    bufferFree(&packed);
    arenaFree(arena);
}

static void testNodeViewRejects(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    GraphNode view;
    BoltValue notList = boltInt(3);
    assert_int_equal(graphNodeFromValue(&notList, &view), BACKUP_CORRUPTED);
    assert_int_equal(graphNodeFromValue(NULL, &view), BACKUP_CORRUPTED);

    BoltValue shortList = boltList(arena, 2);
    assert_int_equal(graphNodeFromValue(&shortList, &view), BACKUP_CORRUPTED);

    BoltValue relationship = testRelationship(arena);
    assert_int_equal(graphNodeFromValue(&relationship, &view), BACKUP_CORRUPTED);

    BoltValue badKey = testNode(arena, 1);
    badKey.as.list.items[0] = boltString(arena, "1");
    assert_int_equal(graphNodeFromValue(&badKey, &view), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "key"));

    BoltValue badLabels = testNode(arena, 1);
    badLabels.as.list.items[1] = boltString(arena, "Person");
    assert_int_equal(graphNodeFromValue(&badLabels, &view), BACKUP_CORRUPTED);

    BoltValue badLabel = testNode(arena, 1);
    badLabel.as.list.items[1].as.list.items[1] = boltInt(7);
    assert_int_equal(graphNodeFromValue(&badLabel, &view), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "label 1"));

    BoltValue badProperties = testNode(arena, 1);
    badProperties.as.list.items[2] = boltList(arena, 0);
    assert_int_equal(graphNodeFromValue(&badProperties, &view), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "properties"));
    arenaFree(arena);
}

static void testRelationshipView(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue relationship = testRelationship(arena);
    GraphRelationship view;
    assert_int_equal(graphRelationshipFromValue(&relationship, &view), ERR_OK);
    assert_int_equal(view.key, 5);
    assert_int_equal(view.startKey, 1);
    assert_int_equal(view.endKey, 2);
    assert_int_equal(view.typeLength, 5);
    assert_memory_equal(view.type, "KNOWS", 5);
    assert_ptr_equal(view.properties, &relationship.as.list.items[4]);
    arenaFree(arena);
}

static void testRelationshipViewRejects(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    GraphRelationship view;
    BoltValue node = testNode(arena, 1);
    assert_int_equal(graphRelationshipFromValue(&node, &view), BACKUP_CORRUPTED);

    for (int keyIndex = 0; keyIndex < 3; keyIndex++) {
        BoltValue badKey = testRelationship(arena);
        badKey.as.list.items[keyIndex] = boltFloat(1.0);
        assert_int_equal(graphRelationshipFromValue(&badKey, &view), BACKUP_CORRUPTED);
    }
    BoltValue badType = testRelationship(arena);
    badType.as.list.items[3] = boltNull();
    assert_int_equal(graphRelationshipFromValue(&badType, &view), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "type"));

    BoltValue emptyType = testRelationship(arena);
    emptyType.as.list.items[3] = boltString(arena, "");
    assert_int_equal(graphRelationshipFromValue(&emptyType, &view), BACKUP_CORRUPTED);

    BoltValue badProperties = testRelationship(arena);
    badProperties.as.list.items[4] = boltNull();
    assert_int_equal(graphRelationshipFromValue(&badProperties, &view), BACKUP_CORRUPTED);
    arenaFree(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testNodeView),
        cmocka_unit_test(testNodeViewRejects),
        cmocka_unit_test(testRelationshipView),
        cmocka_unit_test(testRelationshipViewRejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
