"""The output plan's pure steps: output names and their safety, and the collision and skip
verdicts."""
import pytest

from pipelines.remove_background import output_plan
from pipelines.remove_background.config import JobConfig
from tests import cutout_support as cs


# ----------------------------------------------------------------------------- names

def test_output_names_per_mode():
    assert output_plan.output_names("a/b/photo.jpeg", "cutout") == (("cutout", "a/b/photo.png"),)
    assert output_plan.output_names("photo.PNG", "mask") == (("mask", "photo.png"),)
    assert output_plan.output_names("x/photo.tif", "both") == (
        ("cutout", "x/photo.png"), ("mask", "x/photo.mask.png"))
    assert output_plan.output_names("noext", "cutout") == (("cutout", "noext.png"),)
    assert output_plan.output_names("dir.v2/.hidden", "cutout") == (
        ("cutout", "dir.v2/.hidden.png"),)
    with pytest.raises(ValueError):
        output_plan.output_names("a.jpg", "alpha")


@pytest.mark.parametrize("rel,reason", [
    ("../etc/passwd.jpg", "unsafe_path"),
    ("a/../../b.jpg", "unsafe_path"),
    ("a/./b.jpg", "unsafe_path"),
    ("a//b.jpg", "unsafe_path"),
    ("/abs.jpg", "unsafe_path"),
    ("a/b.jpg/", "unsafe_path"),
    ("line\nbreak.jpg", "unsafe_name"),
    ("tab\there.jpg", "unsafe_name"),
    ("bad\udcffbyte.jpg", "unencodable_name"),
    ("_rejected/x.jpg", "reserved_output_name"),
    ("_summary.jpg", "reserved_output_name"),
])
def test_unsafe_relative_names_are_refused(rel, reason):
    assert cs.reason_of(output_plan.check_relative_name, rel) == reason


def test_underscores_below_the_top_level_are_fine():
    output_plan.check_relative_name("a/_private/x.jpg")
    output_plan.check_relative_name("x_.jpg")


def test_relative_path_against_the_root():
    assert output_plan.relative_path("/data/in/a/b.jpg", "/data/in") == "a/b.jpg"
    assert output_plan.relative_path("gs://b/in/x.jpg", "gs://b/in/") == "x.jpg"
    assert cs.reason_of(output_plan.relative_path, "/data/input2/x.jpg", "/data/in") == \
        "outside_input_root"
    assert cs.reason_of(output_plan.relative_path, "/etc/passwd", "/data/in") == \
        "outside_input_root"
    assert cs.reason_of(output_plan.relative_path, "/data/in/../x.jpg", "/data/in") == "unsafe_path"


def test_names_a_filesystem_cant_hold():
    ok = "a" * 251 + ".jpg"                     # 255 bytes: its .png is 255 too
    assert output_plan.output_names(ok, "cutout") == (("cutout", "a" * 251 + ".png"),)
    # ...but its mask name would be 260 bytes.
    assert cs.reason_of(output_plan.output_names, ok, "both") == "name_too_long"
    # Multi-byte characters count in bytes: 128 x 2 bytes.
    assert cs.reason_of(output_plan.output_names, "é" * 128 + ".jpg", "cutout") == "name_too_long"
    deep = "/".join(["d" * 200] * 21) + "/x.png"   # > 4095 bytes in all
    assert cs.reason_of(output_plan.output_path, "/dest", deep) == "name_too_long"
    assert cs.reason_of(output_plan.output_path, "gs://b/dest", "/".join(["d" * 200] * 6)) == \
        "name_too_long"


def test_output_path_stays_inside_dest():
    assert output_plan.output_path("/dest", "a/b.png") == "/dest/a/b.png"
    assert output_plan.output_path("gs://b/dest/", "a/b.png") == "gs://b/dest/a/b.png"
    assert cs.reason_of(output_plan.output_path, "/dest", "../b.png") == "unsafe_path"
    assert cs.reason_of(output_plan.output_path, "/dest", "a/../../b.png") == "unsafe_path"


def test_plan_input_refuses_inputs_inside_dest():
    cfg = JobConfig(source="list.txt", input_kind="list", pattern="list.txt", root="/data",
                       dest="/data/out", model="/m", image_size=32)
    assert output_plan.plan_input("/data/a/x.jpg", cfg) == (("cutout", "a/x.png"),)
    assert cs.reason_of(output_plan.plan_input, "/data/out/x.jpg", cfg) == "inside_output_dir"


# ----------------------------------------------------------------------------- verdicts

def test_two_inputs_one_name_both_rejected_naming_each_other():
    entries = [("in", "/r/x.png", "cutout"), ("in", "/r/x.jpg", "cutout"), ("have",)]
    verdicts = dict(output_plan.judge_output_name("x.png", entries, folders_matter=True))
    assert set(verdicts) == {"/r/x.png", "/r/x.jpg"}
    assert verdicts["/r/x.jpg"][0] == "collision" and "/r/x.png" in verdicts["/r/x.jpg"][2]
    action, (reason, detail), extra = output_plan.decide("/r/x.jpg", [verdicts["/r/x.jpg"]], False)
    assert (action, reason, extra) == ("reject", "output_name_collision", 0)
    assert "x.png" in detail and "/r/x.png" in detail


def test_a_file_output_where_other_outputs_need_a_folder():
    entries = [("in", "/r/a.jpg", "cutout"), ("dir",)]
    [(uri, status)] = output_plan.judge_output_name("a.png", entries, folders_matter=True)
    assert status[0] == "collision"
    # On GCS a name can be an object and a prefix at once.
    [(uri, status)] = output_plan.judge_output_name("a.png", entries, folders_matter=False)
    assert status[0] == "ok"


def test_skip_overwrite_and_partial_pairs():
    ok = ("ok", "cutout", "x.png", True, 1)
    mask_missing = ("ok", "mask", "x.mask.png", False, 1)
    indexed = output_plan.INDEXED
    assert output_plan.decide("u", [ok, indexed], overwrite=False) == ("skip", None, 0)
    # Outputs all there, but no run's index has a line for them (a killed run): recovered.
    assert output_plan.decide("u", [ok], overwrite=False) == ("recover", (("cutout", "x.png"),), 0)
    assert output_plan.decide("u", [indexed], overwrite=False) == ("none", None, 0)
    assert output_plan.decide("u", [ok], overwrite=True) == ("process", (("cutout", "x.png"),), 0)
    # --output both after a crash between the two writes: only the missing one is redone.
    assert output_plan.decide("u", [ok, mask_missing], overwrite=False) == \
        ("process", (("mask", "x.mask.png"),), 0)


def test_a_uri_listed_twice_is_done_once():
    entries = [("in", "/r/x.jpg", "cutout"), ("in", "/r/x.jpg", "cutout")]
    [(uri, status)] = output_plan.judge_output_name("x.png", entries, folders_matter=True)
    assert status == ("ok", "cutout", "x.png", False, 2)
    assert output_plan.decide(uri, [status], False) == ("process", (("cutout", "x.png"),), 1)
