"""`python -m pipelines.remove_background`: the runbook is the package's docstring."""
import sys

from model import console

# Quiet unless --verbose, before TensorFlow and Beam load:
sys.argv[1:] = console.start(prog="remove_background")

from pipelines.remove_background.job import main  # noqa: E402  (after console.start)

sys.exit(main())
