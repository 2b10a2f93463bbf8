"""The WARC export (WARC/1.1, written with warcio): a `warcinfo` record, then for every kept
exchange its `request` and `response` records, or a `revisit` record when its payload is the
same as one already written.

The crawler keeps bodies decompressed, so a response is written with the body it kept and its
head made to match: `Content-Encoding`, `Transfer-Encoding` and `Content-Length` as received
become `X-Archive-Orig-*` headers, and `Content-Length` is the kept body's length.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO

from warcio.statusandheaders import StatusAndHeadersParser  # type: ignore[import-untyped]
from warcio.warcwriter import WARCWriter  # type: ignore[import-untyped]
from yarl import URL

from crawler.config import __version__
from crawler.models import HttpCapture, PageRecord

WARC_VERSION = "WARC/1.1"
CHANGED_HEADERS = ("content-encoding", "transfer-encoding", "content-length")
"""Headers that described the body as it travelled, not as it is kept."""
_HEAD_PARSER = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0"], verify=False)


@dataclass
class WarcCounts:
    """What an export wrote."""

    responses: int = 0
    revisits: int = 0


@dataclass(frozen=True, slots=True)
class _First:
    """Where a payload was first written, for the revisits that repeat it."""

    uri: str
    date: str


async def write_warc(
    captures: AsyncIterator[tuple[PageRecord, HttpCapture]], output: BinaryIO, filename: str
) -> WarcCounts:
    """Write every capture to `output` as gzipped WARC records; returns what was written."""
    writer = WARCWriter(output, gzip=True, warc_version=WARC_VERSION)
    writer.write_record(
        writer.create_warcinfo_record(
            filename,
            {
                "software": f"crawler/{__version__}",
                "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                "description": "bodies kept decompressed; X-Archive-Orig-* headers as received",
            },
        )
    )
    counts = WarcCounts()
    first_of: dict[str, _First] = {}  # payload digest -> its first response
    async for record, capture in captures:
        uri = record.final_url or record.url
        date = record.fetched_at or ""
        head = _kept_head(capture, record)
        digest = _digest(capture.body)
        first = first_of.get(digest)
        headers = {"WARC-Date": date} if date else {}
        if first is None:
            first_of[digest] = _First(uri, date)
            response = writer.create_warc_record(
                uri,
                "response",
                payload=BytesIO(head + capture.body),
                length=len(head) + len(capture.body),
                warc_headers_dict=headers,
            )
            counts.responses += 1
        else:
            response = writer.create_revisit_record(
                uri,
                digest,
                first.uri,
                first.date,
                http_headers=_HEAD_PARSER.parse(BytesIO(head)),
                warc_headers_dict=headers,
            )
            counts.revisits += 1
        sent = capture.request or _request_of(uri)
        request = writer.create_warc_record(
            uri, "request", payload=BytesIO(sent), length=len(sent), warc_headers_dict=headers
        )
        writer.write_request_response_pair(request, response)
    return counts


def _kept_head(capture: HttpCapture, record: PageRecord) -> bytes:
    """The response head as it matches the kept body (see the module's docstring)."""
    if not capture.response_head:  # kept before heads were: what the record knows
        lines = [f"HTTP/1.1 {record.status}"]
        if record.content_type:
            lines.append(f"Content-Type: {record.content_type}")
    else:
        first, *fields = capture.response_head.decode("latin-1").rstrip("\r\n").split("\r\n")
        lines = [first]
        for field in fields:
            name, _, value = field.partition(":")
            changed = name.strip().lower() in CHANGED_HEADERS
            lines.append(f"X-Archive-Orig-{name.strip()}:{value}" if changed else field)
    lines += [f"Content-Length: {len(capture.body)}", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _request_of(uri: str) -> bytes:
    """A GET of `uri`, for an exchange kept before requests were."""
    url = URL(uri)
    host = f"{url.raw_host}:{url.explicit_port}" if url.explicit_port else url.raw_host
    return f"GET {url.raw_path_qs or '/'} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def _digest(payload: bytes) -> str:
    """The payload digest as warcio writes it (`sha1:` and base 32)."""
    return "sha1:" + base64.b32encode(hashlib.sha1(payload).digest()).decode()
