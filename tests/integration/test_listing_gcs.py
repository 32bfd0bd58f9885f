"""The fan-out listing on gs:// (the GCS emulator): the same URIs as one FileSystems.match, for
inputs and for DEST's existing outputs."""
import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.core import fileio
from pipelines.remove_background import config as rb_config, output_plan
from tests import cutout_support as cs

NAMES = ["a.jpg", "b.png", "sub/c.jpg", "sub/deeper/d.jpg", "sub/deeper/e/f/g.png",
         "x/y/z/w/v.jpg", "we[ird]/s*tar.jpg", "we[ird]/in/q.png", ".DS_Store", "sub/._c.jpg",
         "__MACOSX/sub/a.jpg", ".hidden/h.jpg", "out/old.png", "outer/kept.jpg", "folder/"]


@pytest.mark.parametrize("levels", [0, 2])
def test_fan_out_on_gcs_lists_the_same_uris_as_one_match(tmp_path, gcs_bucket, levels):
    root = f"{gcs_bucket}/in"
    for name in NAMES:
        fileio.write_bytes(f"{root}/{name}", b"x")
    fileio.write_bytes(f"{gcs_bucket}/in2/not_this.jpg", b"x")  # shares the prefix 'in'
    for spec in ("", "/*.jpg", "/**.png", "/s*/**", "/we[[]ird]/*"):
        kind, pattern, list_root = rb_config.resolve_input(root + spec)
        cfg = cs.job_config(tmp_path, source=root, input_kind=kind, pattern=pattern,
                            root=list_root, exclude_prefix=root + "/out/")
        uris, ignored, rejects = cs.fanned_out(cfg, levels)
        assert (uris, ignored) == cs.single_listing(pattern, list_root, root + "/out/"), spec
        assert uris and rejects == [] and not any("in2" in u for u in uris)


def test_dest_listing_on_gcs_gives_the_claims_of_one_listing(gcs_bucket):
    dest = f"{gcs_bucket}/out"
    for rel in ["a.png", "s/b.png", "s/t/c.png", "s/t/u/v/d.png", "_summary.json",
                "_rejected/rejected-00000-of-00001.jsonl", "s/_kept.png", "s/.tmp-photo.png"]:
        fileio.write_bytes(f"{dest}/{rel}", b"x")
    expected = cs.single_dest_listing(dest, folders_matter=False)
    assert ("s/t/c.png", ("have",)) in expected and ("s/.tmp-photo.png", ("have",)) in expected
    p = cs.local_test_pipeline()
    assert_that(p | output_plan.ExistingOutputs(dest) | beam.Distinct(), equal_to(expected))
    p.run().wait_until_finish()
    assert fileio.exists(f"{dest}/s/.tmp-photo.png")  # an output, never swept


def test_one_level_of_gcs_is_its_objects_and_its_folders(gcs_bucket):
    from pipelines.core import listing

    for name in ("top.jpg", "sub/a.jpg", "sub/deeper/b.jpg", "other/c.jpg"):
        fileio.write_bytes(f"{gcs_bucket}/in/{name}", b"x")
    events = sorted(listing.walk(listing.seed(f"{gcs_bucket}/in"), recursive=False))
    assert events == [("file", f"{gcs_bucket}/in/top.jpg"),
                      ("folder", (f"{gcs_bucket}/in/other/", ())),
                      ("folder", (f"{gcs_bucket}/in/sub/", ()))]
