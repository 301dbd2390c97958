"""The project's Bolt client against real Neo4j servers, cross-checked with the
official Python driver (issue 2, section 5).

The client is driven through two test programs built from tests/tools/:
`bolt_values` (read/echo/write/catalogue/count, see its header) and
`bolt_query`. Values are compared as canonical typed JSON: the C tool prints
it for what our client decoded, `canonical()` below builds the same JSON from
the Python driver's values (integers as strings, floats as IEEE bit patterns,
so NaN and -0.0 compare exactly).

  1. every value type the server sends decodes exactly as the driver sees it
  2. every catalogue value round-trips as a parameter (RETURN $p)
  3. values our client stores read back identically with the driver
  4. Bolt 4.4, 5.0 and the default (5.8 on 5.26) all pass
  5. the newest calendar release: Bolt 6.0, vectors, placeholders over 5.8
     (fails, never skips, when that server cannot start; NBK_SKIP_CALENDAR=1
     skips it on purpose)
  6. streaming 1,000,000 rows keeps memory flat
  7. wrong password, nothing listening, a server killed mid-stream
  8. TLS: bolt+ssc://, bolt+s:// with and without the CA file
  9. routing: neo4j:// to a Community server (a one-server routing table),
     NEO4J_READ_FROM; the clear-text password warning (issue 11): none on
     loopback, once for this machine's own non-loopback address

Servers: the session's main and TLS servers (conftest.py), plus
"<prefix>-calendar" (2026.08.1) and "<prefix>-kill" (a disposable 5.26 that
test 7 kills with SIGKILL), both started by module fixtures and stopped at
the end (NBK_KEEP_CALENDAR=1 keeps the calendar server for the next run).
"""

import datetime
import json
import math
import os
import signal
import struct
import subprocess
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from conftest import SERVER_PREFIX
from helpers import NEO4J_AUTH_FAILED, NEO4J_UNREACHABLE, free_port
from neo4j_servers import Neo4jLocalError, Neo4jServer, launcher

neo4j = pytest.importorskip("neo4j")
pytz = pytest.importorskip("pytz")

from neo4j.graph import Node, Path as GraphPath, Relationship  # noqa: E402
from neo4j.spatial import CartesianPoint, Point, WGS84Point  # noqa: E402
from neo4j.time import Date, DateTime, Duration, Time  # noqa: E402
from neo4j.types import UnsupportedType  # noqa: E402
from neo4j.vector import Vector  # noqa: E402

NEO4J_QUERY_FAILED = 17
CALENDAR_SERVER = f"{SERVER_PREFIX}-calendar"
KILL_SERVER = f"{SERVER_PREFIX}-kill"
EPOCH_ORDINAL = Date(1970, 1, 1).to_ordinal()
NANOS = 1_000_000_000


# ---- canonical JSON from the Python driver's values --------------------------------------


def _bits(value: float) -> str:
    return struct.pack(">d", value).hex()


def _wall_seconds(value: DateTime) -> int:
    """Seconds since 1970-01-01T00:00 of value's wall clock, ignoring its zone."""
    days = value.date().to_ordinal() - EPOCH_ORDINAL
    return days * 86400 + value.hour * 3600 + value.minute * 60 + int(value.second)


def _offset_seconds(value) -> int:
    return int(value.utcoffset().total_seconds())


def _zone_name(tz) -> Optional[str]:
    """IANA name of a named zone; None for a fixed offset. The driver hands out
    pytz's `utc` singleton both for offset 0 and for the zone "UTC", so that
    one counts as an offset, and `_fold_utc_zone` folds our side to match."""
    if tz is None or tz is pytz.utc:
        return None
    return getattr(tz, "zone", None) or getattr(tz, "key", None)


def _fold_utc_zone(item: Any) -> Any:
    """item with every DateTime in zone "UTC" written as offset 0: the one
    difference the driver cannot show (see _zone_name)."""
    if isinstance(item, list):
        return [_fold_utc_zone(element) for element in item]
    if isinstance(item, dict):
        if item.get("t") == "DateTimeZoneId" and item.get("zone") == "UTC":
            return {"t": "DateTime", "seconds": item["seconds"], "nanos": item["nanos"], "offset": "0"}
        return {key: _fold_utc_zone(element) for key, element in item.items()}
    return item


def canonical(value: Any, bolt4: bool = False) -> Dict[str, Any]:
    """The JSON that `bolt_values read` prints for the same value. bolt4: the
    connection was Bolt 4.4, whose entities carry no element ids."""
    if value is None:
        return {"t": "Null"}
    if isinstance(value, bool):
        return {"t": "Boolean", "v": value}
    if isinstance(value, int):
        return {"t": "Integer", "v": str(value)}
    if isinstance(value, float):
        return {"t": "Float", "v": _bits(value)}
    if isinstance(value, str):
        return {"t": "String", "v": value}
    if isinstance(value, (bytes, bytearray)):
        return {"t": "Bytes", "v": bytes(value).hex()}
    if isinstance(value, Vector):
        return {"t": "Vector", "dtype": value.dtype.value, "data": value.raw(byteorder="big").hex()}
    if isinstance(value, UnsupportedType):
        return {"t": "Placeholder", "type": value.name}
    if isinstance(value, Duration):  # a tuple: before the list case
        seconds, nanos = divmod(value.seconds * NANOS + value.nanoseconds, NANOS)
        return {"t": "Duration", "months": str(value.months), "days": str(value.days),
                "seconds": str(seconds), "nanos": str(nanos)}
    if isinstance(value, Point):  # a tuple too
        coordinates = tuple(value)
        shape = {2: "Point2D", 3: "Point3D"}[len(coordinates)]
        out = {"t": shape, "srid": str(value.srid)}
        for axis, coordinate in zip("xyz", coordinates):
            out[axis] = _bits(float(coordinate))
        return out
    if isinstance(value, Date):
        return {"t": "Date", "days": str(value.to_ordinal() - EPOCH_ORDINAL)}
    if isinstance(value, Time):
        if value.tzinfo is None:
            return {"t": "LocalTime", "nanos": str(value.ticks)}
        return {"t": "Time", "nanos": str(value.ticks), "offset": str(_offset_seconds(value))}
    if isinstance(value, DateTime):
        if value.tzinfo is None:
            return {"t": "LocalDateTime", "seconds": str(_wall_seconds(value)),
                    "nanos": str(value.nanosecond)}
        offset = _offset_seconds(value)
        utc_seconds = str(_wall_seconds(value) - offset)
        zone = _zone_name(value.tzinfo)
        if zone:
            return {"t": "DateTimeZoneId", "seconds": utc_seconds, "nanos": str(value.nanosecond),
                    "zone": zone}
        return {"t": "DateTime", "seconds": utc_seconds, "nanos": str(value.nanosecond),
                "offset": str(offset)}
    if isinstance(value, GraphPath):
        return {"t": "Path", "nodes": [canonical(node, bolt4) for node in value.nodes],
                "rels": [canonical(rel, bolt4) for rel in value.relationships]}
    if isinstance(value, Node):
        out = {"t": "Node", "id": str(_legacy_id(value)), "labels": sorted(value.labels),
               "props": {key: canonical(item, bolt4) for key, item in value.items()}}
        if not bolt4:
            out["element_id"] = value.element_id
        return out
    if isinstance(value, Relationship):
        out = {"t": "Relationship", "id": str(_legacy_id(value)),
               "start": str(_legacy_id(value.start_node)), "end": str(_legacy_id(value.end_node)),
               "type": value.type, "props": {key: canonical(item, bolt4) for key, item in value.items()}}
        if not bolt4:
            out.update(element_id=value.element_id, start_element_id=value.start_node.element_id,
                       end_element_id=value.end_node.element_id)
        return out
    if isinstance(value, (list, tuple)):
        return {"t": "List", "v": [canonical(item, bolt4) for item in value]}
    if isinstance(value, dict):
        if set(value) == {"originalType", "reason"} and value["reason"] == "UNKNOWN_TYPE":
            return {"t": "Placeholder", "type": value["originalType"]}
        return {"t": "Map", "v": {key: canonical(item, bolt4) for key, item in value.items()}}
    raise TypeError(f"no canonical form for {type(value).__name__}: {value!r}")


def _legacy_id(entity) -> int:
    """The integer id Bolt still sends next to the element id (deprecated in the driver)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return entity.id


def _short(item: Any, limit: int = 300) -> str:
    text = json.dumps(item, ensure_ascii=False)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def assert_same_rows(ours: List[list], theirs: List[list], what: str) -> None:
    """Row-by-row, column-by-column equality with a readable list of differences."""
    assert len(ours) == len(theirs), f"{what}: {len(ours)} rows from our client, {len(theirs)} from the driver"
    ours, theirs = _fold_utc_zone(ours), _fold_utc_zone(theirs)
    differences = []
    for row_index, (our_row, their_row) in enumerate(zip(ours, theirs)):
        if our_row == their_row:
            continue
        label = our_row[0].get("v") if our_row and our_row[0].get("t") == "String" else row_index
        for column, (mine, reference) in enumerate(zip(our_row, their_row)):
            if mine != reference:
                differences.append(f"row {label} column {column}:\n    ours:   {_short(mine)}\n"
                                   f"    driver: {_short(reference)}")
        if len(our_row) != len(their_row):
            differences.append(f"row {label}: {len(our_row)} vs {len(their_row)} columns")
    assert not differences, f"{what}: {len(differences)} differences\n" + "\n".join(differences)


# ---- running the tools ---------------------------------------------------------------------


def _tool(build_dir: Path, name: str) -> Path:
    path = build_dir / name
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built (cmake --build {build_dir}, or set NBK_BUILD_DIR)")
    return path


@pytest.fixture(scope="session")
def bolt_values(build_dir) -> Path:
    return _tool(build_dir, "bolt_values")


@pytest.fixture(scope="session")
def bolt_query(build_dir) -> Path:
    return _tool(build_dir, "bolt_query")


def _clean_env() -> Dict[str, str]:
    """This environment without NEO4J_* variables: connection settings come
    from the command line only."""
    return {key: value for key, value in os.environ.items() if not key.startswith("NEO4J_")}


def run_tool(program: Path, *args: str, server: Optional[Neo4jServer] = None, uri: Optional[str] = None,
             password: Optional[str] = None, bolt: Optional[str] = None, timeout: float = 300,
             echo_limit: int = 3000) -> subprocess.CompletedProcess:
    """Run a tool against server (or uri); output printed (cut to echo_limit) for
    pytest's report."""
    argv = [str(program)]
    if server is not None or uri is not None:
        argv += ["--uri", uri or server.uri, "--user", server.user if server else "neo4j",
                 "--password", password if password is not None else (server.password if server else "x")]
    if bolt:
        argv += ["--bolt", bolt]
    argv += list(args)
    started = time.monotonic()
    result = subprocess.run(argv, env=_clean_env(), capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    shown = ["***" if index and argv[index - 1] == "--password" else arg for index, arg in enumerate(argv)]
    print(f"$ {' '.join(shown)}\n[exit {result.returncode} after {time.monotonic() - started:.1f} s]")
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text:
            cut = text if len(text) <= echo_limit else text[:echo_limit] + f"... ({len(text)} chars)"
            print(f"--- {name}\n{cut.rstrip()}")
    return result


def negotiated(result: subprocess.CompletedProcess) -> str:
    """The "Bolt X.Y" line both tools print to stderr after connecting."""
    for line in result.stderr.splitlines():
        if line.startswith("Bolt "):
            return line.split()[1]
    raise AssertionError(f"no 'Bolt X.Y' line in stderr:\n{result.stderr}")


def read_ours(bolt_values: Path, server: Neo4jServer, query: str, bolt: Optional[str] = None) -> List[list]:
    result = run_tool(bolt_values, "read", query, server=server, bolt=bolt)
    assert result.returncode == 0, result.stderr
    # split("\n"), not splitlines(): strings may hold U+2028 and friends.
    return [json.loads(line) for line in result.stdout.split("\n") if line]


def read_theirs(server: Neo4jServer, query: str, bolt4: bool = False, **params) -> List[list]:
    with server.driver() as driver, driver.session(database="neo4j") as session:
        return [[canonical(value, bolt4) for value in record.values()]
                for record in session.run(query, params)]


def run_echo(bolt_values: Path, server: Neo4jServer, bolt: Optional[str] = None) -> subprocess.CompletedProcess:
    result = run_tool(bolt_values, "echo", server=server, bolt=bolt, echo_limit=20000)
    problems = [line for line in result.stdout.splitlines() if not line.startswith("ok ")]
    assert result.returncode == 0, "echo found differences:\n" + "\n".join(problems) + "\n" + result.stderr
    assert "0 failed" in result.stdout
    return result


@pytest.fixture(scope="session")
def catalogue(bolt_values) -> Dict[str, dict]:
    """bolt_values's built-in cases: name -> {storable, invalid, min_major, value}."""
    result = subprocess.run([str(bolt_values), "catalogue"], capture_output=True, text=True, check=True)
    cases = {}
    for line in result.stdout.splitlines():
        entry = json.loads(line)
        cases[entry.pop("case")] = entry
    return cases


PROBE_LABELS = ("PyProbe", "PyGraph", "BoltProbe")


@pytest.fixture(scope="module")
def server(neo4j_server):
    """The session's main server; the nodes this module writes are removed at its end."""
    if not neo4j_server.is_running():
        neo4j_server.restart()
    yield neo4j_server
    if neo4j_server.is_running():
        labels = " OR ".join(f"n:{label}" for label in PROBE_LABELS)
        neo4j_server.run(f"MATCH (n) WHERE {labels} DETACH DELETE n")


# ---- 1. every value type the server sends decodes exactly --------------------------------

_BERLIN = pytz.timezone("Europe/Berlin")
_NEW_YORK = pytz.timezone("America/New_York")


def _utc(*fields) -> DateTime:
    return DateTime(*fields, tzinfo=pytz.utc)


# Written with the Python driver as (:PyProbe {case, v}); names sort in the
# order the query returns them.
PY_CASES = {
    "bool": True,
    "int_zero": 0, "int_minus_17": -17, "int_128": 128, "int_minus_129": -129, "int_32768": 32768,
    "int_minus_32769": -32769, "int_2p31": 2 ** 31, "int_minus_2p31_minus_1": -(2 ** 31) - 1,
    "int_max": 2 ** 63 - 1, "int_min": -(2 ** 63),
    "float_zero": 0.0, "float_negative_zero": -0.0, "float_nan": math.nan, "float_inf": math.inf,
    "float_minus_inf": -math.inf, "float_subnormal": 5e-324, "float_max": 1.7976931348623157e308,
    "float_tenth": 0.1,
    "string_empty": "", "string_15": "x" * 15, "string_16": "y" * 16, "string_255": "z" * 255,
    "string_256": "w" * 256, "string_65535": "v" * 65535, "string_65536": "u" * 65536,
    "string_1mb": "0123456789abcdef" * 65536,
    "string_unicode": "h\u00e9llo \u65e5\u672c\u8a9e \U0001f389 \u03a9 \u0639\u0631\u0628\u064a \u2028",
    "string_controls": "a\u0000b\tc\nd\u0001e\u001f\"q\\\u007f",
    "bytes_empty": b"", "bytes_small": b"\x00\xff\x80\x7f", "bytes_255": bytes(range(255)),
    "bytes_256": bytes(range(256)), "bytes_65536": bytes(range(256)) * 256,
    "list_empty": [], "list_int_16": list(range(-8, 8)), "list_int_65536": list(range(65536)),
    "list_string": ["a", "", "\u65e5"], "list_float": [math.nan, -0.0, math.inf, 2.5],
    "list_bool": [True, False],
    "list_date": [Date(1, 1, 1), Date(9999, 12, 31)],
    "list_point": [CartesianPoint((1.0, 2.0)), CartesianPoint((3.0, -4.5))],
    "date_epoch": Date(1970, 1, 1), "date_before_epoch": Date(1969, 12, 31),
    "date_year_1": Date(1, 1, 1), "date_year_9999": Date(9999, 12, 31), "date_leap": Date(2024, 2, 29),
    "time_plus_0530": Time(12, 34, 56, 123456789, tzinfo=pytz.FixedOffset(330)),
    "time_minus_0800": Time(23, 59, 59, 999999999, tzinfo=pytz.FixedOffset(-480)),
    "time_utc": Time(0, 0, 0, 0, tzinfo=pytz.FixedOffset(0)),
    "localtime_midnight": Time(0, 0, 0), "localtime_last_nano": Time(23, 59, 59, 999999999),
    "datetime_offset": DateTime(2023, 11, 14, 22, 13, 20, 123456789, tzinfo=pytz.FixedOffset(60)),
    "datetime_negative_offset": DateTime(1969, 12, 31, 23, 59, 59, 1, tzinfo=pytz.FixedOffset(-570)),
    "datetime_utc_offset": DateTime(2000, 1, 1, 0, 0, 0, 0, tzinfo=datetime.timezone.utc),  # sent as offset 0
    "datetime_utc_zone": _utc(2000, 1, 1, 0, 0, 0, 1),  # pytz.utc: sent as zone id "UTC"
    "datetime_year_1": DateTime(1, 1, 1, 2, 0, 0, 0, tzinfo=pytz.FixedOffset(120)),
    "datetime_year_9999": DateTime(9999, 12, 31, 18, 59, 59, 999999999, tzinfo=pytz.FixedOffset(-300)),
    "datetime_berlin_summer": _utc(2021, 7, 1, 10, 0, 0, 42).as_timezone(_BERLIN),
    "datetime_berlin_winter": _utc(2021, 1, 15, 11, 0, 0, 999999999).as_timezone(_BERLIN),
    "datetime_ny_first_0130": _utc(2021, 11, 7, 5, 30, 0, 0).as_timezone(_NEW_YORK),
    "datetime_ny_second_0130": _utc(2021, 11, 7, 6, 30, 0, 0).as_timezone(_NEW_YORK),
    "datetime_kolkata": _utc(2023, 11, 14, 22, 13, 20, 7).as_timezone(pytz.timezone("Asia/Kolkata")),
    "localdatetime_epoch": DateTime(1970, 1, 1, 0, 0, 0, 0),
    "localdatetime_nanos": DateTime(2023, 11, 14, 22, 13, 20, 999999999),
    "localdatetime_year_1": DateTime(1, 1, 1, 0, 0, 0, 0),
    "localdatetime_year_9999": DateTime(9999, 12, 31, 23, 59, 59, 999999999),
    "duration_positive": Duration(months=14, days=3, seconds=7200, nanoseconds=5),
    "duration_negative": Duration(months=-14, days=-3, seconds=-7200, nanoseconds=-5),
    "duration_minus_1_nano": Duration(nanoseconds=-1),
    "duration_zero": Duration(),
    "point_cartesian_2d": CartesianPoint((1.5, -2.25)),
    "point_cartesian_3d": CartesianPoint((1.0, -2.0, 3.5)),
    "point_wgs84_2d": WGS84Point((12.5683, 55.6761)),
    "point_wgs84_3d": WGS84Point((-122.4194, 37.7749, 15.5)),
}

PROBE_QUERY = "MATCH (n:{label}) RETURN n.case AS case, n.v AS v ORDER BY case"

# Values only a query can produce (no property holds them): maps, nulls,
# nested and mixed lists, nodes, relationships, paths (one walking a
# relationship backwards, one revisiting a node), server-made temporals.
GRAPH_QUERY = """
MATCH (a:PyGraph {name: 'a'})-[r1:KNOWS]->(b:PyGraph {name: 'b'})<-[r2:LIKES]-(c:PyGraph {name: 'c'})
MATCH p1 = (a)-[:KNOWS]->(b)<-[:LIKES]-(c)
MATCH p2 = (a)-[:KNOWS]->(b)-[:BACK]->(a)
RETURN a, r1, r2, p1, p2, [a, c] AS nodes,
       {node: c, rel: r2, nested: {list: [1, 'x', null, 1.5, true]}, empty: {}} AS m,
       null AS nothing, [[1, [2, []]], []] AS nested,
       {originalType: 'VECTOR(1, FLOAT32)', reason: 'not UNKNOWN_TYPE'} AS lookalike
"""

TEMPORAL_QUERY = """
RETURN date('2024-02-29') AS d, time('12:00:00.000000001+05:45') AS t, localtime('23:59:59.999999999') AS lt,
       datetime('2015-07-21T21:40:32.142+01:00') AS dt,
       datetime('2021-03-28T03:30:00[Europe/Berlin]') AS dst,
       datetime('1900-01-01T00:00:00[Europe/Amsterdam]') AS lmt,
       localdatetime('0001-01-01T00:00:00') AS ldt, duration('P1Y2M3DT4H5M6.000000007S') AS dur,
       duration.between(datetime('2020-01-01T00:00Z'), datetime('2019-12-31T23:59:59.5Z')) AS negative,
       point({x: 1, y: 2}) AS p2, point({longitude: 1, latitude: 2, height: 3}) AS p3,
       [date('2020-01-01'), null] AS with_null
"""


@pytest.fixture(scope="module")
def py_probes(server) -> Neo4jServer:
    """The PY_CASES nodes and a small graph for GRAPH_QUERY, written with the driver."""
    server.run("MATCH (n) WHERE n:PyProbe OR n:PyGraph DETACH DELETE n")
    with server.driver() as driver, driver.session(database="neo4j") as session:
        for name, value in PY_CASES.items():
            session.run("CREATE (:PyProbe {case: $case, v: $v})", case=name, v=value).consume()
    server.run("""
        CREATE (a:PyGraph:`Ünïcode label` {name: 'a', when: date('2020-01-01'), nan: 0.0 / 0.0,
                                            where: point({x: 1.5, y: 2.5}), tags: ['x', 'y']}),
               (b:PyGraph {name: 'b', big: 9223372036854775807, blob: $blob}),
               (c:PyGraph {name: 'c', at: datetime('2021-11-07T01:30-05:00[America/New_York]')}),
               (a)-[:KNOWS {since: 2001, w: -0.0}]->(b), (c)-[:LIKES {dur: duration('-P1DT1S')}]->(b),
               (b)-[:BACK]->(a)""", blob=b"\x00\x01\xfe\xff")
    return server


def test_properties_written_by_the_driver_decode_exactly(bolt_values, py_probes):
    query = PROBE_QUERY.format(label="PyProbe")
    ours = read_ours(bolt_values, py_probes, query)
    theirs = read_theirs(py_probes, query)
    assert [row[0]["v"] for row in theirs] == sorted(PY_CASES)
    assert_same_rows(ours, theirs, "PyProbe properties")
    by_case = {row[0]["v"]: row[1] for row in ours}
    assert by_case["datetime_utc_offset"] == {"t": "DateTime", "seconds": "946684800", "nanos": "0", "offset": "0"}
    assert by_case["datetime_utc_zone"] == {"t": "DateTimeZoneId", "seconds": "946684800", "nanos": "1",
                                            "zone": "UTC"}
    # The driver reads back what it wrote: the canonical form itself is sound.
    expected = [[canonical(name), canonical(PY_CASES[name])] for name in sorted(PY_CASES)]
    assert_same_rows(theirs, expected, "PyProbe as written")


def test_graph_values_decode_exactly(bolt_values, py_probes):
    ours = read_ours(bolt_values, py_probes, GRAPH_QUERY)
    theirs = read_theirs(py_probes, GRAPH_QUERY)
    assert len(ours) == 1
    assert_same_rows(ours, theirs, "graph values")
    # The backwards step of p1 ends at b: the relationship runs c -> b.
    path = ours[0][3]
    assert [rel["type"] for rel in path["rels"]] == ["KNOWS", "LIKES"]
    assert path["rels"][1]["start"] == path["nodes"][2]["id"]
    assert [node["props"]["name"]["v"] for node in ours[0][4]["nodes"]] == ["a", "b", "a"]
    assert ours[0][9]["t"] == "Map", "a map that only looks like a placeholder must stay a map"


def test_server_made_temporals_and_points_decode_exactly(bolt_values, server):
    ours = read_ours(bolt_values, server, TEMPORAL_QUERY)
    theirs = read_theirs(server, TEMPORAL_QUERY)
    assert_same_rows(ours, theirs, "temporal values")
    assert ours[0][4] == {"t": "DateTimeZoneId", "seconds": "1616895000", "nanos": "0", "zone": "Europe/Berlin"}


# ---- 2. parameters round-trip ---------------------------------------------------------------


def test_every_catalogue_value_round_trips(bolt_values, server, catalogue):
    result = run_echo(bolt_values, server)
    expected = [name for name, case in catalogue.items() if not case["invalid"] and case["min_major"] < 6]
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("ok ")] == expected


def test_a_value_the_server_refuses_is_reported_with_its_reason(bolt_values, server):
    # Neo4j answers FAILURE to the RUN and then closes the connection; the
    # error must still carry Neo4j's reason, not just "connection closed".
    result = run_tool(bolt_values, "--only", "invalid_date_below_min", "echo", server=server)
    assert result.returncode == NEO4J_UNREACHABLE, result.stderr
    assert "EpochDay" in result.stderr and "Neo.ClientError.Statement.ArgumentError" in result.stderr


# ---- 3. what our client writes, the driver reads ----------------------------------------------

_CONTROLS = "a\0b\tc\nd\x01e\x1f\"quote\\backslash\x7f"


def _expect(case: str, value: Any) -> None:
    checks = {
        "int_min": lambda v: v == -(2 ** 63) and type(v) is int,
        "int_max": lambda v: v == 2 ** 63 - 1,
        "float_nan": lambda v: isinstance(v, float) and math.isnan(v),
        "float_negative_zero": lambda v: v == 0.0 and math.copysign(1.0, v) == -1.0,
        "float_minus_infinity": lambda v: v == -math.inf,
        "float_min_subnormal": lambda v: v == 5e-324,
        "string_controls_and_nul": lambda v: v == _CONTROLS,
        "string_unicode": lambda v: v == "h\u00e9llo w\u00f6rld \u2014 \u65e5\u672c\u8a9e \U0001f389 \u03a9 "
                                         "\u0639\u0631\u0628\u064a",
        "string_1mb": lambda v: len(v) == 1 << 20 and v[:27] == "abcdefghijklmnopqrstuvwxyza",
        "bytes_len_65536": lambda v: isinstance(v, bytes) and len(v) == 65536 and v[:3] == b"\x03\x0a\x11",
        "list_float_special": lambda v: math.isnan(v[0]) and math.copysign(1.0, v[1]) == -1.0 and v[2:] == [
            math.inf, 1.25],
        "list_int_65536": lambda v: len(v) == 65536 and v[-1] == 65535 * 1000003 - 500000,
        "date_year_1": lambda v: v == Date(1, 1, 1),
        "date_year_9999": lambda v: v == Date(9999, 12, 31),
        "time_plus_0530": lambda v: (v.hour, v.minute, v.second, v.nanosecond) == (12, 34, 56, 123456789)
        and v.utcoffset().total_seconds() == 19800,
        "localtime_last_nano": lambda v: v == Time(23, 59, 59, 999999999),
        "datetime_plus_01": lambda v: v == DateTime(2023, 11, 14, 23, 13, 20, 123456789,
                                                    tzinfo=pytz.FixedOffset(60)),
        "datetime_year_1": lambda v: (v.year, v.month, v.day, v.hour) == (1, 1, 1, 2),
        "datetime_new_york_first_0130": lambda v: (v.hour, v.minute) == (1, 30) and v.tzinfo.zone ==
        "America/New_York" and v.utcoffset().total_seconds() == -4 * 3600,
        "datetime_new_york_second_0130": lambda v: (v.hour, v.minute) == (1, 30) and v.tzinfo.zone ==
        "America/New_York" and v.utcoffset().total_seconds() == -5 * 3600,
        "localdatetime_year_9999": lambda v: v == DateTime(9999, 12, 31, 23, 59, 59, 999999999),
        "duration_negative": lambda v: v == Duration(months=-14, days=-3, seconds=-7200, nanoseconds=5),
        "duration_minus_1_nano": lambda v: v == Duration(nanoseconds=-1),
        "point_wgs84_3d": lambda v: isinstance(v, WGS84Point) and v.srid == 4979 and tuple(v) == (
            -122.4194, 37.7749, 15.5),
        "point_cartesian_2d": lambda v: isinstance(v, CartesianPoint) and tuple(v) == (1.5, -2.25),
    }
    check = checks.get(case)
    assert check is None or check(value), f"{case}: the driver read {value!r}"


def test_values_written_by_our_client_read_identically(bolt_values, server, catalogue):
    result = run_tool(bolt_values, "write", server=server)
    assert result.returncode == 0, result.stderr
    storable = sorted(name for name, case in catalogue.items() if case["storable"])
    assert f"write: {len(storable)} nodes" in result.stdout
    with server.driver() as driver, driver.session(database="neo4j") as session:
        records = list(session.run(PROBE_QUERY.format(label="BoltProbe")))
    assert [record["case"] for record in records] == storable
    checked = 0
    differences = []
    for record in records:
        name, value = record["case"], record["v"]
        _expect(name, value)
        mine = catalogue[name]["value"]
        if canonical(value) != mine:
            differences.append(f"{name}:\n    written: {_short(mine)}\n    driver:  {_short(canonical(value))}")
        checked += 1
    assert not differences, "\n".join(differences)
    assert checked > 80


# ---- 4. negotiated versions ------------------------------------------------------------------


@pytest.mark.parametrize("bolt, expected", [("4.4", "4.4"), ("5.0", "5.0"), (None, "5.8")])
def test_versions(bolt_values, py_probes, bolt, expected):
    result = run_echo(bolt_values, py_probes, bolt=bolt)
    assert negotiated(result) == expected
    # The stored values and the graph also read identically over this version
    # (on 4.4 DateTime rides on the "utc" patch, entities have no element ids).
    query = PROBE_QUERY.format(label="PyProbe")
    assert_same_rows(read_ours(bolt_values, py_probes, query, bolt=bolt), read_theirs(py_probes, query),
                     f"PyProbe over Bolt {expected}")
    assert_same_rows(read_ours(bolt_values, py_probes, GRAPH_QUERY, bolt=bolt),
                     read_theirs(py_probes, GRAPH_QUERY, bolt4=expected.startswith("4.")),
                     f"graph over Bolt {expected}")


# ---- 5. the newest calendar release ------------------------------------------------------------


@pytest.fixture(scope="module")
def calendar_server():
    if os.environ.get("NBK_SKIP_CALENDAR") == "1":
        pytest.skip("NBK_SKIP_CALENDAR=1")
    try:
        server = Neo4jServer.start(CALENDAR_SERVER, version="calendar")
    except Neo4jLocalError as error:
        pytest.fail(f"the calendar release did not start (set NBK_SKIP_CALENDAR=1 to skip on purpose):\n{error}")
    try:
        yield server
    finally:
        server.close()
        if os.environ.get("NBK_KEEP_CALENDAR") != "1":
            server.stop()


VECTOR_QUERY = ("CYPHER 25 RETURN vector([1.0, 2.0, 3.0], 3, FLOAT32) AS f32, "
                "vector([-1, 70000], 2, INT32) AS i32, vector([0.5], 1, FLOAT64) AS f64, 1 AS after")


def test_calendar_release_negotiates_bolt_6_and_round_trips(bolt_values, calendar_server, catalogue):
    assert calendar_server.version.startswith("20")
    result = run_echo(bolt_values, calendar_server)
    assert negotiated(result) == "6.0"
    assert f"Neo4j/{calendar_server.version}" in result.stderr
    vectors = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("ok vector_")]
    assert vectors == [name for name, case in catalogue.items() if case["min_major"] == 6]


def test_calendar_release_vectors_over_bolt_6(bolt_values, calendar_server):
    ours = read_ours(bolt_values, calendar_server, VECTOR_QUERY)
    assert ours == [[{"t": "Vector", "dtype": "f32", "data": "3f8000004000000040400000"},
                     {"t": "Vector", "dtype": "i32", "data": "ffffffff00011170"},
                     {"t": "Vector", "dtype": "f64", "data": "3fe0000000000000"},
                     {"t": "Integer", "v": "1"}]]
    assert_same_rows(ours, read_theirs(calendar_server, VECTOR_QUERY), "vectors over Bolt 6.0")


def test_calendar_release_vectors_over_bolt_5_are_placeholders(bolt_values, calendar_server):
    result = run_tool(bolt_values, "read", VECTOR_QUERY, server=calendar_server, bolt="5.8")
    assert result.returncode == 0, result.stderr
    assert negotiated(result) == "5.8"
    assert json.loads(result.stdout) == [{"t": "Placeholder", "type": "VECTOR(3, FLOAT32)"},
                                         {"t": "Placeholder", "type": "VECTOR(2, INTEGER32)"},
                                         {"t": "Placeholder", "type": "VECTOR(1, FLOAT64)"},
                                         {"t": "Integer", "v": "1"}]
    assert "holds a placeholder for VECTOR(3, FLOAT32)" in result.stderr


def test_calendar_release_check_reports_the_kernel_version(backup_bin, calendar_server, run_cli, tmp_path):
    """dbms.components() of 2025+ servers also lists Cypher (versions ["5", "25"]);
    the version reported (and compared with neo4j-admin's) is the kernel's."""
    result = run_cli([backup_bin, "--check"], env={
        "NEO4J_URI": calendar_server.uri, "NEO4J_USER": calendar_server.user,
        "NEO4J_PASSWORD": calendar_server.password, "BACKUP_STORAGE_PATH": str(tmp_path),
        "BACKUP_MIN_FREE_PERCENT": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"INFO: Neo4j version: {calendar_server.version} (community edition)" in result.stdout


def test_calendar_release_echo_over_bolt_5_8(bolt_values, calendar_server):
    assert negotiated(run_echo(bolt_values, calendar_server, bolt="5.8")) == "5.8"


# ---- 6. streaming keeps memory flat --------------------------------------------------------------

STREAM_QUERY = "UNWIND range(1, {rows}) AS i RETURN i, 'row ' + i"


def _stream(bolt_values: Path, server: Neo4jServer, rows: int) -> int:
    result = run_tool(bolt_values, "count", STREAM_QUERY.format(rows=rows), server=server)
    assert result.returncode == 0, result.stderr
    fields = dict(item.split("=") for item in result.stdout.split())
    assert int(fields["rows"]) == rows
    return int(fields["maxrss_kb"])


def test_streaming_a_million_rows_holds_memory_flat(bolt_values, server):
    small = _stream(bolt_values, server, 100_000)
    large = _stream(bolt_values, server, 1_000_000)
    print(f"peak RSS: 100k rows {small / 1024:.1f} MB, 1M rows {large / 1024:.1f} MB, "
          f"difference {(large - small) / 1024:.2f} MB")
    assert large < 32 * 1024, f"peak RSS {large} kB for 1M rows"
    assert large - small < 4 * 1024, f"peak RSS grew {large - small} kB from 100k to 1M rows"


def test_bolt_query_counts_a_million_rows(bolt_query, server):
    """The same through bolt_query, measured from outside by /usr/bin/time when present."""
    timer = Path("/usr/bin/time")
    prefix = [str(timer), "-f", "maxrss_kb=%M"] if os.access(timer, os.X_OK) else []
    argv = [*prefix, str(bolt_query), "--uri", server.uri, "--user", server.user, "--password", server.password,
            "--count-only", STREAM_QUERY.format(rows=1_000_000)]
    result = subprocess.run(argv, env=_clean_env(), capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    print(result.stderr)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1000000"
    if prefix:
        peak = int(result.stderr.strip().splitlines()[-1].split("=")[1])
        print(f"bolt_query peak RSS for 1M rows: {peak / 1024:.1f} MB")
        assert peak < 32 * 1024


# ---- 7. errors --------------------------------------------------------------------------------------


def test_wrong_password_is_auth_failed(bolt_values, bolt_query, server):
    for program, args in ((bolt_values, ["read", "RETURN 1"]), (bolt_query, ["RETURN 1"])):
        result = run_tool(program, *args, server=server, password="not-the-password")
        assert result.returncode == NEO4J_AUTH_FAILED, result.stderr
        assert "connect failed: NEO4J_AUTH_FAILED" in result.stderr
        assert "Neo.ClientError.Security.Unauthorized" in result.stderr
        assert "not-the-password" not in result.stdout + result.stderr


def test_nothing_listening_is_unreachable(bolt_values):
    port = free_port()
    started = time.monotonic()
    result = run_tool(bolt_values, "read", "RETURN 1", uri=f"bolt://127.0.0.1:{port}", timeout=30)
    assert result.returncode == NEO4J_UNREACHABLE, result.stderr
    assert "connect failed: NEO4J_UNREACHABLE" in result.stderr
    assert f"connection refused by 127.0.0.1:{port}" in result.stderr
    assert time.monotonic() - started < 10


@pytest.fixture(scope="module")
def kill_server():
    """A small disposable 5.26 server for the SIGKILL test; stopped at the end."""
    # Small, and JIT tier 1 only: it starts about twice as fast and only streams.
    small = {"NEO4J_LOCAL_HEAP": "256m", "NEO4J_LOCAL_PAGECACHE": "32m",
             "NEO4J_LOCAL_JAVA_OPTS": "-XX:TieredStopAtLevel=1"}
    uri = launcher("start", KILL_SERVER, timeout=600, env=small).stdout.strip()
    home = Path(launcher("home", KILL_SERVER).stdout.strip())
    server = Neo4jServer(name=KILL_SERVER, uri=uri, home=home)
    try:
        yield server
    finally:
        launcher("stop", KILL_SERVER, check=False, timeout=180)


def test_server_killed_mid_stream_is_unreachable(bolt_values, kill_server):
    pid = int((kill_server.home / "run" / "neo4j.pid").read_text().strip())
    argv = [str(bolt_values), "--uri", kill_server.uri, "--user", kill_server.user,
            "--password", kill_server.password, "--progress", "20000",
            "count", STREAM_QUERY.format(rows=200_000_000)]
    process = subprocess.Popen(argv, env=_clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, stdin=subprocess.DEVNULL)
    stderr_lines: List[str] = []
    streaming = threading.Event()

    def collect_stderr():
        for line in process.stderr:
            stderr_lines.append(line)
            if line.startswith("rows "):
                streaming.set()

    reader = threading.Thread(target=collect_stderr, daemon=True)
    reader.start()
    try:
        # Wait until records are flowing, then kill the server's JVM outright.
        assert streaming.wait(120), "no records streamed:\n" + "".join(stderr_lines)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        process.wait(timeout=30)
        elapsed = time.monotonic() - killed
        stdout = process.stdout.read()
        reader.join(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = "".join(stderr_lines)
    print(f"exit {process.returncode} {elapsed:.2f} s after SIGKILL\n--- stdout\n{stdout}\n--- stderr (tail)\n"
          + "\n".join(stderr.splitlines()[-5:]))
    assert process.returncode == NEO4J_UNREACHABLE, stderr[-2000:]
    assert elapsed < 10
    failure = [line for line in stderr.splitlines() if line.startswith("bolt_values: fetch failed")]
    assert failure, stderr[-2000:]
    assert "NEO4J_UNREACHABLE" in failure[0]
    assert "closed the connection" in failure[0] or "connection to" in failure[0] and "lost" in failure[0]
    rows = int(stdout.split()[0].split("=")[1])
    assert 20_000 <= rows < 200_000_000


# ---- 8. TLS ------------------------------------------------------------------------------------------


def test_tls_self_signed_with_ssc(bolt_values, neo4j_tls_server):
    result = run_tool(bolt_values, "read", "RETURN 'tls' AS x", server=neo4j_tls_server,
                      uri=f"bolt+ssc://127.0.0.1:{neo4j_tls_server.port}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"t": "String", "v": "tls"}]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tls_verified_with_ca_file(bolt_query, neo4j_tls_server, tls_dir, host):
    result = run_tool(bolt_query, "--ca-file", str(tls_dir / "public.crt"), "RETURN 42 AS answer",
                      server=neo4j_tls_server, uri=f"bolt+s://{host}:{neo4j_tls_server.port}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["answer", "42"]


def test_tls_verified_without_ca_file_fails_clearly(bolt_query, neo4j_tls_server):
    result = run_tool(bolt_query, "RETURN 1", server=neo4j_tls_server,
                      uri=f"bolt+s://localhost:{neo4j_tls_server.port}")
    assert result.returncode == NEO4J_UNREACHABLE, result.stderr
    assert "connect failed: NEO4J_UNREACHABLE" in result.stderr
    assert "certificate" in result.stderr.lower()


def test_tls_to_a_plain_server_fails_clearly(bolt_query, server):
    started = time.monotonic()
    result = run_tool(bolt_query, "RETURN 1", server=server, uri=f"bolt+ssc://127.0.0.1:{server.port}",
                      timeout=60)
    assert result.returncode == NEO4J_UNREACHABLE, result.stderr
    assert "TLS" in result.stderr
    assert time.monotonic() - started < 15


# ---- 9. routing (neo4j://) and the clear-text password warning ----------------------------------


def _routed_env(server: Neo4jServer, storage: Path, **extra: str) -> Dict[str, str]:
    environment = {"NEO4J_URI": f"neo4j://127.0.0.1:{server.port}", "NEO4J_USER": server.user,
                   "NEO4J_PASSWORD": server.password, "BACKUP_STORAGE_PATH": str(storage),
                   "BACKUP_MIN_FREE_PERCENT": "1", "NEO4J_READ_FROM": None}
    environment.update(extra)
    return environment


def _count(server: Neo4jServer, query: str) -> int:
    return server.run(query)[0]["c"]


def test_backup_over_neo4j_reads_from_the_one_server_table(backup_bin, server, run_cli, tmp_path):
    """Issue 16: a Community server answers ROUTE with a one-server table; the
    backup reads from that server (secondary preferred, as the log says), gets
    every node the driver sees, and records BackupMetadata on the WRITE server."""
    server.run("MATCH (n:RouteProbe) DETACH DELETE n")
    server.run("MATCH (m:BackupMetadata) DETACH DELETE m")
    server.run("CREATE (:RouteProbe {i: 1})-[:NEXT]->(:RouteProbe {i: 2})-[:NEXT]->(:RouteProbe {i: 3})")
    try:
        result = run_cli([backup_bin, "--create"], env=_routed_env(server, tmp_path))
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert f"INFO: Routing: reading from 127.0.0.1:{server.port} (neo4j), " in result.stdout
        nodes = _count(server, "MATCH (n) WHERE NOT n:BackupMetadata RETURN count(n) AS c")
        assert f"Graph stats: {nodes} nodes" in result.stdout
        backup_id = next(line.rsplit(": ", 1)[1] for line in result.stdout.splitlines()
                         if line.startswith("INFO: Backup ID: "))
        recorded = server.run("MATCH (m:BackupMetadata {backup_id: $id}) RETURN m.node_count AS n", id=backup_id)
        assert recorded == [{"n": nodes}]
        assert "unencrypted" not in output  # 127.0.0.1 is loopback: issue 11 stays quiet
    finally:
        server.run("MATCH (n:RouteProbe) DETACH DELETE n")
        server.run("MATCH (m:BackupMetadata) DETACH DELETE m")


def test_read_from_primary_and_a_bad_value(backup_bin, server, run_cli, tmp_path):
    result = run_cli([backup_bin, "--check"], env=_routed_env(server, tmp_path, NEO4J_READ_FROM="primary"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"INFO: Routing: reading from 127.0.0.1:{server.port} (neo4j), a primary (WRITE) server, "
            "as NEO4J_READ_FROM=primary asks") in result.stdout
    result = run_cli([backup_bin, "--check"], env=_routed_env(server, tmp_path, NEO4J_READ_FROM="leader"))
    assert result.returncode != 0
    assert "NEO4J_READ_FROM" in result.stdout + result.stderr


def test_bolt_uri_is_not_routed(backup_bin, server, run_cli, tmp_path):
    result = run_cli([backup_bin, "--check"],
                     env=_routed_env(server, tmp_path, NEO4J_URI=f"bolt://127.0.0.1:{server.port}"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Routing:" not in result.stdout + result.stderr


@pytest.mark.parametrize("scheme", ["bolt", "neo4j"])
def test_no_clear_text_warning_on_loopback(backup_bin, server, run_cli, tmp_path, scheme):
    """Issue 11: the password crosses no network to 127.0.0.1, so no warning
    (a remote host cannot be reached here; tests/unit/routing_test.c covers it)."""
    result = run_cli([backup_bin, "--check"],
                     env=_routed_env(server, tmp_path, NEO4J_URI=f"{scheme}://127.0.0.1:{server.port}"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "unencrypted" not in output
    assert "WARNING" not in output


def test_routed_tls_verifies_the_routed_host(backup_bin, neo4j_tls_server, tls_dir, run_cli, tmp_path):
    """neo4j+s:// with a CA file: a single server builds its table from the
    routing context (localhost:PORT); the routed connection keeps the TLS mode
    and the CA file, and the certificate (CN=localhost) is checked against the
    routed host, so the check passes encrypted and without a warning."""
    port = neo4j_tls_server.port
    result = run_cli([backup_bin, "--check"], env={
        "NEO4J_URI": f"neo4j+s://localhost:{port}", "NEO4J_USER": neo4j_tls_server.user,
        "NEO4J_PASSWORD": neo4j_tls_server.password, "NEO4J_CA_FILE": str(tls_dir / "public.crt"),
        "BACKUP_STORAGE_PATH": str(tmp_path), "BACKUP_MIN_FREE_PERCENT": "1", "NEO4J_READ_FROM": None})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"INFO: Routing: reading from localhost:{port} (neo4j)" in result.stdout
    assert "unencrypted" not in output
