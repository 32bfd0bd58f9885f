"""The layer below every job (imports nothing else from pipelines/): options and the runner
(`options.py`), files local and gs:// alike (`fileio.py`), the hostile-filesystem checks
(`safe_files.py`), the reject vocabulary (`rejects.py`, no Beam) and its writers (`reject_io.py`),
the fan-out listing (`listing.py`), progress lines (`progress.py`), image steps (`imaging.py`) and
gzip TFRecord shards (`tfrecord.py`)."""
