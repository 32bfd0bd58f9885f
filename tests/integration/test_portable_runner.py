"""Each pipeline on a second real runner (Beam's PortableRunner with an embedded job service and
LOOPBACK workers: no downloads) gives the same outputs as on the local runner."""
import json

from tests.pipelines.test_preprocess import read_examples, read_rejects

PORTABLE = ["--runner", "PortableRunner", "--job_endpoint", "embed",
            "--environment_type", "LOOPBACK"]


def test_preprocess_same_outputs_on_portable_runner(synthetic_raw, preprocessed, tmp_path):
    from pipelines import preprocess
    from tests.conftest import preprocess_args

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
    from pipelines import evaluate
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
