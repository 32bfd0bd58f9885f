"""Each pipeline on a second real runner (Beam's PortableRunner with an embedded job service and
LOOPBACK workers: no downloads) gives the same outputs as on the local runner."""
import json
import re

from tests.cutout_support import read_examples, read_rejects

PORTABLE = ["--runner", "PortableRunner", "--job_endpoint", "embed",
            "--environment_type", "LOOPBACK"]


def test_preprocess_same_outputs_on_portable_runner(synthetic_raw, preprocessed, tmp_path):
    from pipelines.preprocess import job as preprocess
    from tests.cutout_support import preprocess_args

    raw, _ = synthetic_raw
    out, manifest = preprocessed
    portable_manifest = preprocess.run(preprocess_args(raw, tmp_path / "out") + PORTABLE)
    for field in ("counts", "totals", "rejected", "skipped", "quirks", "ignored_files"):
        assert portable_manifest[field] == manifest[field], field
    ours = {k: (s, ex["image"], ex["mask"]) for k, (s, ex) in read_examples(out).items()}
    theirs = {k: (s, ex["image"], ex["mask"])
              for k, (s, ex) in read_examples(tmp_path / "out").items()}
    assert ours == theirs
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert sorted(map(key, read_rejects(out))) == sorted(map(key, read_rejects(tmp_path / "out")))


def test_evaluate_same_report_on_portable_runner(preprocessed, tmp_path):
    from pipelines.evaluate import job as evaluate
    from tests.cutout_support import export_brightness_model

    out, _ = preprocessed
    model_dir = export_brightness_model(str(tmp_path / "export"))
    common = ["--data_dir", str(out), "--model", model_dir, "--split", "val",
              "--metrics", "iou,mae,s_measure"]
    local = evaluate.run(common + ["--report_dir", str(tmp_path / "local")])
    portable = evaluate.run(common + ["--report_dir", str(tmp_path / "portable")] + PORTABLE)
    for field in ("overall", "per_source", "count", "baselines", "rejected_counts"):
        assert portable[field] == local[field], field
    assert (tmp_path / "local" / "per_image.csv").read_text() == \
        (tmp_path / "portable" / "per_image.csv").read_text()
    assert (tmp_path / "local" / "contact_sheet.png").read_bytes() == \
        (tmp_path / "portable" / "contact_sheet.png").read_bytes()


def test_remove_background_same_outputs_on_portable_runner(tmp_path):
    from PIL import Image

    from pipelines.remove_background import job as remove_background
    from tests import cutout_support as cs

    model_dir = cs.export_brightness_model(str(tmp_path / "export"))
    src = tmp_path / "in" / "sub"
    src.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(cs.scene(64 + 8 * i, 48)).save(src / f"p{i}.jpg", quality=95)
    (src / "broken.jpg").write_bytes(b"not an image")
    results = {}
    for name, extra in (("local", []), ("portable", PORTABLE)):
        dest = tmp_path / name
        results[name] = remove_background.run(
            ["--input", str(tmp_path / "in"), "--output_dir", str(dest), "--model", model_dir,
             "--output", "both", "--review_below", "0.99"] + extra)
    counts = ("inputs", "written", "skipped", "rejected", "files_written", "rejected_by_reason",
              "ignored_os_files")
    for field in counts:
        assert results["local"][field] == results["portable"][field], field
    assert results["local"]["written"] == 4 and results["local"]["rejected"] == 1
    assert results["local"]["rejected_by_reason"] == {"not_an_image": 1}
    # Every output byte-identical; the bookkeeping differs only by the destination's name, and
    # by the run's name (its start time) in the summaries and in the index's, review list's and
    # summaries' file names.
    files = {name: {re.sub(r"^(_index|_review)/[0-9TZ]+-[0-9a-f]+-", r"\1/RUN-",
                           p.relative_to(tmp_path / name).as_posix()
                           ).replace(results[name]["run"], "RUN"):
                    p.read_bytes().replace(str(tmp_path / name).encode(), b"DEST")
                    .replace(results[name]["run"].encode(), b"RUN")
                    for p in (tmp_path / name).rglob("*") if p.is_file()}
             for name in ("local", "portable")}
    assert files["local"] == files["portable"]
    assert "sub/p0.png" in files["local"] and "sub/p0.mask.png" in files["local"]
    index = [json.loads(line) for line in
             files["local"]["_index/RUN-00000-of-00001.jsonl"].decode().splitlines()]
    assert sorted(r["outputs"][0] for r in index) == [f"sub/p{i}.mask.png" for i in range(4)]
    assert all(0 <= r["confidence"] <= 1 and r["height"] == 48 for r in index)
    assert "_review/RUN-00000-of-00001.jsonl" in files["local"]
