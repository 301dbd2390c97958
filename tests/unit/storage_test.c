/* The storage seam itself: repository locations (s3://bucket/prefix vs a
 * path) and the name rules every driver relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "storage/storage.h"

#include <string.h>

static void testLocationPath(void **state)
{
    (void)state;
    StorageLocation location;
    assert_int_equal(storageLocationParse("/var/backups/neo4j", &location), ERR_OK);
    assert_int_equal(location.kind, STORAGE_LOCATION_POSIX);
    assert_string_equal(location.path, "/var/backups/neo4j");
    assert_int_equal(storageLocationParse("relative/dir", &location), ERR_OK);
    assert_int_equal(location.kind, STORAGE_LOCATION_POSIX);
}

static void testLocationS3(void **state)
{
    (void)state;
    StorageLocation location;
    assert_int_equal(storageLocationParse("s3://my-bucket/neo4j/prod/", &location), ERR_OK);
    assert_int_equal(location.kind, STORAGE_LOCATION_S3);
    assert_string_equal(location.bucket, "my-bucket");
    assert_string_equal(location.prefix, "neo4j/prod");
    assert_int_equal(storageLocationParse("s3://my.bucket", &location), ERR_OK);
    assert_string_equal(location.bucket, "my.bucket");
    assert_string_equal(location.prefix, "");
}

static void testLocationRejected(void **state)
{
    (void)state;
    StorageLocation location;
    const char *bad[] = {"", "s3://", "s3://ab", "s3://Upper/x", "s3://-bucket/x", "s3://bucket-/x",
                         "s3://bucket/a/../b", "s3://bucket/a//b", "gs://bucket/x", "S3://bucket", "s3://bu_cket"};
    for (size_t index = 0; index < sizeof(bad) / sizeof(bad[0]); index++) {
        assert_int_equal(storageLocationParse(bad[index], &location), CONFIG_INVALID);
        assert_true(strlen(errLast()->reason) > 0);
    }
}

static void testNameCheck(void **state)
{
    (void)state;
    assert_int_equal(storageNameCheck("neo4j-20260101-000000/archive.nbk", false), ERR_OK);
    assert_int_equal(storageNameCheck("", true), ERR_OK);
    const char *bad[] = {"", "/abs", "a/", "a//b", "..", "a/../b", "./a", "a/.", "tab\there", "back\\slash"};
    for (size_t index = 0; index < sizeof(bad) / sizeof(bad[0]); index++)
        assert_int_equal(storageNameCheck(bad[index], false), CONFIG_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testLocationPath),
        cmocka_unit_test(testLocationS3),
        cmocka_unit_test(testLocationRejected),
        cmocka_unit_test(testNameCheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
