"""remove_background's options."""
import pytest


@pytest.mark.parametrize("first", ["remove_background", "other"])
def test_options_coexist_with_the_other_jobs_options(first):
    """The jobs share flag names (--output_dir, --model, --max_pixels, --inference_threads);
    Beam parses every options class loaded in a process with one parser, which must not fail."""
    import importlib
    import subprocess
    import sys

    others = [m for m in ("pipelines.preprocess.config", "pipelines.evaluate.config")
              if importlib.util.find_spec(m) is not None]
    order = (["pipelines.remove_background.config"] + others if first == "remove_background"
             else others + ["pipelines.remove_background.config"])
    code = (
        "import importlib, sys\n"
        f"for m in {order!r}: importlib.import_module(m)\n"
        "from apache_beam.options.pipeline_options import PipelineOptions\n"
        "from pipelines.core.options import job_view\n"
        "from pipelines.remove_background.config import RemoveBackgroundOptions\n"
        "o = PipelineOptions(['--input', 'x', '--output_dir', 'd', '--model', 'm',"
        " '--max_pixels', '7'])\n"
        "o.get_all_options()\n"
        "v = job_view(o, RemoveBackgroundOptions)\n"
        "assert (v.output_dir, v.model, v.max_pixels, v.inference_threads) == ('d', 'm', 7, 0)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
