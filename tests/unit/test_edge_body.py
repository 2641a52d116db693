"""Body limits on the wire and after decompression; corrupt and truncated streams."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator

import brotli  # type: ignore[import-untyped]
import pytest

from pipeline.edge.body import BadEncoding, BodyTooLarge, read_body

DATA = b'{"message": "hello"}' * 100


async def _chunks(data: bytes, size: int = 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read(data: bytes, encoding: str | None, wire: int = 10**6, out: int = 10**6) -> bytes:
    return asyncio.run(read_body(_chunks(data), encoding, wire, out))


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        (None, lambda d: d),
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda d: zlib.compress(d, wbits=-15)),  # raw deflate, as some clients send
        ("br", brotli.compress),
    ],
)
def test_bodies_decompress(encoding: str | None, compress: object) -> None:
    assert callable(compress)
    assert read(compress(DATA), encoding) == DATA


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", gzip.compress), ("br", brotli.compress)]
)
def test_bombs_stop_at_the_decompressed_limit(encoding: str, compress: object) -> None:
    assert callable(compress)
    bomb = compress(b"\0" * 50_000_000)  # a few KB on the wire
    assert len(bomb) < 100_000
    with pytest.raises(BodyTooLarge, match="decompressed"):
        read(bomb, encoding, out=1_000_000)


def test_the_wire_limit_applies_before_decompression() -> None:
    with pytest.raises(BodyTooLarge, match="larger than 1000"):
        read(DATA, None, wire=1000)


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(DATA)[:-20]),
        ("gzip", b"not gzip at all"),
        ("br", brotli.compress(DATA)[:-5]),
        ("compress", DATA),
    ],
)
def test_corrupt_truncated_or_unknown_encodings_are_refused(encoding: str, body: bytes) -> None:
    with pytest.raises(BadEncoding):
        read(body, encoding)
