"""The Avro codec: both wire formats, schema evolution, and every way bytes can be bad."""

from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fastavro
import pytest

from pipeline.adapters.kafka.codec import (
    Codec,
    DecodeError,
    EncodeError,
    SchemaCatalog,
    SchemaLoadError,
    SingleObjectCodec,
    load_catalog,
    make_codec,
)
from pipeline.config import PROJECT_ROOT, KafkaSettings
from pipeline.errors import UserError

SCHEMAS = PROJECT_ROOT / "schemas"
TOPIC = "codec-unit"


def _frame(i: int) -> dict[str, Any]:
    return {
        "filename": f"static/js/chunk-{i}.js",
        "abs_path": f"https://app.example.com/static/js/chunk-{i}.js",
        "function": f"onClick{i}",
        "module": None,
        "lineno": 120 + i,
        "colno": 17,
        "in_app": i % 2 == 0,
        "context_line": "    const total = order.items.reduce(sum);",
        "pre_context": ["function onClick(order) {", "  validate(order);"],
        "post_context": ["  return total;", "}"],
        "minified": {
            "abs_path": "https://app.example.com/static/js/main.min.js",
            "function": "a",
            "lineno": 1,
            "colno": 4000 + i,
        }
        if i % 3
        else None,
        "symbolication": "ok" if i % 3 else None,
    }


def processed_event(frames_per_exception: int = 10, exceptions: int = 2) -> dict[str, Any]:
    """A symbolicated JavaScript error as the store stage receives it."""
    return {
        "event_id": "6f1c2d3e4b5a69788796a5b4c3d2e1f0",
        "project_id": 42,
        "received_at_ms": 1_760_000_000_000,
        "timestamp_ms": 1_759_999_999_250,
        "stage_times_ms": {"normalize": 1_760_000_000_004, "symbolicate": 1_760_000_000_031},
        "platform": "javascript",
        "level": "error",
        "event_type": "error",
        "release": "web@2.14.0",
        "dist": None,
        "environment": "production",
        "sdk_name": "sentry.javascript.browser",
        "sdk_version": "8.33.1",
        "message": "TypeError: Cannot read properties of undefined (reading 'items')",
        "tags": [{"key": "browser", "value": "Chrome 129"}, {"key": "os", "value": "macOS 14"}],
        "fingerprint": ["{{ default }}"],
        "grouping_hash": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "exceptions": [
            {
                "type": "TypeError",
                "value": "Cannot read properties of undefined (reading 'items')",
                "module": None,
                "frames": [_frame(i) for i in range(frames_per_exception)],
            }
            for _ in range(exceptions)
        ],
        "debug_images": [
            {"code_file": "main.min.js", "debug_id": "c0ffee00-0000-4000-8000-00000000beef"}
        ],
        "errors": [{"stage": "normalize", "kind": "future_timestamp", "detail": "clamped by 90s"}],
        "extra_json": '{"user": {"id": "[Filtered]"}, "request": {"url": "https://app.example.com/cart"}}',
    }


SAMPLES: dict[str, dict[str, Any]] = {
    "raw_event": {
        "event_id": "6f1c2d3e4b5a69788796a5b4c3d2e1f0",
        "project_id": 42,
        "received_at_ms": 1_760_000_000_000,
        "payload": b'{"message": "boom", "platform": "javascript", "level": "error"}',
        "remote_addr": "203.0.113.7",
        "content_type": "application/json",
    },
    "processed_event": processed_event(),
    "outcome": {
        "event_id": "6f1c2d3e4b5a69788796a5b4c3d2e1f0",
        "project_id": 42,
        "outcome": "filtered",
        "reason": "sdk_version",
        "stage": "normalize",
        "received_at_ms": 1_760_000_000_000,
        "timestamp_ms": 1_760_000_000_004,
        "quantity": 3,
        "category": "error",
    },
    "backlog_range": {
        "stage": "normalize",
        "group": "pipeline.normalize",
        "topic": "events.raw",
        "partition": 3,
        "origin_start": 1_200_000,
        "start": 1_250_000,
        "end": 1_900_000,
        "created_at_ms": 1_760_000_000_000,
        "updated_at_ms": 1_760_000_100_000,
        "expired": 0,
    },
}

RAW_EVENT_V1 = {
    "event_id": "",
    "project_id": 7,
    "received_at_ms": 1_700_000_000_000,
    "payload": b'{"message": "written before v2"}',
}


def registry_client() -> Any:
    """confluent-kafka's in-process registry; skips where the schemaregistry extra is missing."""
    registry = pytest.importorskip("confluent_kafka.schema_registry")
    return registry.SchemaRegistryClient.new_client({"url": "mock://codec-unit"})


def registry_codec(catalog: SchemaCatalog, client: Any) -> Codec:
    from pipeline.adapters.kafka.codec.registry import RegistryCodec

    return RegistryCodec(catalog, client)


@pytest.fixture(scope="module")
def catalog() -> SchemaCatalog:
    return load_catalog(SCHEMAS)


@pytest.fixture(params=["single_object", "registry"])
def codec(request: pytest.FixtureRequest, catalog: SchemaCatalog) -> Codec:
    if request.param == "registry":
        return registry_codec(catalog, registry_client())
    return SingleObjectCodec(catalog)


@pytest.fixture
def v1_catalog(tmp_path: Path) -> SchemaCatalog:
    """Only the real v1 schemas that have a v2, as an old producer had them."""
    for name in ("raw_event", "outcome", "processed_event"):
        (tmp_path / name).mkdir()
        shutil.copy(SCHEMAS / name / "v1.avsc", tmp_path / name / "v1.avsc")
    return load_catalog(tmp_path)


# --- catalog ------------------------------------------------------------------------------------


def test_catalog_holds_every_version_and_reads_with_the_latest(catalog: SchemaCatalog) -> None:
    assert {name: [v.version for v in vs] for name, vs in catalog.versions.items()} == {
        "backlog_range": [1, 2],
        "outcome": [1, 2],
        "processed_event": [1, 2],
        "raw_event": [1, 2],
    }
    assert catalog.latest("raw_event").version == 2
    assert {v.label for v in catalog.by_fingerprint.values()} == {
        "backlog_range v1",
        "backlog_range v2",
        "outcome v1",
        "outcome v2",
        "processed_event v1",
        "processed_event v2",
        "raw_event v1",
        "raw_event v2",
    }


def test_unknown_schema_name_is_a_lookup_error(catalog: SchemaCatalog) -> None:
    with pytest.raises(LookupError, match="no schema named 'nope'"):
        catalog.latest("nope")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "holds no <name>/v<N>.avsc files"),
        ({"outcome/latest.avsc": '"string"'}, "must be named v<N>.avsc"),
        ({"outcome/v1.avsc": "{not json"}, "is not a valid Avro schema"),
        (
            {"outcome/v1.avsc": '{"type": "record", "name": "X", "fields": [{"name": "a"}]}'},
            "is not a valid Avro schema",
        ),
        ({"outcome/v1.avsc": '{"type": "nonsense"}'}, "is not a valid Avro schema"),
    ],
)
def test_bad_schema_directories_are_user_errors(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with pytest.raises(SchemaLoadError, match=message) as caught:
        load_catalog(tmp_path)
    assert isinstance(caught.value, UserError)


def test_missing_schema_directory_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaLoadError, match="does not exist"):
        load_catalog(tmp_path / "missing")


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_schema_round_trips(codec: Codec, name: str) -> None:
    data = codec.encode(name, SAMPLES[name], TOPIC)
    assert codec.decode(name, data, TOPIC) == SAMPLES[name]


def test_single_object_header_is_marker_and_little_endian_crc64_fingerprint(
    catalog: SchemaCatalog,
) -> None:
    data = SingleObjectCodec(catalog).encode("raw_event", SAMPLES["raw_event"], TOPIC)
    # Pinned: a released version's fingerprint must never change.
    assert data[:10] == bytes.fromhex("c301" + "36b4f151f904c6f7")


def test_missing_optional_fields_take_their_defaults(codec: Codec) -> None:
    optional = ("reason", "quantity", "category")
    minimal = {k: v for k, v in SAMPLES["outcome"].items() if k not in optional}
    assert codec.decode("outcome", codec.encode("outcome", minimal, TOPIC), TOPIC) == {
        **minimal,
        "reason": None,
        "quantity": 1,
        "category": None,
    }


def test_raw_event_v1_reads_with_the_v2_reader(
    catalog: SchemaCatalog, v1_catalog: SchemaCatalog
) -> None:
    old = SingleObjectCodec(v1_catalog).encode("raw_event", RAW_EVENT_V1, TOPIC)
    assert old[2:10] == catalog.versions["raw_event"][0].fingerprint
    decoded = SingleObjectCodec(catalog).decode("raw_event", old, TOPIC)
    assert decoded == {**RAW_EVENT_V1, "remote_addr": None, "content_type": None}


def test_raw_event_v1_reads_with_the_v2_reader_through_the_registry(
    catalog: SchemaCatalog, v1_catalog: SchemaCatalog
) -> None:
    client = registry_client()
    old = registry_codec(v1_catalog, client).encode("raw_event", RAW_EVENT_V1, TOPIC)
    decoded = registry_codec(catalog, client).decode("raw_event", old, TOPIC)
    assert decoded == {**RAW_EVENT_V1, "remote_addr": None, "content_type": None}


def test_registry_subject_is_the_topic_value(catalog: SchemaCatalog) -> None:
    client = registry_client()
    registry_codec(catalog, client).encode("outcome", SAMPLES["outcome"], "outcomes-x")
    assert client.get_subjects() == ["outcomes-x-value"]


def test_make_codec_picks_the_wire_format(catalog: SchemaCatalog) -> None:
    plain = make_codec(KafkaSettings())
    assert plain.encode("outcome", SAMPLES["outcome"], TOPIC)[:2] == b"\xc3\x01"
    registry_client()  # skips without the schemaregistry extra
    registry = make_codec(KafkaSettings(schema_registry_url="mock://codec-unit-factory"))
    assert registry.encode("outcome", SAMPLES["outcome"], TOPIC)[:1] == b"\x00"


def test_registry_url_without_the_registry_client_is_a_user_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "confluent_kafka.schema_registry", None)
    with pytest.raises(UserError, match=r"confluent-kafka\[schemaregistry\]"):
        make_codec(KafkaSettings(schema_registry_url="http://registry.invalid:8081"))


def test_codec_is_safe_to_share_between_threads(codec: Codec) -> None:
    def round_trip(i: int) -> bool:
        record = {**SAMPLES["processed_event"], "project_id": i}
        return (
            codec.decode("processed_event", codec.encode("processed_event", record, TOPIC), TOPIC)
            == record
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(round_trip, range(400)))


# --- encode errors ------------------------------------------------------------------------------


def _wrong_nested_type() -> dict[str, Any]:
    record = processed_event(frames_per_exception=2, exceptions=1)
    record["exceptions"][0]["frames"][1]["lineno"] = "12"
    return record


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_wrong_nested_type(), r"pipeline\.Frame\.lineno expects null or long, got str '12'"),
        (
            {k: v for k, v in SAMPLES["processed_event"].items() if k != "platform"},
            r"pipeline\.ProcessedEvent\.platform expects string, got NoneType",
        ),
        ({**SAMPLES["processed_event"], "enviroment": "prod"}, "more fields than .*enviroment"),
        ({**SAMPLES["processed_event"], "project_id": 2**64}, "ProcessedEvent.project_id"),
    ],
    ids=["nested-type", "missing-required", "misspelt-optional", "long-overflow"],
)
def test_records_that_do_not_match_raise_encode_error_naming_the_field(
    codec: Codec, record: dict[str, Any], message: str
) -> None:
    with pytest.raises(EncodeError, match=message) as caught:
        codec.encode("processed_event", record, TOPIC)
    assert isinstance(caught.value, ValueError)


OUTCOME_V1 = {k: v for k, v in SAMPLES["outcome"].items() if k not in ("quantity", "category")}


@pytest.mark.parametrize("encoding", ["single_object", "registry"])
def test_outcome_v1_reads_with_the_v2_reader(
    catalog: SchemaCatalog, v1_catalog: SchemaCatalog, encoding: str
) -> None:
    """Outcomes written before client reports count as one error event each."""
    if encoding == "registry":
        client = registry_client()
        old = registry_codec(v1_catalog, client).encode("outcome", OUTCOME_V1, TOPIC)
        decoded = registry_codec(catalog, client).decode("outcome", old, TOPIC)
    else:
        old = SingleObjectCodec(v1_catalog).encode("outcome", OUTCOME_V1, TOPIC)
        assert old[2:10] == catalog.versions["outcome"][0].fingerprint
        decoded = SingleObjectCodec(catalog).decode("outcome", old, TOPIC)
    assert decoded == {**OUTCOME_V1, "quantity": 1, "category": None}


@pytest.mark.parametrize("encoding", ["single_object", "registry"])
def test_processed_event_v1_reads_with_the_packing_v2_reader(
    catalog: SchemaCatalog, v1_catalog: SchemaCatalog, encoding: str
) -> None:
    """Events a v1 stage wrote field by field read the same as packed ones."""
    event = SAMPLES["processed_event"]
    if encoding == "registry":
        client = registry_client()
        old = registry_codec(v1_catalog, client).encode("processed_event", event, TOPIC)
        decoded = registry_codec(catalog, client).decode("processed_event", old, TOPIC)
    else:
        old = SingleObjectCodec(v1_catalog).encode("processed_event", event, TOPIC)
        assert old[2:10] == catalog.versions["processed_event"][0].fingerprint
        decoded = SingleObjectCodec(catalog).decode("processed_event", old, TOPIC)
    assert decoded == event


def test_packed_fields_travel_as_json_and_are_written_empty(catalog: SchemaCatalog) -> None:
    """The v2 body holds the nested parts once, as JSON, not also field by field."""
    event = SAMPLES["processed_event"]
    data = SingleObjectCodec(catalog).encode("processed_event", event, TOPIC)
    assert data[2:10] == catalog.versions["processed_event"][1].fingerprint
    v1 = catalog.versions["processed_event"][0]
    as_v1: Any = fastavro.schemaless_reader(
        io.BytesIO(data[10:]), catalog.latest("processed_event").parsed, v1.parsed
    )
    assert (as_v1["exceptions"], as_v1["tags"], as_v1["errors"]) == ([], [], [])
    assert as_v1["event_id"] == event["event_id"]
    line = event["exceptions"][0]["frames"][0]["context_line"]  # the same in every frame
    assert data.count(line.encode()) == sum(len(e["frames"]) for e in event["exceptions"])


def test_missing_packed_fields_take_their_defaults(codec: Codec) -> None:
    minimal = {
        k: v
        for k, v in SAMPLES["processed_event"].items()
        if k not in ("tags", "exceptions", "debug_images")
    }
    decoded = codec.decode(
        "processed_event", codec.encode("processed_event", minimal, TOPIC), TOPIC
    )
    assert decoded == {**minimal, "tags": [], "exceptions": [], "debug_images": []}


# --- decode errors ------------------------------------------------------------------------------


def _single_object(catalog: SchemaCatalog, name: str) -> bytes:
    return SingleObjectCodec(catalog).encode(name, SAMPLES[name], TOPIC)


def _invalid_utf8(data: bytes) -> bytes:
    """Overwrite outcome.event_id (the first field, after header and length byte)."""
    length = len(SAMPLES["outcome"]["event_id"])
    return data[:11] + b"\xff" * length + data[11 + length :]


SINGLE_OBJECT_BAD_BYTES: dict[str, tuple[Callable[[SchemaCatalog], bytes], str]] = {
    "empty": (lambda c: b"", "0 bytes is too short"),
    "short": (lambda c: b"\xc3\x01\x00", "3 bytes is too short"),
    "garbage": (lambda c: b"this is not avro at all", "not Avro single-object encoding"),
    "wrong-marker": (
        lambda c: b"\xc3\x02" + _single_object(c, "outcome")[2:],
        "starts with c302, expected c301",
    ),
    "confluent-framing": (
        lambda c: b"\x00\x00\x00\x00\x01" + _single_object(c, "outcome")[10:],
        "not Avro single-object encoding",
    ),
    "unknown-fingerprint": (
        lambda c: b"\xc3\x01" + bytes(8) + _single_object(c, "outcome")[10:],
        "unknown writer schema fingerprint 0000000000000000",
    ),
    "truncated-body": (
        lambda c: _single_object(c, "outcome")[:-3],
        "corrupt or truncated outcome v2 body",
    ),
    "trailing-bytes": (
        lambda c: _single_object(c, "outcome") + b"\x00\x00",
        "2 bytes left over after the outcome v2 body",
    ),
    "corrupt-body": (
        lambda c: _invalid_utf8(_single_object(c, "outcome")),
        "corrupt or truncated outcome v2 body",
    ),
    "schema-mismatch": (
        lambda c: _single_object(c, "backlog_range"),
        "schema mismatch: backlog_range v2 cannot be read as outcome v2",
    ),
}


@pytest.mark.parametrize("case", sorted(SINGLE_OBJECT_BAD_BYTES))
def test_single_object_bad_bytes_raise_decode_error(catalog: SchemaCatalog, case: str) -> None:
    make_bytes, message = SINGLE_OBJECT_BAD_BYTES[case]
    with pytest.raises(DecodeError, match=message):
        SingleObjectCodec(catalog).decode("outcome", make_bytes(catalog), TOPIC)


def _with_packed(catalog: SchemaCatalog, packed: bytes) -> bytes:
    """A processed_event v2 message whose packed field holds ``packed``."""
    version = catalog.latest("processed_event")
    assert version.packing is not None
    wire = {k: v for k, v in SAMPLES["processed_event"].items() if k not in version.packing.packs}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, version.parsed, {**wire, "packed": packed})
    return b"\xc3\x01" + version.fingerprint + body.getvalue()


@pytest.mark.parametrize(
    ("packed", "message"),
    [
        (b"{not json", "packed field 'packed': JSON is malformed"),
        (b"[]", "Expected `object`, got `array`"),
        (b'{"tags": [{"key": "a"}]}', r"missing required field `value` - at `\$.tags\[0\]`"),
        (b'{"exceptions": [{"type": "E", "frames": [{"lineno": "1"}]}]}', "lineno"),
        (b'{"tags": [], "stowaway": 1}', "unknown field `stowaway`"),
    ],
    ids=["not-json", "not-an-object", "missing-field", "wrong-type", "unknown-field"],
)
def test_bad_packed_fields_raise_decode_error(
    catalog: SchemaCatalog, packed: bytes, message: str
) -> None:
    with pytest.raises(DecodeError, match=message):
        SingleObjectCodec(catalog).decode("processed_event", _with_packed(catalog, packed), TOPIC)


@pytest.mark.parametrize(
    ("packed_field", "message"),
    [
        ({"type": "string", "default": "", "packs": ["tags"]}, "must be bytes with default ''"),
        ({"type": "bytes", "default": "", "packs": []}, "non-empty list"),
        ({"type": "bytes", "default": "", "packs": ["name"]}, "'name': not another field with a"),
        ({"type": "bytes", "default": "", "packs": ["nope"]}, "'nope': not another field"),
    ],
    ids=["not-bytes", "empty", "no-default", "unknown"],
)
def test_bad_packs_declarations_are_user_errors(
    tmp_path: Path, packed_field: dict[str, Any], message: str
) -> None:
    fields = [
        {"name": "name", "type": "string"},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "packed", **packed_field},
    ]
    (tmp_path / "thing").mkdir()
    schema = {"type": "record", "name": "Thing", "fields": fields}
    (tmp_path / "thing" / "v1.avsc").write_text(json.dumps(schema))
    with pytest.raises(SchemaLoadError, match=message):
        load_catalog(tmp_path)


@pytest.fixture
def registry_pair(catalog: SchemaCatalog) -> Iterator[tuple[Codec, bytes]]:
    codec = registry_codec(catalog, registry_client())
    yield codec, codec.encode("outcome", SAMPLES["outcome"], TOPIC)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"", "not Confluent Avro wire format"),
        (lambda d: b"\x07" + d[1:], "not Confluent Avro wire format: Invalid magic byte"),
        (lambda d: b"\x00" + (9999).to_bytes(4, "big") + d[5:], "does not know the writer"),
        (lambda d: d[:-3], "corrupt or truncated outcome v2 message"),
    ],
    ids=["empty", "wrong-magic", "unknown-schema-id", "truncated-body"],
)
def test_registry_bad_bytes_raise_decode_error(
    registry_pair: tuple[Codec, bytes], mutate: Callable[[bytes], bytes], message: str
) -> None:
    codec, data = registry_pair
    with pytest.raises(DecodeError, match=message):
        codec.decode("outcome", mutate(data), TOPIC)


def test_registry_outage_is_not_a_decode_error(catalog: SchemaCatalog) -> None:
    """A registry that fails must be retried, not turn good messages into DLQ entries."""
    client = registry_client()
    from confluent_kafka.schema_registry import SchemaRegistryError

    data = registry_codec(catalog, client).encode("outcome", SAMPLES["outcome"], TOPIC)

    class Unavailable(type(client)):  # type: ignore[misc]
        def get_schema(self, *args: Any, **kwargs: Any) -> Any:
            raise SchemaRegistryError(503, 50003, "unavailable")

    reader = registry_codec(catalog, Unavailable({"url": "mock://codec-unit-down"}))
    with pytest.raises(SchemaRegistryError):
        reader.decode("outcome", data, TOPIC)
