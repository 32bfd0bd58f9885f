"""remove_background's bookkeeping wired in a TestPipeline: counters, summary and reject lines
agree."""
import glob
import json
import os

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter

from pipelines.core import reject_io, rejects
from pipelines.remove_background import bookkeeping as rb_bookkeeping, job as remove_background
from pipelines.core.rejects import record
from tests import cutout_support as cs


def test_bookkeeping_counts_equal_reject_lines(tmp_path):
    cfg = cs.job_config(tmp_path)
    rejects = [record("test", f"/in/{i}.jpg", "not_an_image")
               for i in range(3)]
    p = cs.local_test_pipeline()
    _ = ({"written": p | "W" >> beam.Create([("/in/a.jpg", 2)]),
          "skipped": p | "S" >> beam.Create(["/in/b.jpg"]),
          "rejected": p | "R" >> beam.Create(rejects),
          "ignored": p | "I" >> beam.Create(["/in/.DS_Store"])}
         | rb_bookkeeping.WriteBookkeeping(cfg))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_namespace(rb_bookkeeping.NAMESPACE))["counters"]}
    assert counters == {"written": 1, "skipped": 1, "rejected": 3, "files_written": 2,
                        "ignored_os_files": 1}
    summary = json.load(open(os.path.join(cfg.dest, "_summary.json")))
    assert (summary["inputs"], summary["written"], summary["skipped"], summary["rejected"],
            summary["files_written"], summary["ignored_os_files"]) == (5, 1, 1, 3, 2, 1)
    lines = [line for path in glob.glob(os.path.join(cfg.dest, "_rejected", "*.jsonl"))
             for line in open(path).read().splitlines()]
    assert len(lines) == summary["rejected"] == summary["rejected_by_reason"]["not_an_image"]
    assert all(set(json.loads(x)) == {"source", "path", "reason", "detail"} for x in lines)


def _todays_rejects_file(records) -> list:
    """The single file written before the shards: sorted by path, reason, detail."""
    records = sorted(records, key=lambda r: (r["path"], r["reason"], r["detail"]))
    return [json.dumps(r, sort_keys=True) for r in records]


@pytest.mark.parametrize("shards,per_shard", [(1, None), (4, None), (None, 7), (None, 1000)])
def test_sharded_rejects_hold_todays_records(tmp_path, shards, per_shard):
    records = [record("s", f"/in/{i % 13}/{i}.jpg",
                                            ("not_an_image", "undecodable")[i % 2], str(i))
               for i in range(40)]
    folder = tmp_path / "_rejected"
    kw = {"lines_per_shard": per_shard} if per_shard else {}
    p = cs.local_test_pipeline()
    _ = p | beam.Create(records) | reject_io.WriteRejects(str(folder), shards, **kw)
    p.run().wait_until_finish()
    names = sorted(os.listdir(folder))
    expected_count = shards or -(-len(records) // per_shard)
    assert names == [rejects.shard_name("rejected", i, expected_count)
                     for i in range(expected_count)]
    lines = [line for name in names for line in open(folder / name).read().splitlines()]
    assert sorted(lines) == sorted(_todays_rejects_file(records))


def test_plan_only_counts_the_plan_without_a_model(tmp_path):
    src, dest = tmp_path / "in", tmp_path / "out"
    for rel in ("a.jpg", "sub/b.png", "x.jpg", "x.png", "done.jpg", ".DS_Store"):
        cs.write(src / rel, b"not even an image: the plan reads none")
    cs.write(dest / "done.png", b"an output of an earlier run")
    os.mkfifo(src / "pipe.jpg")
    summary = remove_background.run(["--input", str(src), "--output_dir", str(dest),
                                     "--output", "both", "--plan_only"])
    # done.jpg's cut-out exists, its mask does not: planned for the mask alone.
    assert (summary["planned"], summary["files_planned"], summary["skipped"],
            summary["written"], summary["ignored_os_files"]) == (3, 5, 0, 0, 1)
    assert summary["rejected_by_reason"] == {"not_a_regular_file": 1, "output_name_collision": 2}
    assert summary["inputs"] == 6 and summary["options"]["plan_only"] is True
    assert sorted(os.listdir(dest)) == ["_rejected", "_summary", "_summary.json", "done.png"]
