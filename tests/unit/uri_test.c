/* Unit tests for boltUriParse (src/bolt/uri.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bolt/connection.h"

#include <string.h>

static void assertParses(const char *text, const char *scheme, const char *host, uint16_t port,
                         BoltTlsMode tls, bool routing)
{
    BoltUri uri;
    ErrCode code = boltUriParse(text, &uri);
    if (code != ERR_OK)
        fail_msg("'%s' rejected: %s", text, errLast()->reason);
    assert_string_equal(uri.scheme, scheme);
    assert_string_equal(uri.host, host);
    assert_int_equal(uri.port, port);
    assert_int_equal(uri.tls, tls);
    assert_int_equal(uri.routing, routing);
}

static void assertRejected(const char *text, const char *fragment)
{
    BoltUri uri;
    errClear();
    ErrCode code = boltUriParse(text, &uri);
    const char *shown = text ? text : "(null)"; /* %s of NULL is undefined */
    if (code != CONFIG_INVALID)
        fail_msg("'%s' accepted (code %d)", shown, (int)code);
    if (fragment && !strstr(errLast()->reason, fragment))
        fail_msg("'%s': reason '%s' lacks '%s'", shown, errLast()->reason, fragment);
}

static void testAllSchemes(void **state)
{
    (void)state;
    assertParses("bolt://localhost", "bolt", "localhost", 7687, BOLT_TLS_NONE, false);
    assertParses("bolt+s://db.example.com:7688", "bolt+s", "db.example.com", 7688, BOLT_TLS_VERIFIED, false);
    assertParses("bolt+ssc://10.0.0.5:1", "bolt+ssc", "10.0.0.5", 1, BOLT_TLS_ANY_CERT, false);
    assertParses("neo4j://graph:65535", "neo4j", "graph", 65535, BOLT_TLS_NONE, true);
    assertParses("neo4j+s://a.b", "neo4j+s", "a.b", 7687, BOLT_TLS_VERIFIED, true);
    assertParses("neo4j+ssc://my_host-1/", "neo4j+ssc", "my_host-1", 7687, BOLT_TLS_ANY_CERT, true);
    /* Schemes are case-insensitive and stored lowercase. */
    assertParses("BOLT://Host", "bolt", "Host", 7687, BOLT_TLS_NONE, false);
}

static void testIpv6(void **state)
{
    (void)state;
    assertParses("bolt://[::1]:7687", "bolt", "::1", 7687, BOLT_TLS_NONE, false);
    assertParses("bolt://[::1]", "bolt", "::1", 7687, BOLT_TLS_NONE, false);
    assertParses("bolt+s://[2001:db8::10]:9000/", "bolt+s", "2001:db8::10", 9000, BOLT_TLS_VERIFIED, false);
    assertParses("bolt://[::ffff:127.0.0.1]:17687", "bolt", "::ffff:127.0.0.1", 17687, BOLT_TLS_NONE, false);
    assertRejected("bolt://[::1", "closing");
    assertRejected("bolt://[::1]x", "after the IPv6");
    assertRejected("bolt://[zz::1]:7687", "IPv6");
    assertRejected("bolt://::1:7687", "brackets");
}

static void testGarbage(void **state)
{
    (void)state;
    assertRejected(NULL, "empty");
    assertRejected("", "empty");
    assertRejected("localhost:7687", "no scheme");
    assertRejected("http://localhost:7474", "unsupported scheme");
    assertRejected("bolt+x://localhost", "unsupported scheme");
    assertRejected("bolt://", "no host");
    assertRejected("bolt://:7687", "no host");
    assertRejected("bolt://host:", "port");
    assertRejected("bolt://host:0", "port");
    assertRejected("bolt://host:65536", "port");
    assertRejected("bolt://host:123456", "port");
    assertRejected("bolt://host:12a", "port");
    assertRejected("bolt://host:-1", "port");
    assertRejected("bolt://ho st", "invalid characters");
    assertRejected("bolt://host/neo4j", "paths");
    assertRejected("neo4j://host?policy=eu", "query");
    char longHost[400];
    memset(longHost, 'a', sizeof(longHost));
    memcpy(longHost, "bolt://", 7);
    longHost[sizeof(longHost) - 1] = '\0';
    assertRejected(longHost, "too long");
}

static void testCredentialsRejectedWithoutEcho(void **state)
{
    (void)state;
    assertRejected("bolt://neo4j:s3cretPass@localhost:7687", "must not contain");
    assert_null(strstr(errLast()->reason, "s3cretPass"));
    assert_non_null(strstr(errLast()->action, "NEO4J_PASSWORD"));
    /* Any error for a URI with '@' must not echo the text. */
    assertRejected("bolt+q://user:hunter2@host", NULL);
    assert_null(strstr(errLast()->reason, "hunter2"));
}

/* Routed addresses and log lines: IPv6 hosts get their brackets back. */
static void testAddressFormat(void **state)
{
    (void)state;
    char text[64];
    boltAddressFormat("db.example", 7687, text, sizeof(text));
    assert_string_equal(text, "db.example:7687");
    boltAddressFormat("fd00::3", 7688, text, sizeof(text));
    assert_string_equal(text, "[fd00::3]:7688");
    BoltUri uri;
    assert_int_equal(boltUriParse("neo4j+s://[::1]:7690", &uri), ERR_OK);
    boltAddressFormat(uri.host, uri.port, text, sizeof(text));
    assert_string_equal(text, "[::1]:7690");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testAllSchemes),
        cmocka_unit_test(testIpv6),
        cmocka_unit_test(testGarbage),
        cmocka_unit_test(testCredentialsRejectedWithoutEcho),
        cmocka_unit_test(testAddressFormat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
