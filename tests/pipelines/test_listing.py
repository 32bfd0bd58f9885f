"""The fan-out listing (pipelines/core/listing.py) on local folders: the same URIs as one
FileSystems.match, at every fan-out depth; hostile entries become rejects at the listing; DEST's
listing gives the same claims as one listing; list files given as a glob and as CSV."""
import gzip
import os

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.core.rejects import JobError
from pipelines.remove_background import config as rb_config, inputs as rb_inputs, output_plan
from tests import cutout_support as cs


def make_tree(root):
    """Nested folders, OS junk, hidden folders, names holding '[' and '*', a DEST inside."""
    for rel in ["a.jpg", "b.png", "sub/c.jpg", "sub/deeper/d.jpg", "sub/deeper/e/f/g.png",
                "x/y/z/w/v.jpg", "we[ird]/s*tar.jpg", "we[ird]/in/q.png", ".DS_Store",
                "sub/._c.jpg", "__MACOSX/sub/a.jpg", ".hidden/h.jpg", "sub/.cache/k.jpg",
                "out/old.png", "out/_summary.json", "outer/kept.jpg", "_private/p.jpg"]:
        cs.write(os.path.join(root, rel), b"x")


@pytest.mark.parametrize("levels", [0, 1, 2, 3])
@pytest.mark.parametrize("spec", ["", "/*.jpg", "/**.png", "/sub/*/*.jpg", "/s*/**",
                                  "/we[[]ird]/*"])
def test_fan_out_lists_the_same_uris_as_one_match(tmp_path, spec, levels):
    root = str(tmp_path / "in")
    make_tree(root)
    kind, pattern, list_root = rb_config.resolve_input(root + spec)
    exclude = root + "/out/"
    cfg = cs.job_config(tmp_path, input_kind=kind, pattern=pattern, root=list_root,
                        exclude_prefix=exclude)
    uris, ignored, rejects = cs.fanned_out(cfg, levels)
    assert (uris, ignored) == cs.single_listing(pattern, list_root, exclude)
    assert rejects == [] and uris


def test_a_folder_whose_name_holds_brackets_is_listed_literally(tmp_path):
    root = str(tmp_path / "in[1]")
    make_tree(root)
    cs.write(str(tmp_path / "in1" / "not_this.jpg"), b"x")
    kind, pattern, list_root = rb_config.resolve_input(root)
    assert kind == "folder"
    cfg = cs.job_config(tmp_path, input_kind=kind, pattern=pattern, root=list_root)
    uris, ignored, _ = cs.fanned_out(cfg, 2)
    assert (uris, ignored) == cs.single_listing(pattern, list_root)
    assert not any("in1" in u for u in uris)


def test_hostile_entries_become_rejects_at_the_listing(tmp_path):
    root = tmp_path / "in"
    cs.write(root / "ok.jpg", b"x")
    cs.write(root / "real" / "inner.jpg", b"x")
    bad_name = os.fsencode(str(root / "sub")) + b"/caf\xe9.jpg"
    os.makedirs(os.path.dirname(bad_name))
    open(bad_name, "wb").close()
    bad_folder = os.fsencode(str(root)) + b"/dir\xff"
    os.makedirs(bad_folder)
    open(bad_folder + b"/inside.jpg", "wb").close()
    os.symlink(root / "missing.jpg", root / "dangling.jpg")
    os.symlink(root / "self.jpg", root / "self.jpg")            # a link to itself: ELOOP
    os.symlink(root, root / "real" / "up")                      # a folder link back up: a loop
    os.symlink(root / "real", root / "linked")                  # a folder link: followed
    os.symlink(root / "ok.jpg", root / "alias.jpg")              # a file link: followed
    os.symlink("/dev/null", root / "device.jpg")
    os.mkfifo(root / "pipe.jpg")
    kind, pattern, list_root = rb_config.resolve_input(str(root))
    cfg = cs.job_config(tmp_path, input_kind=kind, pattern=pattern, root=list_root)
    for levels in (0, 2):
        uris, ignored, rejects = cs.fanned_out(cfg, levels)
        assert {os.path.relpath(u, root) for u in uris} == {
            "ok.jpg", "alias.jpg", "real/inner.jpg", "linked/inner.jpg"}
        got = sorted((os.path.relpath(r["path"], root), r["reason"]) for r in rejects)
        assert got == sorted([
            ("dangling.jpg", "broken_link"), ("self.jpg", "broken_link"),
            ("real/up", "broken_link"), ("linked/up", "broken_link"),
            ("device.jpg", "not_a_regular_file"), ("pipe.jpg", "not_a_regular_file"),
            ("sub/caf\\xe9.jpg", "unencodable_name"),
            ("dir\\xff/inside.jpg", "unencodable_name")])
        assert all(r["source"] == "test" for r in rejects)


def test_dest_listing_gives_the_claims_of_one_listing(tmp_path):
    dest = str(tmp_path / "out")
    for rel in ["a.png", "s/b.png", "s/t/c.png", "s/t/u/v/d.png", "e/f.mask.png",
                "_summary.json", "_rejected/rejected-00000-of-00001.jsonl", "s/_kept.png"]:
        cs.write(os.path.join(dest, rel), b"x")
    # An output named like a temporary file is an output (temporaries live in DEST/_tmp/).
    cs.write(os.path.join(dest, "s", ".tmp-photo.png"), b"x")
    expected = cs.single_dest_listing(dest, True)
    assert ("s/.tmp-photo.png", ("have",)) in expected
    p = cs.local_test_pipeline()
    assert_that(p | output_plan.ExistingOutputs(dest) | beam.Distinct(), equal_to(expected))
    p.run().wait_until_finish()
    assert os.path.exists(os.path.join(dest, "s", ".tmp-photo.png"))


def test_list_files_as_a_glob_and_as_csv_columns(tmp_path):
    root = str(tmp_path / "data")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "part-0.txt").write_text("a.jpg\n\nsub/b.jpg\n")
    (tmp_path / "lists" / "part-1.txt").write_text(f"{root}/c.jpg\n")
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "0.csv").write_text('bucket,name,size\nb,a.jpg,1\nb,"odd, name.jpg",2\n')
    with gzip.open(tmp_path / "inv" / "1.csv.gz", "wt") as f:
        f.write("name,bucket\nsub/b.jpg,b\n")
    text_pattern = rb_config.resolve_input_list(str(tmp_path / "lists" / "*.txt"))
    csv_pattern = rb_config.resolve_input_list(str(tmp_path / "inv" / "*"), "name")
    with pytest.raises(JobError, match="not a column .* bucket, name, size"):
        rb_config.resolve_input_list(str(tmp_path / "inv" / "0.csv"), "object")
    with pytest.raises(JobError, match="does not exist"):
        rb_config.resolve_input_list(str(tmp_path / "nothing*.txt"))
    p = cs.local_test_pipeline()
    assert_that((p | "Text" >> rb_inputs.ReadInputLists(text_pattern, root))["uris"],
                equal_to([f"{root}/a.jpg", f"{root}/sub/b.jpg", f"{root}/c.jpg"]), label="text")
    assert_that((p | "Csv" >> rb_inputs.ReadInputLists(csv_pattern, root, "name"))["uris"],
                equal_to([f"{root}/a.jpg", f"{root}/odd, name.jpg", f"{root}/sub/b.jpg"]),
                label="csv")
    p.run().wait_until_finish()
