"""remove_background's bookkeeping: the summary's counts."""
from pipelines.remove_background import bookkeeping as rb_bookkeeping


def test_summary_counts_add_up():
    fn = rb_bookkeeping.SummaryCounts()
    a = fn.create_accumulator()
    for outcome in [("written", 2), ("written", 1), ("skipped", 0), ("rejected", "b"),
                    ("rejected", "a"), ("rejected", "b"), ("ignored_os_files", 0),
                    ("below_review", 0)]:
        a = fn.add_input(a, outcome)
    merged = fn.extract_output(fn.merge_accumulators([a, fn.create_accumulator()]))
    assert merged == {"inputs": 6, "written": 2, "skipped": 1, "rejected": 3, "files_written": 3,
                      "rejected_by_reason": {"a": 1, "b": 2}, "ignored_os_files": 1,
                      "below_review": 1}
    assert fn.extract_output(fn.create_accumulator())["inputs"] == 0
