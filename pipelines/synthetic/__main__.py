"""`python -m pipelines.synthetic`: the runbook is `pipelines/synthetic/datasets.py`'s docstring."""
from model import console
from pipelines.synthetic.datasets import main

main(console.start())  # no TensorFlow or Beam here: only --verbose to strip
