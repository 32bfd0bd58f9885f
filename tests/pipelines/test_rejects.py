"""The one failure vocabulary: records, reasons, and the sharded writer."""
import json
import os

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.core import reject_io, rejects


def test_record_and_rejected_refuse_unknown_reasons():
    assert rejects.record("s", "p", "no_mask", "d") == {
        "source": "s", "path": "p", "reason": "no_mask", "detail": "d"}
    with pytest.raises(KeyError, match="unknown reject reason"):
        rejects.record("s", "p", "made_up")
    with pytest.raises(KeyError, match="unknown reject reason"):
        rejects.Rejected("made_up")


def test_from_exception_keeps_a_rejected_reason_and_names_any_other_error():
    kept = rejects.from_exception("s", "p", rejects.Rejected("undecodable", "truncated"),
                                  "read_failed")
    assert (kept["reason"], kept["detail"]) == ("undecodable", "truncated")
    other = rejects.from_exception("s", "p", OSError("disk"), "read_failed")
    assert (other["reason"], other["detail"]) == ("read_failed", "OSError: disk")


def test_json_line_keeps_undecodable_names_readable():
    name = os.fsdecode(b"caf\xe9.jpg")  # a surrogate escape, as os.listdir returns it
    line = rejects.json_line(rejects.record("s", name, "unencodable_name"))
    assert json.loads(line)["path"] == "caf\\xe9.jpg"
    line.encode("utf-8")  # would raise on a raw surrogate


def _write(records, folder, shards):
    # FnApiRunner: local and offline (the DirectRunner would try to fetch Prism first).
    with TestPipeline(runner=fn_runner.FnApiRunner()) as p:
        _ = p | beam.Create(records) | reject_io.WriteRejects(str(folder), shards)


def _read(folder):
    lines = []
    for name in sorted(os.listdir(folder)):
        with open(folder / name) as f:
            lines += f.read().splitlines()
    return sorted(lines)


@pytest.mark.parametrize("shards", [1, 3, 8])
def test_sharded_writer_writes_every_record_once_in_any_number_of_shards(tmp_path, shards):
    records = [rejects.record("s", f"img{i}.jpg", "undecodable", str(i)) for i in range(50)]
    folder = tmp_path / "rejected"
    _write(records, folder, shards)
    assert sorted(os.listdir(folder)) == [rejects.shard_name("rejected", i, shards)
                                          for i in range(shards)]
    assert _read(folder) == sorted(rejects.json_line(r) for r in records)


def test_sharded_writer_replaces_an_earlier_run_even_with_another_shard_count(tmp_path):
    folder = tmp_path / "rejected"
    _write([rejects.record("s", f"old{i}", "no_mask") for i in range(9)], folder, 4)
    new = [rejects.record("s", "new", "no_mask")]
    _write(new, folder, 2)
    assert sorted(os.listdir(folder)) == [rejects.shard_name("rejected", i, 2) for i in range(2)]
    assert _read(folder) == [rejects.json_line(new[0])]
