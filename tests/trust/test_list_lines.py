"""Issue 20, class 4, the pure part: `pipelines.list_files` splits any bytes into lines, in one
pass, never holding more of a line than its cap."""
import gzip
import zlib

import pytest

from pipelines.core import list_files as lf
from pipelines.core.rejects import Rejected


def lines(chunks, cap=10):
    return [x if isinstance(x, bytes) else ("long", x.head, x.length)
            for x in lf.split_lines(chunks, cap)]


def test_line_breaks_as_the_file_has_them_across_chunk_edges():
    assert lines([b"a\r", b"\nb\rc\n\nd"]) == [b"a", b"b", b"c", b"", b"d"]
    assert lines([b"a\r", b"b"]) == [b"a", b"b"]
    assert lines([b"abc\r\n"]) == [b"abc"] and lines([b"\r"]) == [b""] and lines([]) == []


def test_a_long_line_is_kept_short():
    assert lines([b"0123456789012", b"34\nxy"]) == [("long", b"012345678901234", 15), b"xy"]
    many = [b"x" * 1000] * 1000 + [b"\nok"]
    out = list(lf.split_lines(many, 64))
    assert isinstance(out[0], lf.LongLine) and out[0].length == 10**6
    assert len(out[0].head) <= lf.SHOWN_BYTES and out[1] == b"ok"


@pytest.mark.parametrize("raw,reason", [(b"a\0b.png", "unsafe_name"),
                                        (b"caf\xe9.png", "unencodable_name")])
def test_odd_bytes_are_rejects_with_a_readable_label(raw, reason):
    with pytest.raises(Rejected) as info:
        lf.line_text(raw)
    assert info.value.reason == reason
    label = lf.line_label(raw)
    label.encode("utf-8")
    assert "\\x" in label


def records(data, cap=64):
    return [x if isinstance(x, bytes) else ("long", x.head, x.length)
            for x in lf.csv_records(lf.split_lines([data]), cap)]


def test_csv_rows_span_lines_only_inside_quotes():
    assert records(b'a,b\r\n"x\r\ny",2\n"p ""q""",3\n') == [b"a,b", b'"x\ny",2', b'"p ""q""",3']
    assert [lf.csv_fields(r) for r in records(b'"x\ny",2\n\n"p ""q""",3')] == [
        ["x\ny", "2"], [], ['p "q"', "3"]]


def test_an_unclosed_quote_costs_one_capped_row_then_reading_resumes():
    data = b'a,"open\n' + b"b,2\n" * 30 + b"c,3\n"
    out = records(data, cap=64)
    assert out[0][0] == "long" and out[0][2] > 64     # the open row, cut at the cap
    assert out[-1] == b"c,3" and len(out) < 30       # later rows read again as rows
    with pytest.raises(Rejected) as info:
        lf.csv_fields(records(b'a,"open')[0])         # left open at the end of the file
    assert info.value.reason == "bad_list_row"


@pytest.mark.parametrize("row,reason", [(b"ok,a\x00b.png", "unsafe_name"),
                                        (b"ok,caf\xe9.png", "unencodable_name"),
                                        (b'ok,a"b"c,"d"e', "bad_list_row"),
                                        (b"ok", "bad_list_row"),
                                        (b"ok," + b"x" * 70000, "name_too_long")])
def test_csv_rows_with_odd_bytes_are_rejects_and_the_rest_are_read(row, reason):
    data = b"size,name\n1,a.png\n" + row + b"\n2,b.png\n"
    out = list(lf.csv_column([data], "name"))
    assert out[0] == "a.png" and out[-1] == "b.png" and len(out) == 3
    label, error = out[1]
    assert error.reason == reason
    label.encode("utf-8")


def test_a_csv_list_without_the_column_is_one_reject():
    with pytest.raises(Rejected) as info:
        list(lf.csv_column([b"size,etag\n1,a\n"], "name"))
    assert info.value.reason == "list_without_column"


def test_a_gzip_list_streams_and_a_truncated_one_raises_after_its_good_lines():
    data = b"".join(b"%06d.png\n" % i for i in range(200000))  # 2.2 MB: many chunks
    packed = gzip.compress(data[:10**6]) + gzip.compress(data[10**6:])  # two members
    chunks = [packed[i:i + 4096] for i in range(0, len(packed), 4096)]
    out = list(lf.gunzip_chunks(chunks, max_out=65536))
    assert b"".join(out) == data and max(map(len, out)) <= 65536
    assert b"".join(lf.gunzip_chunks([gzip.compress(b"a\n") + bytes(512)])) == b"a\n"
    cut = packed[:len(packed) // 3]
    got = []
    with pytest.raises(EOFError):
        for piece in lf.gunzip_chunks([cut]):
            got.append(piece)
    assert len(b"".join(got)) > 100000 and data.startswith(b"".join(got))
    with pytest.raises(zlib.error):
        list(lf.gunzip_chunks([b"not gzip at all\n"]))
    bomb = gzip.compress(bytes(50 * 2**20))   # 50 MB of zeros in ~50 KB
    assert max(len(piece) for piece in lf.gunzip_chunks([bomb], max_out=2**20)) <= 2**20
