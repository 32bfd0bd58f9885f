"""Pure steps of background removal: output names and their safety, collision and skip verdicts,
listing lines, summary counts, and the per-image render without a model."""
import io

import numpy as np
import pytest
from PIL import Image

from pipelines import inference, remove_background as rb
from pipelines.imaging import ImageError
from tests import cutout_support as cs


def reason_of(fn, *args):
    with pytest.raises(ImageError) as info:
        fn(*args)
    return info.value.reason


# ----------------------------------------------------------------------------- names

def test_output_names_per_mode():
    assert inference.output_names("a/b/photo.jpeg", "cutout") == (("cutout", "a/b/photo.png"),)
    assert inference.output_names("photo.PNG", "mask") == (("mask", "photo.png"),)
    assert inference.output_names("x/photo.tif", "both") == (
        ("cutout", "x/photo.png"), ("mask", "x/photo.mask.png"))
    assert inference.output_names("noext", "cutout") == (("cutout", "noext.png"),)
    assert inference.output_names("dir.v2/.hidden", "cutout") == (("cutout", "dir.v2/.hidden.png"),)
    with pytest.raises(ValueError):
        inference.output_names("a.jpg", "alpha")


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
    assert reason_of(inference.check_relative_name, rel) == reason


def test_underscores_below_the_top_level_are_fine():
    inference.check_relative_name("a/_private/x.jpg")
    inference.check_relative_name("x_.jpg")


def test_relative_path_against_the_root():
    assert inference.relative_path("/data/in/a/b.jpg", "/data/in") == "a/b.jpg"
    assert inference.relative_path("gs://b/in/x.jpg", "gs://b/in/") == "x.jpg"
    assert reason_of(inference.relative_path, "/data/input2/x.jpg", "/data/in") == \
        "outside_input_root"
    assert reason_of(inference.relative_path, "/etc/passwd", "/data/in") == "outside_input_root"
    assert reason_of(inference.relative_path, "/data/in/../x.jpg", "/data/in") == "unsafe_path"


def test_names_a_filesystem_cant_hold():
    ok = "a" * 251 + ".jpg"                     # 255 bytes: its .png is 255 too
    assert inference.output_names(ok, "cutout") == (("cutout", "a" * 251 + ".png"),)
    # ...but its mask name would be 260 bytes.
    assert reason_of(inference.output_names, ok, "both") == "name_too_long"
    # Multi-byte characters count in bytes: 128 x 2 bytes.
    assert reason_of(inference.output_names, "é" * 128 + ".jpg", "cutout") == "name_too_long"
    deep = "/".join(["d" * 200] * 21) + "/x.png"   # > 4095 bytes in all
    assert reason_of(inference.output_path, "/dest", deep) == "name_too_long"
    assert reason_of(inference.output_path, "gs://b/dest", "/".join(["d" * 200] * 6)) == \
        "name_too_long"


def test_output_path_stays_inside_dest():
    assert inference.output_path("/dest", "a/b.png") == "/dest/a/b.png"
    assert inference.output_path("gs://b/dest/", "a/b.png") == "gs://b/dest/a/b.png"
    assert reason_of(inference.output_path, "/dest", "../b.png") == "unsafe_path"
    assert reason_of(inference.output_path, "/dest", "a/../../b.png") == "unsafe_path"


def test_plan_input_refuses_inputs_inside_dest():
    cfg = rb.JobConfig(source="list.txt", input_kind="list", pattern="list.txt", root="/data",
                       dest="/data/out", model="/m", image_size=32)
    assert rb.plan_input("/data/a/x.jpg", cfg) == (("cutout", "a/x.png"),)
    assert reason_of(rb.plan_input, "/data/out/x.jpg", cfg) == "inside_output_dir"


def test_list_lines():
    assert rb.resolve_list_line("  gs://b/x.jpg \r", "/root") == ["gs://b/x.jpg"]
    assert rb.resolve_list_line("/abs/x.jpg", "/root") == ["/abs/x.jpg"]
    assert rb.resolve_list_line("sub/x.jpg", "gs://b/root/") == ["gs://b/root/sub/x.jpg"]
    assert rb.resolve_list_line("   ", "/root") == []


# ----------------------------------------------------------------------------- verdicts

def test_two_inputs_one_name_both_rejected_naming_each_other():
    entries = [("in", "/r/x.png", "cutout"), ("in", "/r/x.jpg", "cutout"), ("have",)]
    verdicts = dict(rb.judge_output_name("x.png", entries, folders_matter=True))
    assert set(verdicts) == {"/r/x.png", "/r/x.jpg"}
    assert verdicts["/r/x.jpg"][0] == "collision" and "/r/x.png" in verdicts["/r/x.jpg"][2]
    action, (reason, detail), extra = rb.decide("/r/x.jpg", [verdicts["/r/x.jpg"]], False)
    assert (action, reason, extra) == ("reject", "output_name_collision", 0)
    assert "x.png" in detail and "/r/x.png" in detail


def test_a_file_output_where_other_outputs_need_a_folder():
    entries = [("in", "/r/a.jpg", "cutout"), ("dir",)]
    [(uri, status)] = rb.judge_output_name("a.png", entries, folders_matter=True)
    assert status[0] == "collision"
    # On GCS a name can be an object and a prefix at once.
    [(uri, status)] = rb.judge_output_name("a.png", entries, folders_matter=False)
    assert status[0] == "ok"


def test_skip_overwrite_and_partial_pairs():
    ok = ("ok", "cutout", "x.png", True, 1)
    mask_missing = ("ok", "mask", "x.mask.png", False, 1)
    assert rb.decide("u", [ok], overwrite=False) == ("skip", None, 0)
    assert rb.decide("u", [ok], overwrite=True) == ("process", (("cutout", "x.png"),), 0)
    # --output both after a crash between the two writes: only the missing one is redone.
    assert rb.decide("u", [ok, mask_missing], overwrite=False) == \
        ("process", (("mask", "x.mask.png"),), 0)


def test_a_uri_listed_twice_is_done_once():
    entries = [("in", "/r/x.jpg", "cutout"), ("in", "/r/x.jpg", "cutout")]
    [(uri, status)] = rb.judge_output_name("x.png", entries, folders_matter=True)
    assert status == ("ok", "cutout", "x.png", False, 2)
    assert rb.decide(uri, [status], False) == ("process", (("cutout", "x.png"),), 1)


def test_summary_counts_add_up():
    fn = rb.SummaryCounts()
    a = fn.create_accumulator()
    for outcome in [("written", 2), ("written", 1), ("skipped", 0), ("rejected", "b"),
                    ("rejected", "a"), ("rejected", "b"), ("ignored_os_files", 0)]:
        a = fn.add_input(a, outcome)
    merged = fn.extract_output(fn.merge_accumulators([a, fn.create_accumulator()]))
    assert merged == {"inputs": 6, "written": 2, "skipped": 1, "rejected": 3, "files_written": 3,
                      "rejected_by_reason": {"a": 1, "b": 2}, "ignored_os_files": 1}
    assert fn.extract_output(fn.create_accumulator())["inputs"] == 0


# ----------------------------------------------------------------------------- rendering

def _alpha_small(value_fn, size=cs.IMAGE_SIZE):
    yy, xx = np.mgrid[0:size, 0:size]
    return value_fn(xx, yy).astype(np.float32)[..., None]


def _decode(png):
    return Image.open(io.BytesIO(png))


def test_render_keeps_own_alpha_and_mask_is_the_cutouts_alpha():
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = 255
    rgba[:, :30, 3] = 0          # left half transparent in the input itself
    data = cs.encode(Image.fromarray(rgba, "RGBA"), "PNG")
    alpha_small = np.ones((cs.IMAGE_SIZE, cs.IMAGE_SIZE, 1), np.float32)  # model: all object
    out = inference.render_outputs(data, alpha_small, ["cutout", "mask"])
    cut, mask = _decode(out["cutout"]), _decode(out["mask"])
    assert cut.mode == "RGBA" and cut.size == (60, 40)
    assert mask.mode == "L" and mask.size == (60, 40)
    a = np.asarray(cut)[..., 3]
    assert (a[:, :30] == 0).all() and (a[:, 30:] == 255).all()
    assert np.array_equal(np.asarray(mask), a)


def test_render_on_a_background_colour_has_no_alpha():
    data = cs.encode(Image.new("RGB", (50, 30), (0, 0, 255)), "PNG")
    half = _alpha_small(lambda x, y: (x < cs.IMAGE_SIZE // 2).astype(float))
    out = inference.render_outputs(data, half, ["cutout"], background=(0, 255, 0))
    cut = np.asarray(_decode(out["cutout"]))
    assert cut.shape == (30, 50, 3)
    assert tuple(cut[15, 2]) == (0, 0, 255)    # kept: the blue object
    assert tuple(cut[15, 47]) == (0, 255, 0)   # removed: the green background


@pytest.mark.parametrize("compression", ["rle", "fast", "default"])
def test_every_png_compression_decodes_to_the_same_visible_picture(compression):
    data = cs.encode(Image.fromarray(cs.scene()), "PNG")
    alpha_small = _alpha_small(lambda x, y: ((x > 8) & (x < 24)).astype(float))
    png = inference.render_outputs(data, alpha_small, ["cutout"], png_compression=compression)
    ref = inference.render_outputs(data, alpha_small, ["cutout"], png_compression="default")
    a, b = np.asarray(_decode(png["cutout"])), np.asarray(_decode(ref["cutout"]))
    assert np.array_equal(a[..., 3], b[..., 3])
    visible = a[..., 3] > 0
    assert np.array_equal(a[visible], b[visible])


def test_prepare_image_is_the_models_input_and_refuses_bombs():
    data = cs.encode(Image.fromarray(cs.scene(640, 480)), "JPEG", quality=95)
    small = inference.prepare_image(data, cs.IMAGE_SIZE)
    assert small.shape == (cs.IMAGE_SIZE, cs.IMAGE_SIZE, 3) and small.dtype == np.uint8
    assert small[16, 16].mean() > 200 and small[1, 1].mean() < 50
    assert reason_of(inference.prepare_image, data, cs.IMAGE_SIZE, 640 * 480 - 1) == \
        "too_many_pixels"
    assert reason_of(inference.prepare_image, b"", cs.IMAGE_SIZE) == "empty_file"
    assert reason_of(inference.prepare_image, b"GIF89a not really", cs.IMAGE_SIZE) in (
        "not_an_image", "undecodable")


@pytest.mark.parametrize("first", ["remove_background", "other"])
def test_options_coexist_with_the_other_jobs_options(first):
    """The jobs share flag names (--output_dir, --model, --max_pixels, --inference_threads);
    Beam parses every options class loaded in a process with one parser, which must not fail."""
    import importlib
    import subprocess
    import sys

    others = [m for m in ("pipelines.preprocess", "pipelines.evaluate")
              if importlib.util.find_spec(m) is not None]
    order = (["pipelines.remove_background"] + others if first == "remove_background"
             else others + ["pipelines.remove_background"])
    code = (
        "import importlib, sys\n"
        f"for m in {order!r}: importlib.import_module(m)\n"
        "from apache_beam.options.pipeline_options import PipelineOptions\n"
        "from pipelines.options import job_view\n"
        "from pipelines.remove_background import RemoveBackgroundOptions\n"
        "o = PipelineOptions(['--input', 'x', '--output_dir', 'd', '--model', 'm',"
        " '--max_pixels', '7'])\n"
        "o.get_all_options()\n"
        "v = job_view(o, RemoveBackgroundOptions)\n"
        "assert (v.output_dir, v.model, v.max_pixels, v.inference_threads) == ('d', 'm', 7, 0)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
