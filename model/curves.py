"""`training_curves.png`: loss and IoU per epoch from metrics.csv rows, drawn with Pillow only
(no matplotlib in the dependencies)."""
from __future__ import annotations

import math

from model import checkpoints

def draw_training_curves(rows: list[dict], path: str) -> None:
    """Two panels, loss and IoU per epoch (train solid-ish, val bright), written as a PNG."""
    from PIL import Image, ImageDraw

    # (title, series, legend at the top?): loss falls, IoU rises; keep the legend off the lines.
    panels = (("loss", ("loss", "val_loss"), True), ("IoU @ 0.5", ("iou", "val_iou"), False))
    width, height, margin = 420, 300, 46
    colours = {0: (90, 110, 200), 1: (230, 120, 30)}
    canvas = Image.new("RGB", (width * len(panels), height), "white")
    draw = ImageDraw.Draw(canvas)
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for p, (title, keys, legend_top) in enumerate(panels):
        x0 = p * width + margin
        x1, y0, y1 = (p + 1) * width - 14, 26, height - 30
        series = [[float(r[k]) for r in rows if r.get(k) not in (None, "")] for k in keys]
        values = [v for s in series for v in s if math.isfinite(v)]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        draw.rectangle([x0, y0, x1, y1], outline=(0, 0, 0))
        draw.text((x0, 6), title, fill=(0, 0, 0))
        draw.text((x0 - 42, y0 - 5), f"{hi:.3g}", fill=(0, 0, 0))
        draw.text((x0 - 42, y1 - 8), f"{lo:.3g}", fill=(0, 0, 0))
        if epochs:
            draw.text((x0, y1 + 6), str(epochs[0]), fill=(0, 0, 0))
            draw.text((x1 - 18, y1 + 6), f"{epochs[-1]}", fill=(0, 0, 0))
            draw.text(((x0 + x1) // 2 - 14, y1 + 6), "epoch", fill=(0, 0, 0))
        span = max(1, (epochs[-1] - epochs[0]) if epochs else 1)
        for i, (key, values_k) in enumerate(zip(keys, series)):
            pts = [(x0 + (e - epochs[0]) / span * (x1 - x0),
                    y1 - (v - lo) / (hi - lo) * (y1 - y0))
                   for e, v in zip(epochs, values_k) if math.isfinite(v)]
            if len(pts) > 1:
                draw.line(pts, fill=colours[i], width=2)
            for x, y in pts:
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colours[i])
            legend_y = y0 + 6 if legend_top else y1 - 30
            draw.text((x1 - 70, legend_y + 12 * i), key, fill=colours[i])
    with checkpoints.gfile().GFile(path, "wb") as f:
        canvas.save(f, "PNG")
