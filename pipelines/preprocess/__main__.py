"""`python -m pipelines.preprocess`: the runbook is the package's docstring."""
import sys

from model import console

# Quiet unless --verbose, before TensorFlow and Beam load:
sys.argv[1:] = console.start(prog="preprocess")

from pipelines.preprocess.job import main  # noqa: E402  (after console.start)

sys.exit(main())
