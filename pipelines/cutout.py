"""`python -m pipelines.cutout IN OUT --model MODEL/export ...`: one image's background removed,
without Beam. The code and its runbook are `pipelines/serving/cutout.py` (in Python:
`from pipelines.serving import cutout`); this module is only the command, and importing it does
nothing.
"""
if __name__ == "__main__":
    import sys

    from model import console

    sys.argv[1:] = console.start(prog="cutout")  # quiet unless --verbose, before TensorFlow loads
    from pipelines.serving.cutout import main

    sys.exit(main())
