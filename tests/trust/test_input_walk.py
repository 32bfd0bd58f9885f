"""Issue 20, class 2: input walking never leaves the input root.

A folder link whose target lies outside the input root is not followed: it is one reject,
`link_outside_input`. A folder link that stays inside the root, and a link to a regular file,
are followed (the README's "What is followed").
"""
import os

import pytest

from tests.trust import support as ts


@pytest.mark.timeout(300)
def test_a_link_to_the_parent_is_a_reject_not_a_walk_of_the_parent(tmp_path, model_dir):
    arena = ts.Arena(tmp_path)
    arena.photos(["a.png", "sub/b.png"])
    outside = arena.sentinel / "outside"
    arena.photos(["c.png", "deep/d.png"], folder=outside)   # beside the input: must not be read
    os.symlink("..", arena.src / "up")
    os.symlink(outside, arena.src / "sub" / "away")
    os.symlink("../../sentinel", arena.src / "sub" / "away2")
    arena.seal()
    proc = arena.rb("--model", model_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = ts.summary(arena.dest)
    assert (summary["inputs"], summary["written"], summary["rejected"]) == (5, 2, 3)
    assert ts.dest_rejects(arena.dest) == {"up": "link_outside_input",
                                           "away": "link_outside_input",
                                           "away2": "link_outside_input"}
    assert set(ts.outputs(arena.dest)) == {"a.png", "sub/b.png"}
    assert not (arena.dest / "up").exists()
    assert arena.inputs_unchanged()


@pytest.mark.timeout(300)
def test_a_glob_does_not_leave_the_root_through_a_link(tmp_path, model_dir):
    arena = ts.Arena(tmp_path)
    arena.photos(["x/a.png"])
    arena.photos(["c.png"], folder=arena.sentinel / "outside")
    os.symlink("../sentinel/outside", arena.src / "y")
    arena.seal()
    proc = arena.rb("--model", model_dir, input_=str(arena.src) + "/*/*.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(ts.outputs(arena.dest)) == {"x/a.png"}
    assert ts.dest_rejects(arena.dest) == {"y": "link_outside_input"}


@pytest.mark.timeout(300)
def test_links_that_stay_inside_the_root_are_followed(tmp_path, model_dir):
    arena = ts.Arena(tmp_path)
    arena.photos(["real/a.png", "b.png"])
    os.symlink("real", arena.src / "alias")
    os.symlink("b.png", arena.src / "c.png")
    arena.seal()
    proc = arena.rb("--model", model_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(ts.outputs(arena.dest)) == {"real/a.png", "alias/a.png", "b.png", "c.png"}
    assert ts.dest_rejects(arena.dest) == {}
    arena.check()


@pytest.mark.timeout(300)
def test_preprocess_does_not_walk_out_of_its_folder_source(tmp_path):
    from PIL import Image

    import numpy as np

    src = tmp_path / "raw"
    outside = tmp_path / "sentinel"
    for n, folder in enumerate((src, outside)):
        for i, stem in enumerate(("p1", "p2")):
            rgb = np.full((40, 40, 3), 60 + 40 * n + 20 * i, np.uint8)  # no two alike
            os.makedirs(folder / "images", exist_ok=True)
            os.makedirs(folder / "masks", exist_ok=True)
            Image.fromarray(rgb).save(folder / "images" / f"{stem}.png")
            Image.fromarray(np.full((40, 40), 255, np.uint8)).save(
                folder / "masks" / f"{stem}.png")
    os.symlink(outside / "images", src / "images" / "more")
    os.symlink(outside / "masks", src / "masks" / "more")
    proc = ts.run_module(ts.PREPROCESS, "--source", f"folder={src}", "--output_dir",
                         tmp_path / "out", "--image_size", "32")
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    text = json.dumps(manifest)
    assert "link_outside_input" in text
    rejected = [json.loads(line) for f in os.listdir(tmp_path / "out" / "_rejected")
                for line in open(tmp_path / "out" / "_rejected" / f) if line.strip()]
    assert {os.path.basename(r["path"]): r["reason"] for r in rejected} == {
        "more": "link_outside_input"}
