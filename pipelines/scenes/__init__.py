"""Synthetic scenes with their exact alpha: `shapes` (easy: shaded objects on textures, the demo's)
and `people` (photo-like: person silhouettes on real photographs, for tuning a recipe that must
transfer to photos of people)."""
from pipelines.scenes.shapes import render_objects, render_scene

__all__ = ["render_objects", "render_scene"]
