"""The one wording of each common user mistake, whichever command meets it.

Every command says the same thing, with the fix, for the same mistake (each message is a
JobError's text: one line on stderr, exit status 2, model/errors.py):
- a model path given as MODEL instead of MODEL/export: "did you mean MODEL/export?";
- an input that does not exist;
- a folder that is not a `cutout preprocess` output (train, evaluate's --data_dir);
- an output that is the input (links resolved).
Commands are named as users type them (`cutout preprocess`), never as module names.
Kept free of imports: the model side and the pipelines both use it.
"""
from __future__ import annotations

EXPORT_SUBDIR = "export"  # model.export.EXPORT_SUBDIR (this module imports nothing)


def not_a_model_export(path: str, has_export_inside: bool, detail: str = "") -> str:
    """`path` holds no model export. `has_export_inside`: `path/export` is one (the common
    mistake: the training folder given for its export)."""
    where = path.rstrip("/")
    if has_export_inside:
        return (f"{path} is a training folder, not a model export: did you mean "
                f"{where}/{EXPORT_SUBDIR}? (give --model {where}/{EXPORT_SUBDIR})")
    tail = f" ({detail})" if detail else ""
    return (f"no model export at {path}{tail}: give the export folder `cutout train` wrote, "
            f"MODEL/{EXPORT_SUBDIR}")


def missing_input(what: str, path: str) -> str:
    """`what`: the flag or role (`--input`, `input`, `--gt_dir`)."""
    return f"{what} {path} does not exist: check the path"


def not_preprocess_output(what: str, path: str, missing: str = "manifest.json") -> str:
    """A folder given where `cutout preprocess`'s OUT is expected."""
    return (f"{what} {path} is not a `cutout preprocess` output (no {missing}): give the "
            f"--output_dir of a finished `cutout preprocess` run, or make one with "
            f"`cutout preprocess --source KIND=PATH --output_dir {path}`")


def output_is_input(output: str, input_: str, flag: str = "the output") -> str:
    return (f"{flag} {output} is the input {input_} (links resolved): outputs would overwrite "
            f"inputs; give another {'path' if flag == 'the output' else flag}")
