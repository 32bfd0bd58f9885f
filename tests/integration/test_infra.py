"""infra/ stays true to the project: versions agree, templates name real options, and the
submission scripts build their Dataflow jobs (dry run, no submission, no network)."""
import importlib
import json
import os
import re
import subprocess
import sys

import pytest

from tests.cutout_support import REPO_ROOT as ROOT

INFRA = os.path.join(ROOT, "infra")


def _pins():
    """setup.py's exact pins, read as text (importing it would run setuptools)."""
    text = open(os.path.join(ROOT, "setup.py")).read()
    return dict(re.findall(r'"([A-Za-z0-9_.\-]+)(?:\[[a-z,]+\])?==([^"]+)"', text))


def _dockerfile_args():
    text = open(os.path.join(INFRA, "dataflow", "Dockerfile")).read()
    return dict(re.findall(r"^ARG (\w+)=\"?([^\"\n]*)\"?$", text, re.M)), text


def test_dockerfile_setup_and_constraints_agree():
    pins = _pins()
    args, text = _dockerfile_args()
    assert args["BEAM_VERSION"] == pins["apache-beam"]
    assert args["TENSORFLOW_VERSION"] == pins["tensorflow"]
    assert "apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION}" in text
    assert args["PYTHON_VERSION"] == "%d.%d" % sys.version_info[:2]
    assert f"python{args['PYTHON_VERSION'].replace('.', '')}-template-launcher-base" in text
    constraints = dict(line.strip().split("==", 1) for line in open(
        os.path.join(ROOT, "constraints.txt")) if "==" in line)
    lower = {k.lower().replace("_", "-"): v for k, v in constraints.items()}
    for name, version in pins.items():
        assert lower.get(name.lower()) == version, f"{name}: setup.py {version}, " \
            f"constraints.txt {lower.get(name.lower())}"


def _option_names(module_name):
    module = importlib.import_module(module_name)
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.core.options import SharedJobOptions, option_names

    names = set(option_names(SharedJobOptions))
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, PipelineOptions) \
                and value is not PipelineOptions and value.__module__ == module_name:
            import argparse

            parser = argparse.ArgumentParser()
            value._add_argparse_args(parser)
            names |= {a.dest for a in parser._actions}
    return names


@pytest.mark.parametrize("job", ["preprocess", "remove_background", "evaluate"])
def test_flex_template_parameters_are_real_options(job):
    spec = json.load(open(os.path.join(INFRA, "dataflow", "templates", f"{job}.metadata.json")))
    options = _option_names(f"pipelines.{job}.config")
    assert options, job
    for param in spec["parameters"]:
        assert param["name"] in options, f"{job}: template parameter {param['name']} unknown"
    required = [p["name"] for p in spec["parameters"] if not p["isOptional"]]
    assert required, job


# The scripts the READMEs tell users to run (and env.sh, which they source).
SCRIPTS = ["dataflow/build_templates.sh", "dataflow/env.sh", "dataflow/submit_evaluate.sh",
           "dataflow/submit_preprocess.sh", "dataflow/submit_remove_background.sh",
           "training/tf_config_example.sh", "training/train_one_machine.sh"]


def test_scripts_parse():
    found = sorted(f"{folder}/{name}" for folder in ("dataflow", "training")
                   for name in os.listdir(os.path.join(INFRA, folder)) if name.endswith(".sh"))
    assert set(SCRIPTS) <= set(found), f"documented scripts missing: {set(SCRIPTS) - set(found)}"
    for script in found:
        result = subprocess.run(["bash", "-n", os.path.join(INFRA, script)],
                                capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_submit_preprocess_dry_run(synthetic_raw, gcs_bucket):
    """The exact submission command builds the Dataflow job (DRY_RUN=1: nothing is submitted)."""
    from pipelines.core import fileio

    raw, _ = synthetic_raw
    with open(raw / "P3M-10k.zip", "rb") as f:
        fileio.write_bytes(f"{gcs_bucket}/raw/P3M-10k.zip", f.read())
    env = dict(os.environ, PROJECT="cutout-test", BUCKET=gcs_bucket, DRY_RUN="1",
               PYTHON=sys.executable, OUT=f"{gcs_bucket}/dry_out")
    result = subprocess.run(
        ["bash", os.path.join(INFRA, "dataflow", "submit_preprocess.sh"),
         f"p3m10k={gcs_bucket}/raw/P3M-10k.zip"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert fileio.list_files(f"{gcs_bucket}/dry_out") == []
