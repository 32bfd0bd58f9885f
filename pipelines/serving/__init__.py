"""What turns a model and a photo into a cut-out, shared by remove_background, evaluate and the
one-image tool (imports only pipelines.core and model): output modes and names (`outputs.py`),
the export's start-up check (`model_files.py`), the model and per-image steps (`inference.py`),
the guided refinement (`refine.py`), the confidence (`confidence.py`), and `cutout.py`, the
library-first one-image API (`load_model`, `remove_background_bytes`)."""
