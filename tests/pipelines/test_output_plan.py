"""The output plan wired in a TestPipeline: collisions, skips and rejects."""
import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipelines.remove_background import output_plan
from tests import cutout_support as cs


def test_plan_outputs_finds_collisions_skips_and_bad_names(tmp_path):
    cfg = cs.job_config(tmp_path)
    root = cfg.root
    uris = [f"{root}/a.jpg", f"{root}/sub/b.jpg", f"{root}/sub/b.png", f"{root}/done.jpg",
            f"{root}/_hidden/x.jpg", f"{root}/../escape.jpg", f"{root}/c.webp"]
    existing = [("done.png", ("have",)), ("old.png", ("have",))]
    with cs.local_test_pipeline() as p:
        planned = ((p | "U" >> beam.Create(uris), p | "E" >> beam.Create(existing))
                   | output_plan.PlanOutputs(cfg))
        assert_that(planned["tasks"], equal_to([
            (f"{root}/a.jpg", (("cutout", "a.png"),)),
            (f"{root}/c.webp", (("cutout", "c.png"),))]), label="tasks")
        assert_that(planned["skipped"], equal_to([f"{root}/done.jpg"]), label="skipped")
        assert_that(planned["rejected"] | beam.Map(lambda r: (r["path"], r["reason"])),
                    equal_to([(f"{root}/sub/b.jpg", "output_name_collision"),
                              (f"{root}/sub/b.png", "output_name_collision"),
                              (f"{root}/_hidden/x.jpg", "reserved_output_name"),
                              (f"{root}/../escape.jpg", "unsafe_path")]), label="rejected")


def test_plan_outputs_both_mode_cross_kind_collision_and_partial_pair(tmp_path):
    """With --output both, `x.mask.jpg`'s cut-out and `x.jpg`'s mask share a name."""
    cfg = cs.job_config(tmp_path, output="both")
    root = cfg.root
    existing = [("p.png", ("have",))]  # p's cut-out exists, its mask doesn't
    with cs.local_test_pipeline() as p:
        planned = ((p | "U" >> beam.Create([f"{root}/x.jpg", f"{root}/x.mask.jpg",
                                             f"{root}/p.jpg"]),
                    p | "E" >> beam.Create(existing))
                   | output_plan.PlanOutputs(cfg))
        assert_that(planned["tasks"], equal_to([(f"{root}/p.jpg", (("mask", "p.mask.png"),))]),
                    label="tasks")
        assert_that(planned["rejected"] | beam.Map(lambda r: (r["path"], r["reason"])),
                    equal_to([(f"{root}/x.jpg", "output_name_collision"),
                              (f"{root}/x.mask.jpg", "output_name_collision")]), label="rej")
