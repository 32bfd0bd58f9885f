"""Evaluate's contact sheet: the worst images first, one row each, so a reader sees what the
numbers mean. Pure PIL/numpy.

Model mode shows image, ground truth, prediction and the cut-out on a checkerboard; folder mode
(which has no images) shows ground truth, prediction and the errors (red: missed foreground,
blue: false foreground). Each row's caption holds the key and its IoU.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipelines.core import imaging

SHEET_PAD = 6
SHEET_TITLE_H = 16
SHEET_CAPTION_H = 14
MODEL_COLUMNS = ("image", "ground truth", "prediction", "cut-out")
FOLDER_COLUMNS = ("ground truth", "prediction", "errors (red: missed, blue: extra)")


class Thumbs(NamedTuple):
    """Small copies for the contact sheet (at most `cell` on a side)."""
    image: Optional[np.ndarray]   # uint8 RGB, None in folder mode
    gt: np.ndarray                # uint8 grey
    pred: np.ndarray              # uint8 grey


def _to_u8(alpha: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(alpha, np.float32) * 255.0), 0, 255).astype(np.uint8)


def _thumb(arr: np.ndarray, cell: int) -> np.ndarray:
    img = Image.fromarray(arr)
    if max(img.size) > cell:
        img.thumbnail((cell, cell), imaging.RESAMPLE)
    return np.asarray(img)


def make_thumbs(pred: np.ndarray, gt: np.ndarray, cell: int,
                image: Optional[np.ndarray] = None) -> Thumbs:
    """Thumbnails of one scored image: alphas float in [0, 1], image uint8 RGB or None."""
    return Thumbs(image=None if image is None else _thumb(image, cell),
                  gt=_thumb(_to_u8(gt), cell), pred=_thumb(_to_u8(pred), cell))


def contact_sheet_size(n_rows: int, n_cols: int, cell: int) -> tuple[int, int]:
    """(width, height) of a contact sheet with these rows, columns and panel side."""
    width = n_cols * cell + (n_cols + 1) * SHEET_PAD
    height = SHEET_TITLE_H + n_rows * (SHEET_CAPTION_H + cell + SHEET_PAD) + SHEET_PAD
    return width, height


def checkerboard(width: int, height: int, square: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    light = ((yy // square + xx // square) % 2 == 0)
    return np.where(light[..., None], 235, 190).astype(np.uint8).repeat(3, axis=2)


def _match_size(arr: np.ndarray, shape: tuple) -> np.ndarray:
    if arr.shape[:2] == shape:
        return arr
    return np.asarray(Image.fromarray(arr).resize((shape[1], shape[0]), imaging.RESAMPLE))


def sheet_panels(thumbs: Thumbs) -> list[Image.Image]:
    gt = Image.fromarray(thumbs.gt, "L").convert("RGB")
    pred_arr = _match_size(thumbs.pred, thumbs.gt.shape)
    pred = Image.fromarray(pred_arr, "L").convert("RGB")
    if thumbs.image is not None:
        image = _match_size(thumbs.image, thumbs.gt.shape)
        a = pred_arr.astype(np.float32)[..., None] / 255.0
        bg = checkerboard(image.shape[1], image.shape[0]).astype(np.float32)
        cut = np.clip(np.rint(image * a + bg * (1 - a)), 0, 255).astype(np.uint8)
        return [Image.fromarray(image, "RGB"), gt, pred, Image.fromarray(cut, "RGB")]
    g, p = thumbs.gt >= 128, pred_arr >= 128
    err = np.full(g.shape + (3,), 40, np.uint8)
    err[g & p] = (235, 235, 235)
    err[g & ~p] = (230, 40, 40)
    err[~g & p] = (50, 90, 240)
    return [gt, pred, Image.fromarray(err, "RGB")]


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength("..." + text, font=font) > width:
        text = text[1:]
    return "..." + text


def render_contact_sheet(rows: Sequence[tuple[str, float, Thumbs]], columns: Sequence[str],
                         cell: int) -> Image.Image:
    """rows: (key, iou, thumbs), worst first. Each panel is fitted into a cell x cell square."""
    width, height = contact_sheet_size(len(rows), len(columns), cell)
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for c, title in enumerate(columns):
        x = SHEET_PAD + c * (cell + SHEET_PAD)
        draw.text((x, 2), _fit_text(draw, title, font, cell), fill=(0, 0, 0), font=font)
    for r, (key, iou, thumbs) in enumerate(rows):
        y = SHEET_TITLE_H + r * (SHEET_CAPTION_H + cell + SHEET_PAD)
        caption = _fit_text(draw, f"IoU {iou:.3f}  {key}", font, width - 2 * SHEET_PAD)
        draw.text((SHEET_PAD, y + 1), caption, fill=(160, 0, 0), font=font)
        for c, panel in enumerate(sheet_panels(thumbs)):
            scale = cell / max(panel.size)
            size = (max(1, round(panel.width * scale)), max(1, round(panel.height * scale)))
            panel = panel.resize(size, imaging.RESAMPLE)
            x = SHEET_PAD + c * (cell + SHEET_PAD) + (cell - size[0]) // 2
            sheet.paste(panel, (x, y + SHEET_CAPTION_H + (cell - size[1]) // 2))
    return sheet
