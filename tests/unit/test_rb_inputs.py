"""remove_background's input resolution: lines of an --input_list."""
from pipelines.remove_background import inputs as rb_inputs


def test_list_lines():
    assert rb_inputs.resolve_list_line("  gs://b/x.jpg \r", "/root") == ["gs://b/x.jpg"]
    assert rb_inputs.resolve_list_line("/abs/x.jpg", "/root") == ["/abs/x.jpg"]
    assert rb_inputs.resolve_list_line("sub/x.jpg", "gs://b/root/") == ["gs://b/root/sub/x.jpg"]
    assert rb_inputs.resolve_list_line("   ", "/root") == []


def test_csv_lists_keep_quoted_commas_and_newlines_and_reject_short_rows(tmp_path):
    path = tmp_path / "inventory.csv"
    path.write_bytes(b'name,size\r\na.jpg,1\r\n"two\nlines.jpg",2\r\n"x, y.jpg",3\r\nshort\r\n')

    def read(column):
        out = list(rb_inputs.read_csv_column(str(path), column, "/in", "inv"))
        return ([x for x in out if isinstance(x, str)],
                [(x.value["path"], x.value["reason"]) for x in out if not isinstance(x, str)])

    assert read("name") == (["/in/a.jpg", "/in/two\nlines.jpg", "/in/x, y.jpg", "/in/short"], [])
    assert read("size") == (["/in/1", "/in/2", "/in/3"], [("short", "bad_list_row")])
    assert read("etag") == ([], [(str(path), "list_without_column")])


def test_a_damaged_list_says_how_far_it_was_read_in_lines_or_csv_rows(tmp_path):
    import gzip

    text = b"".join(b"photo%d.jpg\n" % i for i in range(2000))
    csv = b"name\n" + text
    (tmp_path / "list.txt.gz").write_bytes(gzip.compress(text)[:-400])
    (tmp_path / "inventory.csv.gz").write_bytes(gzip.compress(csv)[:-400])

    def damaged(out):
        out = list(out)
        found = [x.value for x in out if not isinstance(x, str)]
        assert [r["reason"] for r in found] == ["read_failed"], found
        return len([x for x in out if isinstance(x, str)]), found[0]["detail"]

    lines, detail = damaged(rb_inputs.read_list_file(str(tmp_path / "list.txt.gz"), "/in", "l"))
    assert 0 < lines < 2000 and f"past its first {lines} lines" in detail, detail
    rows, detail = damaged(rb_inputs.read_csv_column(str(tmp_path / "inventory.csv.gz"), "name",
                                                     "/in", "c"))
    assert 0 < rows < 2000 and f"past its first {rows} rows" in detail, detail


def test_the_input_walker_sorts_entries_into_inputs_junk_and_rejects():
    import os

    walker = rb_inputs.InputWalker("/in/**", "/in", "/in/out/", "src")
    assert list(walker.on_file("/in/a.jpg")) == ["/in/a.jpg"]
    assert list(walker.on_file("/in/out/a.png")) == []          # under DEST
    [junk] = walker.on_file("/in/sub/.DS_Store")
    assert (junk.tag, junk.value) == ("ignored", "/in/sub/.DS_Store")
    [bad] = walker.on_file(os.fsdecode(b"/in/caf\xe9.jpg"))
    assert bad.tag == "rejected" and bad.value["path"] == "/in/caf\\xe9.jpg"
    assert bad.value["reason"] == "unencodable_name"
    [odd] = walker.on_odd("/in/pipe.jpg", "not_a_regular_file", "a FIFO")
    assert (odd.value["reason"], odd.value["source"]) == ("not_a_regular_file", "src")
    assert walker.keep_folder("/in/sub") and not walker.keep_folder("/in/out")
    assert not rb_inputs.InputWalker("/in/a*/**", "/in", None, "s").keep_folder("/in/b")
