"""Synthetic data for the tests and the demo (`python -m pipelines.synthetic`; runbook:
`datasets.py`). Not shipped to Dataflow workers: setup.py leaves `pipelines.synthetic*` out of the
package, and the jobs never import it.

- `datasets.py`: stand-ins for the published datasets (archives with their layouts and quirks)
  and the photo-like proxy; the command's `main`.
- `files.py`: writing those archives (zip, tar, tar.gz) and image files byte-identically.
- `scenes/`: the rendered scenes (shapes, people, photos) and their exact masks.
"""
