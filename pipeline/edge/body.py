"""Reading a request body within limits: on the wire and after decompression, streamed, so a
50 MB upload or a gzip bomb is refused (413) after at most the limit, never held whole."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Protocol

import brotli  # type: ignore[import-untyped]


class BodyTooLarge(Exception):
    """Over ``max_body_bytes`` on the wire or ``max_decompressed_bytes`` decompressed."""


class BadEncoding(Exception):
    """Content-Encoding unknown, or the compressed stream is corrupt or truncated."""


class _Decoder(Protocol):
    def feed(self, chunk: bytes, room: int) -> bytes: ...
    def finish(self) -> None: ...


class _Identity:
    def feed(self, chunk: bytes, room: int) -> bytes:
        return chunk

    def finish(self) -> None:
        return None


class _Zlib:
    """gzip (wbits 16+15) or deflate (zlib header, or raw as some clients send it)."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._inflate = zlib.decompressobj(wbits)
        self._seen = False

    def feed(self, chunk: bytes, room: int) -> bytes:
        try:
            # max_length bounds the output of each step: a bomb stops at the limit.
            out = self._inflate.decompress(self._inflate.unconsumed_tail + chunk, room + 1)
        except zlib.error:
            if self._wbits == 15 and not self._seen:  # raw deflate without a zlib header
                self._wbits, self._inflate = -15, zlib.decompressobj(-15)
                return self.feed(chunk, room)
            raise BadEncoding("corrupt compressed body") from None
        self._seen = True
        return out

    def finish(self) -> None:
        if self._inflate.unconsumed_tail or not self._inflate.eof:
            raise BadEncoding("truncated compressed body")


class _Brotli:
    def __init__(self) -> None:
        self._decompress = brotli.Decompressor()

    def feed(self, chunk: bytes, room: int) -> bytes:
        try:
            out: bytes = self._decompress.process(chunk, output_buffer_limit=room + 1)
        except brotli.error:
            raise BadEncoding("corrupt brotli body") from None
        return out

    def finish(self) -> None:
        if not self._decompress.is_finished():
            raise BadEncoding("truncated brotli body")


def decoder(content_encoding: str | None) -> _Decoder:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip"):
        return _Zlib(16 + 15)
    if encoding == "deflate":
        return _Zlib(15)
    if encoding == "br":
        return _Brotli()
    raise BadEncoding(f"unsupported Content-Encoding {encoding!r}")


async def read_body(
    chunks: AsyncIterator[bytes],
    content_encoding: str | None,
    max_wire_bytes: int,
    max_bytes: int,
) -> bytes:
    """The decompressed body; raises BodyTooLarge or BadEncoding as soon as it knows."""
    decode = decoder(content_encoding)
    wire = 0
    out = bytearray()
    async for chunk in chunks:
        wire += len(chunk)
        if wire > max_wire_bytes:
            raise BodyTooLarge(f"body is larger than {max_wire_bytes} bytes")
        out += decode.feed(chunk, max_bytes - len(out))
        if len(out) > max_bytes:
            raise BodyTooLarge(f"decompressed body is larger than {max_bytes} bytes")
    decode.finish()
    return bytes(out)
