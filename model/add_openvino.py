"""`cutout export MODEL/export`: adds the fast CPU runtime's artefact to an existing export.

Runbook
-------
    cutout export MODEL/export          # or: python -m model.add_openvino MODEL/export

adds (or replaces) `MODEL/export/openvino/{model.xml,model.bin}` (model/openvino_export.py) for
an export made before the export wrote it (`model.export.export_model` converts at export time).
Exit status 2 with one line when MODEL/export is not an export. Takes a few seconds (TensorFlow
loads the SavedModel).
"""
from __future__ import annotations

import sys
from typing import Optional

from model import export, openvino_export
from model.errors import JobError, run_cli
from model.flags import StrictParser


def add_openvino(export_dir: str) -> dict:
    """For an existing MODEL/export: converts its SavedModel's serve_resized and records the
    artefact in its cutout_export.json; returns the entry. Raises JobError when export_dir is
    not a loadable export."""
    import tensorflow as tf

    meta_path = export_dir.rstrip("/") + "/" + export.METADATA_FILE
    if not tf.io.gfile.exists(meta_path):
        raise JobError(f"{export_dir} is not a model export (no {export.METADATA_FILE})")
    metadata = export.read_metadata(export_dir)
    try:
        loaded, _, resized = export.load_export(export_dir)
    except Exception as e:  # TensorFlow's errors for a damaged SavedModel are many and long
        raise JobError(f"{export_dir}: its SavedModel can't be loaded ({type(e).__name__}): "
                         f"export the model again") from None
    metadata[openvino_export.METADATA_KEY] = openvino_export.write_openvino(resized, export_dir)
    del loaded  # held until here: the signature reads the variables it owns
    export.write_metadata(export_dir, metadata)
    return metadata[openvino_export.METADATA_KEY]



def main(argv: Optional[list] = None, prog: str = "cutout export") -> int:
    """`cutout export MODEL/export`: exit 0 written, 2 with one line when it can't be done."""
    parser = StrictParser(
        prog=prog, description="Add the OpenVINO model (the fast CPU runtime's "
        "artefact) to an existing MODEL/export, from its SavedModel's weights.")
    parser.add_argument("export_dir", help="MODEL/export (local or gs://)")
    args = parser.parse_args(argv)

    def said(entry: dict) -> None:
        sizes = ", ".join(f"{name} {d['bytes']} bytes" for name, d in entry["files"].items())
        print(f"wrote {args.export_dir.rstrip('/')}/{openvino_export.OPENVINO_SUBDIR}/ ({sizes}; OpenVINO "
              f"{entry['openvino_version']})")

    return run_cli(prog, lambda: add_openvino(args.export_dir), said)


if __name__ == "__main__":
    sys.exit(main())
