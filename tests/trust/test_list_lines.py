"""Issue 20, class 4, the pure part: `pipelines.list_files` splits any bytes into lines, in one
pass, never holding more of a line than its cap."""
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
