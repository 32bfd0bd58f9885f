"""bench/scale_plan.py and bench/streamed_runner.py: the streamed hand-offs keep every element,
and the bench runs end to end.

The memory figures themselves are the bench's to measure (README, Scale); here: the runner it
patches still delivers exactly the elements of a GroupByKey, cut into many messages, and the
bench's own jobs (remove_background --plan_only and the floor) count every input at two sizes.
"""
import json
import os
import re
import subprocess
import sys

from tests.cutout_support import REPO_ROOT

BENCH = os.path.join(REPO_ROOT, "bench", "scale_plan.py")

STREAMED_GROUP_BY_KEY = """
import json, sys
sys.path.insert(0, {bench_dir!r})
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
import streamed_runner

streamed_runner.stream_handoffs(piece_bytes=64)
options = PipelineOptions(["--direct_running_mode", "multi_processing",
                           "--direct_num_workers", "2"])
with beam.Pipeline(options=options) as p:
    _ = (p | beam.Create(range(3000)) | beam.Map(lambda i: (i % 301, i)) | beam.GroupByKey()
         | beam.Map(lambda kv: (kv[0], sorted(kv[1]))) | beam.combiners.ToList()
         | beam.Map(lambda rows: open({out!r}, "w").write(json.dumps(sorted(rows)))))
print("messages", streamed_runner.MESSAGES_SENT[0])
"""


def test_streamed_handoffs_deliver_every_element_in_many_messages(tmp_path):
    out = str(tmp_path / "groups.json")
    code = STREAMED_GROUP_BY_KEY.format(bench_dir=os.path.dirname(BENCH), out=out)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    groups = json.load(open(out))
    assert groups == [[k, list(range(k, 3000, 301))] for k in range(301)]
    messages = int(re.search(r"messages (\d+)", proc.stdout).group(1))
    assert messages > 50  # 301 groups of ~10 values in 64-byte pieces, not one per bundle


def test_bench_counts_every_input_and_reports_growth(tmp_path):
    proc = subprocess.run(
        [sys.executable, BENCH, "--sizes", "1000,10000", "--stages", "plan,floor",
         "--workdir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    for n in ("1,000", "10,000"):
        for job in ("plan", "floor"):
            assert any(line.startswith(f"| {n} | {job} |") for line in lines), (n, job)
    growth = re.fullmatch(r"rss growth per 10x: (\d+\.\d\d)", lines[-1])
    assert growth and 0.5 < float(growth.group(1)) < 10, lines[-1]
    assert lines[-3].startswith("plan: largest worker's rss growth per 10x: ")
