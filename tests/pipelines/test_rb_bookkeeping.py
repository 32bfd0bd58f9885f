"""remove_background's bookkeeping wired in a TestPipeline: counters, summary and reject lines
agree."""
import glob
import json
import os

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from pipelines import rb_bookkeeping
from tests import cutout_support as cs


def test_bookkeeping_counts_equal_reject_lines(tmp_path):
    cfg = cs.job_config(tmp_path)
    rejects = [rb_bookkeeping.reject_record("test", f"/in/{i}.jpg", "not_an_image")
               for i in range(3)]
    p = cs.local_test_pipeline()
    _ = ((p | "W" >> beam.Create([("/in/a.jpg", 2)]), p | "S" >> beam.Create(["/in/b.jpg"]),
          p | "R" >> beam.Create(rejects), p | "I" >> beam.Create(["/in/.DS_Store"]))
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
