"""Synthetic scenes with their exact alpha, in two styles:

- `shapes` (easy): shaded objects on drawn textures; the demo's and most tests' data.
- `people` (photo-like): person figures with wispy hair on real photographs, through a camera;
  the proxy for photos of people on which a training recipe is tuned.

Each style's renderer is `render(rng, height, width, camouflage=0.0, objects=None) -> (rgb uint8
HxWx3, alpha uint8 HxW, instance ids uint8 HxW)`; `objects=0` gives a background only.
"""
from pipelines.synthetic.scenes.people import render_people, render_people_scene
from pipelines.synthetic.scenes.shapes import render_objects, render_scene

STYLES = {"shapes": render_objects, "people": render_people}

__all__ = ["STYLES", "render_objects", "render_people", "render_people_scene", "render_scene"]
