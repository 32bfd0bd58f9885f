"""Folder-mode evaluation with ground truth, predictions and the report all on gs:// (the GCS
emulator)."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from pipelines.core import fileio
from pipelines.evaluate import report as eval_report, job as evaluate
from pipelines.evaluate.contact_sheet import contact_sheet_size


def _png(arr, mode):
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


def test_folder_mode_on_gcs(gcs_bucket):
    box = np.zeros((20, 30), np.uint8)
    box[5:15, 5:25] = 255
    rgba = np.dstack([np.full((20, 30, 3), 100, np.uint8), box])
    gt, pred, report_dir = (f"{gcs_bucket}/gt", f"{gcs_bucket}/pred", f"{gcs_bucket}/report")
    fileio.write_bytes(f"{gt}/set/a.png", _png(box, "L"))
    fileio.write_bytes(f"{gt}/set/b.png", _png(box, "L"))
    fileio.write_bytes(f"{pred}/set/a.png", _png(rgba, "RGBA"))   # a cut-out: its alpha is used
    report = evaluate.run(["--pred_dir", pred, "--gt_dir", gt, "--report_dir", report_dir,
                           "--metrics", "iou,mae"])
    assert report["count"] == 1
    assert report["overall"] == {"iou": 1.0, "mae": 0.0}
    assert report["missing_predictions"] == ["set/b.png"]
    on_gcs = json.loads(fileio.read_bytes(f"{report_dir}/metrics.json"))
    assert on_gcs["count"] == 1
    names = {p.rsplit("/", 1)[-1] for p, _ in fileio.list_files(report_dir)}
    assert names == {"metrics.json", "per_image.csv", "contact_sheet.png",
                     "rejected-00000-of-00001.jsonl", "report.html", "worst-01-ground-truth.png",
                     "worst-01-prediction.png", "worst-01-errors.png"}  # the page (test_pages.py)
    lines = fileio.read_bytes(f"{report_dir}/_rejected/rejected-00000-of-00001.jsonl"
                              ).decode().splitlines()
    assert [json.loads(line)["reason"] for line in lines] == ["missing_prediction"]
    per_image = fileio.read_bytes(f"{report_dir}/per_image.csv").decode().splitlines()
    assert per_image == ["key,source,iou,mae", "set/a,set,1.0,0.0"]
    sheet = Image.open(io.BytesIO(fileio.read_bytes(f"{report_dir}/contact_sheet.png")))
    assert sheet.size == contact_sheet_size(1, 3, 128)
    assert on_gcs["contact_sheet_rows"] == [{"key": "set/a", "iou": 1.0}]


def test_model_mode_graph_builds_for_dataflow_offline(preprocessed, gcs_bucket, tmp_path):
    """--dry_run builds and pickles the model-mode job for Dataflow, submitting nothing."""
    import os

    from apache_beam.internal import pickler
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.portability import common_urns, python_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    from pipelines.core.options import job_view, make_pipeline
    from tests.cutout_support import export_brightness_model

    out, _ = preprocessed
    model_dir = export_brightness_model(str(tmp_path / "export"))
    setup_py = os.path.join(os.path.dirname(__file__), "..", "..", "setup.py")
    argv = ["--data_dir", str(out), "--model", model_dir, "--report_dir", f"{gcs_bucket}/report",
            "--runner", "DataflowRunner", "--dry_run=True", "--project", "cutout-test",
            "--region", "europe-west4", "--temp_location", f"{gcs_bucket}/tmp",
            "--setup_file", os.path.abspath(setup_py)]
    options = PipelineOptions(argv)
    config = evaluate.Config.from_options(job_view(options, evaluate.EvaluateOptions))
    pipeline = make_pipeline(options)
    evaluate.build(pipeline, config, evaluate.check_model_inputs(config))
    job = pipeline.run().job.proto_pipeline      # what Dataflow would be sent
    labels = {t.full_label for t in pipeline.transforms_stack[0].parts}
    assert {"Read", "Model", "Report"} <= labels
    # Every DoFn of the job unpickles (as a worker would) to a class of the project's modules or
    # Beam's, never __main__; the report's writer writes to the bucket the command was given.
    dofns = {}
    for transform in job.components.transforms.values():
        if transform.spec.urn == common_urns.primitives.PAR_DO.urn:
            payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload)
            if payload.do_fn.urn == python_urns.PICKLED_DOFN_INFO:
                dofns[transform.unique_name] = pickler.loads(payload.do_fn.payload)[0]
    modules = {type(fn).__module__.split(".")[0] for fn in dofns.values()}
    assert modules <= {"pipelines", "apache_beam"} and "pipelines" in modules
    [writer] = [fn for name, fn in dofns.items() if name == "Report/Write"]
    assert type(writer).__module__ == "pipelines.evaluate.report"
    report = eval_report.build_report(writer._config, {}, [], writer._context)
    assert report["mode"] == "model" and report["split"] == "test" and report["count"] == 0
    assert report["options"]["report_dir"] == f"{gcs_bucket}/report"
    assert report["options"]["data_dir"] == str(out) and report["model"] == model_dir
    assert report["resolution"] == "scored at the stored training resolution 48x48 (the " \
        "model's input is 32x32: images were resized to it and its masks back)"
    # The command itself refuses paths the workers can't reach...
    with pytest.raises(evaluate.JobError, match="can't reach the local path"):
        evaluate.run(argv)
    # ... and with everything on gs:// builds, runs nothing, writes nothing.
    from tests.cutout_support import upload_tree

    upload_tree(str(out), f"{gcs_bucket}/data")
    upload_tree(model_dir, f"{gcs_bucket}/export")
    remote = ["--data_dir", f"{gcs_bucket}/data", "--model", f"{gcs_bucket}/export"] + argv[4:]
    assert evaluate.run(remote) == {}
    assert fileio.list_files(f"{gcs_bucket}/report") == []
