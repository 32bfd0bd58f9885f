"""Layout classification, root finding at any depth, splits, and source specs."""
import pytest

from model.errors import JobError
from pipelines.core import safe_files
from pipelines.core.rejects import JobError
from pipelines.preprocess import config, sources


@pytest.mark.parametrize("name,kind,group,split,relpath", [
    ("P3M-10k/train/blurred_image/p_1.jpg", "image", "train", "train",
     "train/blurred_image/p_1.jpg"),
    ("deep/er/P3M-10k/train/mask/p_1.png", "mask", "train", "train", "train/mask/p_1.png"),
    ("P3M-10k/validation/P3M-500-P/blurred_image/p_2.jpg", "image", "validation/P3M-500-P", "val",
     "validation/P3M-500-P/blurred_image/p_2.jpg"),
    ("P3M-10k/validation/P3M-500-NP/original_image/p_3.jpg", "image", "validation/P3M-500-NP",
     "test", "validation/P3M-500-NP/original_image/p_3.jpg"),
    ("P3M-10k/validation/P3M-500-NP/mask/p_3.png", "mask", "validation/P3M-500-NP", "test",
     "validation/P3M-500-NP/mask/p_3.png"),
    ("old/validation2/original_image/p_4.jpg", "image", "validation2", "test",
     "validation2/original_image/p_4.jpg"),
])
def test_p3m_layout(name, kind, group, split, relpath):
    role = sources.P3M10K().classify(name)
    assert (role.kind, role.group, role.split, role.relpath) == (kind, group, split, relpath)


def test_p3m_ignores_trimaps_and_cod_ignores_edges():
    assert sources.P3M10K().classify("P3M-10k/validation/P3M-500-P/trimap/p_2.png") is None
    assert sources.COD10K().classify("COD10K-v3/Train/GT_Edge/x.png") is None
    role = sources.COD10K().classify("COD10K-v3/Test/GT_Object/x.png")
    assert (role.kind, role.split, role.group) == ("mask", "test", "Test")


def test_cod_noncam_skipped_unless_kept():
    role = sources.COD10K().classify("COD10K-v3/Train/Image/COD10K-NonCAM-5-Background-1-Sky-3.jpg")
    assert sources.COD10K().skip_reason(role) == "noncam"
    kept = sources.COD10K(keep_noncam=True)
    assert kept.skip_reason(role) is None and kept.empty_mask_allowed(role)


def test_people_split_lists_and_hash_fallback():
    layout = sources.PeopleSegmentation()
    lst = layout.classify("people_segmentation/segmentation/val.txt")
    assert lst.kind == "split_list" and lst.stem == "val" and lst.root == "people_segmentation"
    role = layout.classify("people_segmentation/images/a.jpg")
    assert layout.split_for(role, "people_seg/images/a.jpg", {"a": "val"}, 0.1, 0.1) == "val"
    unlisted = layout.split_for(role, "people_seg/images/a.jpg", {}, 0.1, 0.1)
    assert unlisted == sources.hash_split("people_seg/images/a.jpg", 0.1, 0.1)


def test_split_list_entries_are_stems_or_file_names():
    listed = sources.read_split_list(b"a\r\nimages/b.jpg\n  c.d.png \n\nsub/e\n", "val")
    assert listed == {"a": "val", "b": "val", "c.d": "val", "e": "val"}


def test_hash_split_is_stable_and_near_its_fractions():
    keys = [f"folder/images/{i}.jpg" for i in range(4000)]
    splits = [sources.hash_split(k, 0.1, 0.2) for k in keys]
    assert splits == [sources.hash_split(k, 0.1, 0.2) for k in keys]
    assert abs(splits.count("test") / 4000 - 0.2) < 0.03
    assert abs(splits.count("val") / 4000 - 0.1) < 0.03


def test_junk():
    assert safe_files.is_junk("__MACOSX/P3M-10k/train/mask/._p.png")
    assert safe_files.is_junk("people/images/.DS_Store")
    assert safe_files.is_junk("x/._p.jpg")
    assert not safe_files.is_junk("P3M-10k/train/mask/p.png")


def test_parse_source():
    spec = config.parse_source("folder:mine=gs://b/x/")
    assert (spec.kind, spec.name, spec.path) == ("folder", "mine", "gs://b/x")
    assert config.parse_source("p3m10k=/d/P3M.zip").name == "p3m10k"
    for bad in ("p3m10k", "nope=/x", "p3m10k:n=/x", "folder:a/b=/x", "cod10k="):
        with pytest.raises(JobError):
            config.parse_source(bad)


def test_folder_sources_with_several_roots_keep_distinct_keys():
    layout = sources.ImageMaskFolder()
    train = layout.classify("train/images/0001.jpg")
    val = layout.classify("val/images/0001.jpg")
    assert train.relpath == "train/images/0001.jpg" and val.relpath == "val/images/0001.jpg"
    assert layout.classify("images/0001.jpg").relpath == "images/0001.jpg"
    assert sources.P3M10K().is_auxiliary("P3M-10k/validation/P3M-500-P/trimap/p.png")
    assert not sources.P3M10K().is_auxiliary("P3M-10k/train/mask/p.png")
