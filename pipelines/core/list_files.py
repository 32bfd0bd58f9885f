"""List files (`--input_list`) read as data: any bytes in them make lines, each done or rejected.

A list comes from anywhere (an inventory export, a script, a hand edit): one odd line must never
stop the job, nor one huge line stall it.
- Lines end at `\\n`, `\\r\\n` or a lone `\\r`, as the file has them; a last line without a break
  counts. Blank lines (and surrounding spaces) are skipped.
- A line is split off in linear time (one pass over the bytes, chunk by chunk) and never held
  past `MAX_LINE_BYTES`: a longer line is rejected (`name_too_long`) from its first bytes and its
  length alone, however long it is.
- A line holding a NUL byte is `unsafe_name`; a line that is not UTF-8 is `unencodable_name`.
  Reject records name the line with backslash escapes, so they stay readable JSON.
- The file itself is capped by `--max_file_bytes` (checked before any work, `check_list_file`).
- A .gz list is decompressed here (`gunzip_chunks`), a bounded piece at a time, and a stream that
  ends inside a member (a truncated upload) or is damaged raises after every line before the
  damage was given: Beam's own reader stops quietly there, and the lines after would be lost
  without a word.
- CSV lists (inventory reports, `--input_list_column`) are read through the same lines: a row is
  one line, or several while a quoted field holds a line break (joined with `\\n`), under the same
  cap. Its bytes are checked as a line's are; a row the CSV rules can't parse (an unclosed quote,
  a stray quote) is `bad_list_row`, and so is a row too short to hold the column. An unclosed
  quote costs at most one cap's worth of lines: the row is rejected there and reading resumes.
"""
from __future__ import annotations

import csv
import re
import zlib
from typing import Iterable, Iterator, Union

from pipelines.core.rejects import Rejected

MAX_LINE_BYTES = 64 * 1024   # far over any path (4 KiB locally, 1 KiB for a GCS object name)
READ_CHUNK = 1 << 20
SHOWN_BYTES = 120            # how much of an over-long line a reject shows
_BREAK = re.compile(rb"\r\n|\r|\n")


class LongLine:
    """A line over the cap: its first bytes and its length."""

    def __init__(self, head: bytes, length: int):
        self.head, self.length = head, length


def split_lines(chunks: Iterable[bytes], max_line: int = MAX_LINE_BYTES
                ) -> Iterator[Union[bytes, LongLine]]:
    """Byte chunks -> each line's bytes (no break), or a LongLine for a line over `max_line`."""
    parts: list[bytes] = []
    held = 0          # bytes of the current line seen so far (held only up to max_line)
    carry = b""       # a chunk's final '\r': a break, or the first half of '\r\n'
    for chunk in chunks:
        data = carry + chunk
        carry = b""
        if data.endswith(b"\r"):
            data, carry = data[:-1], b"\r"
        start = 0
        for found in _BREAK.finditer(data):
            piece = data[start:found.start()]
            yield _line(parts, held, piece, max_line)
            parts, held = [], 0
            start = found.end()
        rest = data[start:]
        if held + len(rest) <= max_line:
            parts.append(rest)
        elif held <= max_line:  # over the cap from here on: keep only the head
            parts = [b"".join(parts + [rest])[:SHOWN_BYTES]]
        held += len(rest)
    if carry or held:
        yield _line(parts, held, b"", max_line)


def _line(parts: list, held: int, piece: bytes, max_line: int) -> Union[bytes, LongLine]:
    length = held + len(piece)
    if length > max_line:
        return LongLine((b"".join(parts) + piece[:SHOWN_BYTES])[:SHOWN_BYTES], length)
    return b"".join(parts) + piece


def read_chunks(f, size: int = READ_CHUNK) -> Iterator[bytes]:
    return iter(lambda: f.read(size), b"")


def gunzip_chunks(chunks: Iterable[bytes], max_out: int = READ_CHUNK) -> Iterator[bytes]:
    """A gzip stream's chunks -> its decompressed chunks, each at most `max_out` bytes (a small
    file of zeros can't blow up memory), members one after another as gzip writes them. Raises
    EOFError when the stream ends inside a member, zlib.error when it is damaged."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    fed = False
    for data in chunks:
        while True:
            fed = fed or bool(data)
            out = inflater.decompress(data, max_out)
            if out:
                yield out
            if inflater.eof:  # a member ended: the rest starts the next one
                data = inflater.unused_data
                inflater, fed = zlib.decompressobj(16 + zlib.MAX_WBITS), False
                if not data.strip(b"\0"):  # nothing, or the zero padding some writers add
                    break
                continue
            data = inflater.unconsumed_tail
            if not data and not out:
                break
    if fed:
        raise EOFError("the compressed list ends inside its stream: the file is truncated")


def shown(raw: bytes) -> str:
    """A line's bytes as readable text (NUL and bytes that are not UTF-8 escaped)."""
    return raw.decode("utf-8", "backslashreplace").replace("\0", "\\x00")


def line_text(line: Union[bytes, LongLine]) -> str:
    """A line as text. Raises Rejected: `name_too_long`, `unsafe_name` (a NUL byte),
    `unencodable_name` (not UTF-8)."""
    if isinstance(line, LongLine):
        raise Rejected("name_too_long", f"a list line of {line.length} bytes, over the "
                                        f"{MAX_LINE_BYTES} a line may hold")
    if b"\0" in line:
        raise Rejected("unsafe_name", "the list line holds a NUL byte")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("unencodable_name", "the list line is not valid UTF-8") from None


def line_label(line: Union[bytes, LongLine]) -> str:
    """What a reject record calls the line (its path field)."""
    if isinstance(line, LongLine):
        return shown(line.head) + "..."
    return shown(line)


def csv_records(lines: Iterable[Union[bytes, LongLine]], max_record: int = MAX_LINE_BYTES
                ) -> Iterator[Union[bytes, LongLine]]:
    """`split_lines`'s lines -> CSV rows' bytes: lines join (with `\\n`) while a quote is open, up
    to `max_record` bytes; a longer row is a LongLine and the next line starts a new row."""
    held: list[bytes] = []
    size = 0
    open_quote = False
    for line in lines:
        if isinstance(line, LongLine):
            head = b"\n".join(held + [line.head])[:SHOWN_BYTES]
            yield LongLine(head, size + len(held) + line.length)
            held, size, open_quote = [], 0, False
            continue
        size += len(line) + (1 if held else 0)
        held.append(line)
        open_quote ^= bool(line.count(b'"') % 2)
        if size > max_record:
            yield LongLine(b"\n".join(held)[:SHOWN_BYTES], size)
            held, size, open_quote = [], 0, False
        elif not open_quote:
            yield b"\n".join(held)
            held, size = [], 0
    if held:
        yield b"\n".join(held)  # a quote left open at the end: parsing rejects it


def csv_fields(record: Union[bytes, LongLine]) -> list[str]:
    """A CSV row's fields ([] for a blank row). Raises Rejected as `line_text` does, or
    `bad_list_row` for a row the CSV rules can't parse."""
    text = line_text(record)
    if not text.strip():
        return []
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as e:
        raise Rejected("bad_list_row", f"a CSV row that can't be parsed ({e})") from None


def _first_row(records: Iterator[Union[bytes, LongLine]]) -> list[str]:
    """The fields of the first row that is not blank (the header), read off `records`; [] when
    there is none. Raises Rejected."""
    for record in records:
        fields = csv_fields(record)
        if fields:
            return fields
    return []


def csv_header(chunks: Iterable[bytes]) -> list[str]:
    """The header row of a CSV list given as byte chunks. Raises Rejected."""
    return _first_row(csv_records(split_lines(chunks)))


def csv_column(chunks: Iterable[bytes], column: str) -> Iterator[Union[str, tuple]]:
    """A CSV list given as byte chunks -> each row's value in `column`, or (label, Rejected) for
    a row that can't give one. A file whose header lacks the column raises Rejected
    (`list_without_column`): none of its rows are read."""
    records = csv_records(split_lines(chunks))
    header = _first_row(records)   # the rows after it stay in `records`
    if column not in header:
        raise Rejected("list_without_column", f"its header ({', '.join(header)[:200]}) has no "
                                              f"column {column!r}: none of its rows were read")
    index = header.index(column)
    for record in records:
        try:
            fields = csv_fields(record)
            if fields and len(fields) <= index:
                raise Rejected("bad_list_row", f"a row of {len(fields)} fields: no "
                                               f"{column!r} (field {index + 1})")
        except Rejected as e:
            yield line_label(record), e
            continue
        if fields:
            yield fields[index]
