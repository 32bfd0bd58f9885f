"""`cutout`: one command for every job (the console script setup.py installs).

    cutout preprocess --source p3m10k=P3M-10k.zip --output_dir OUT
    cutout train      --data_dir OUT --model_dir MODEL
    cutout remove     --input photos/ --output_dir cutouts/ --model MODEL/export
    cutout evaluate   --data_dir OUT --model MODEL/export --split test --report_dir R
    cutout one        photo.jpg photo.png --model MODEL/export
    cutout review     DEST [--below 0.5]
    cutout export     MODEL/export      (adds the fast CPU runtime's model to an older export)

Each subcommand runs the same `main` as `python -m pipelines.<job>`, with the same flags and help
(`cutout remove --help`). `--verbose` anywhere shows the native libraries' start-up notices,
which are filtered out by default (model/console.py). A console script never puts the current
folder first on sys.path, so a user's own `model/` folder there can't shadow the project.
"""
from __future__ import annotations

import difflib
import importlib
import sys
from importlib import metadata

from model import console

# subcommand -> (module, one line of help). Modules are imported only when their job runs.
COMMANDS = {
    "preprocess": ("pipelines.preprocess.job",
                   "raw dataset archives -> TFRecord shards + analysis"),
    "train": ("model.train", "shards -> a trained, exported model (MirroredStrategy)"),
    "remove": ("pipelines.remove_background.job", "a collection of images -> cut-outs (Beam)"),
    "evaluate": ("pipelines.evaluate.job",
                 "score a model, or any tool's masks, with the field's metrics"),
    "one": ("pipelines.serving.cutout", "one image's background removed, without Beam"),
    "export": ("model.add_openvino",
               "add the OpenVINO model (--runtime openvino) to an export made before it"),
    "review": ("pipelines.remove_background.review_page",
               "DEST's low-confidence cut-outs as a page: DEST/_review/index.html"),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: cutout COMMAND [flags]   (cutout COMMAND --help for its flags)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "--verbose shows the native libraries' start-up notices; --version the "
                  "installed version.",
              "Exit status: 0 done, 2 a usage mistake or a job that can't run, 130 Ctrl-C, "
              "143 SIGTERM."]
    return "\n".join(lines)


def version() -> str:
    """The installed distribution's version (setup.py), or 'unknown' when it is not installed
    (run from a source tree)."""
    try:
        return metadata.version("cutout")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"cutout {version()}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        guess = difflib.get_close_matches(command, list(COMMANDS), n=1)
        hint = f" (did you mean {guess[0]}?)" if guess else ""
        print(f"cutout: error: unknown command {command!r}{hint} (cutout --help lists them)",
              file=sys.stderr)
        return 2
    # Before the job's module loads TensorFlow and Beam:
    rest = console.start(rest, prog=f"cutout {command}")
    module = importlib.import_module(COMMANDS[command][0])
    status = module.main(rest, prog=f"cutout {command}")
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
