"""Issue 20, class 4: list files are data. Any bytes in a line make a line that is done or
rejected; line breaks as the file has them; a cap on a line and on the file; linear time."""
import gzip
import os

import pytest

from tests.trust import support as ts


def _run_list(arena, data: bytes, *extra, timeout=300):
    listing = arena.tmp / "list.txt"
    listing.write_bytes(data)
    return ts.run_module(ts.RB, "--input_list", listing, "--input_root", arena.src,
                         "--output_dir", arena.dest, *extra, timeout=timeout)


@pytest.mark.timeout(300)
def test_nul_and_non_utf8_lines_are_rejects_not_a_dead_job(tmp_path, model_dir):
    arena = ts.Arena(tmp_path)
    arena.photos(["a.png", "b.png", "c.png"])
    arena.seal()
    data = (b"a.png\r\n"            # CRLF
            b"bad\x00name.png\n"    # a NUL byte
            b"caf\xe9.png\n"        # Latin-1, not UTF-8
            b"b.png\r"              # a lone CR ends a line too
            b"c.png")                # no final line break
    proc = _run_list(arena, data, "--model", model_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = ts.summary(arena.dest)
    assert (summary["written"], summary["rejected"]) == (3, 2), summary
    assert sorted(summary["rejected_by_reason"].items()) == [("unencodable_name", 1),
                                                             ("unsafe_name", 1)]
    assert set(ts.outputs(arena.dest)) == {"a.png", "b.png", "c.png"}
    arena.check()


@pytest.mark.timeout(300)
def test_a_huge_line_is_one_quick_reject(tmp_path):
    """30 MB in one line: read in linear time (the bound is a generous timeout, not a timing)."""
    arena = ts.Arena(tmp_path)
    arena.photos(["a.png"])
    arena.seal()
    data = b"a.png\n" + b"x" * (30 * 2**20) + b".png\n"
    proc = _run_list(arena, data, "--plan_only", timeout=200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = ts.summary(arena.dest)
    assert (summary["planned"], summary["rejected"]) == (1, 1), summary
    assert summary["rejected_by_reason"] == {"name_too_long": 1}
    arena.check()


@pytest.mark.timeout(300)
def test_csv_inventory_shards_with_odd_rows_are_rejects_not_a_dead_job(tmp_path, model_dir):
    """Inventory reports come as CSV shards: odd bytes, an over-long field, an unclosed quote, a
    short row, a shard without the column: each a reject, every good row done."""
    arena = ts.Arena(tmp_path)
    arena.photos(["a.png", "b.png", "c.png", "d.png"])
    arena.seal()
    shards = arena.tmp / "inventory"
    shards.mkdir()
    (shards / "part-0.csv").write_bytes(
        b"bucket,name,size\r\n"
        b"b,a.png,1\r\n"
        b"b,caf\xe9.png,1\r\n"                   # not UTF-8
        b"b,bad\x00name.png,1\r\n"               # a NUL byte
        b"b,\"" + b"x" * (200 * 1024) + b".png\",1\r\n"   # a field over the cap
        b"b,b.png,1\r\n"
        b"b\r\n")                                 # too short to hold the column
    (shards / "part-1.csv").write_bytes(
        b"bucket,name,size\n"
        b"b,c.png,1\n"
        b'b,"d.png,1\n'                           # a quote left open to the end
        b"b,d.png,1\n")
    (shards / "part-2.csv").write_bytes(b"bucket,object,size\nb,d.png,1\n")  # other header
    proc = ts.run_module(ts.RB, "--input_list", shards / "part-*.csv", "--input_list_column",
                         "name", "--input_root", arena.src, "--output_dir", arena.dest,
                         "--model", model_dir, timeout=250)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = ts.summary(arena.dest)
    assert set(ts.outputs(arena.dest)) == {"a.png", "b.png", "c.png"}
    assert summary["rejected_by_reason"] == {
        "unencodable_name": 1, "unsafe_name": 1, "name_too_long": 1, "bad_list_row": 2,
        "list_without_column": 1}, summary
    arena.check()


@pytest.mark.timeout(300)
def test_a_truncated_gzip_list_is_a_reject_and_its_lines_before_the_damage_are_done(tmp_path,
                                                                                  model_dir):
    """Beam's reader stops quietly inside a truncated .gz: the lines after the cut would be lost
    without a word. Here the file is one reject (read_failed) and every line before is done."""
    arena = ts.Arena(tmp_path)
    arena.photos(["a.png", "b.png", "c.png"])
    arena.seal()
    lists = arena.tmp / "lists"
    lists.mkdir()
    (lists / "one.txt.gz").write_bytes(gzip.compress(b"a.png\n"))
    # b.png in a first gzip member, c.png in a second one cut short.
    (lists / "two.txt.gz").write_bytes(gzip.compress(b"b.png\n")
                                       + gzip.compress(b"c.png\n" * 50)[:-12])
    proc = ts.run_module(ts.RB, "--input_list", lists / "*.gz", "--input_root", arena.src,
                         "--output_dir", arena.dest, "--model", model_dir, timeout=250)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(ts.outputs(arena.dest)) == {"a.png", "b.png", "c.png"}
    summary = ts.summary(arena.dest)
    assert summary["rejected_by_reason"] == {"read_failed": 1}, summary
    assert ts.dest_rejects(arena.dest) == {"two.txt.gz": "read_failed"}
    arena.check()


def _refused_list(tmp_path, model_dir, make_list, *extra) -> str:
    """The one line of a run refused for its list file; nothing written anywhere."""
    arena = ts.Arena(tmp_path)
    arena.photos(["a.png"])
    arena.seal()
    listing = make_list(arena.tmp)
    proc = ts.run_module(ts.RB, "--input_list", listing, "--input_root", arena.src,
                         "--output_dir", arena.dest, "--model", model_dir, *extra, timeout=150)
    line = ts.one_line_error(proc)
    assert not os.path.exists(arena.dest / "_job.json")
    arena.check()
    return line


def _long_list(folder):
    (folder / "list.txt").write_bytes(b"a.png\n" * 1000)
    return folder / "list.txt"


def _fifo_list(folder):
    os.mkfifo(folder / "list.fifo")
    return folder / "list.fifo"


@pytest.mark.timeout(200)
def test_a_list_file_over_max_file_bytes_is_refused(tmp_path, model_dir):
    line = _refused_list(tmp_path, model_dir, _long_list, "--max_file_bytes", "1000")
    assert "max_file_bytes" in line


@pytest.mark.timeout(200)
def test_a_list_file_that_is_a_fifo_is_refused_not_waited_on(tmp_path, model_dir):
    assert "regular file" in _refused_list(tmp_path, model_dir, _fifo_list)


def _damaged_csv_gz(folder):
    (folder / "inventory.csv.gz").write_bytes(b"not gzip at all\n")
    return folder / "inventory.csv.gz"


@pytest.mark.timeout(200)
def test_a_damaged_gz_csv_list_is_refused_in_one_line_before_any_work(tmp_path, model_dir):
    """The first CSV shard's header is read before any work: a damaged .gz there is one line."""
    line = _refused_list(tmp_path, model_dir, _damaged_csv_gz, "--input_list_column", "name")
    assert "inventory.csv.gz can't be read" in line
