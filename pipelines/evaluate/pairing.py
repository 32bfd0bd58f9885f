"""Evaluate's folder mode: pairing predictions with ground truth by relative path and stem.

`P/a/b/x.png`, `P/a/b/x.jpg` or `P/a/b/x.mask.png` (remove_background's `--output both`) is scored
against `G/a/b/x.<any image extension>`. When several files share a key, a `.mask` stem wins,
then `.png`, then the first name; the others are reported as ignored. Hidden files, names under
P starting with `_` at the top level (remove_background's bookkeeping) and files that are not
images are skipped and counted. "Sources" are the top-level folders of G (files directly in G
belong to `(top)`). Pure, but for `relative_files`, which lists a folder.
"""
from __future__ import annotations

import dataclasses
import posixpath
from typing import Iterable, Optional

from pipelines.core import fileio
from pipelines.core.rejects import printable, record
from pipelines.serving import outputs

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
TOP_SOURCE = "(top)"


def source_of(key: str) -> str:
    """Folder mode's grouping: the top-level folder of the relative key."""
    return key.split("/", 1)[0] if "/" in key else TOP_SOURCE


def _split_ext(rel: str) -> tuple[str, str]:
    stem, ext = posixpath.splitext(rel)
    return stem, ext.lower()


def _skip_reason(rel: str, bookkeeping: bool) -> Optional[str]:
    parts = rel.split("/")
    if any(p.startswith(".") for p in parts):
        return "hidden"
    if bookkeeping and parts[0].startswith("_"):
        return "bookkeeping"
    if _split_ext(rel)[1] not in IMAGE_EXTENSIONS:
        return "not_an_image"
    return None


def _preference(rel: str) -> tuple:
    stem, ext = _split_ext(rel)
    return (not outputs.is_mask_stem(stem), ext != ".png", rel)


@dataclasses.dataclass
class Matching:
    pairs: list                    # (key, gt_rel, pred_rel), sorted by key
    missing_predictions: list      # gt_rel with no prediction
    unmatched_predictions: list    # pred_rel with no gt
    ignored_predictions: list      # {"path", "used"}: another file for the same key was scored
    ignored_ground_truth: list     # {"path", "used"}
    skipped_files: dict            # {"predictions"|"ground_truth": {reason: count}}
    # ("ground_truth"|"prediction", (path, reason, detail)): entries the listing found unreadable
    unreadable: list = dataclasses.field(default_factory=list)


def match_files(gt_rels: Iterable[str], pred_rels: Iterable[str]) -> Matching:
    """Pairs predictions with ground truth by relative path and stem (see the runbook)."""
    skipped = {"ground_truth": {}, "predictions": {}}
    gt_by_key: dict[str, list] = {}
    for rel in gt_rels:
        reason = _skip_reason(rel, bookkeeping=False)
        if reason:
            skipped["ground_truth"][reason] = skipped["ground_truth"].get(reason, 0) + 1
            continue
        gt_by_key.setdefault(_split_ext(rel)[0], []).append(rel)
    pred_by_key: dict[str, list] = {}
    unmatched = []
    for rel in pred_rels:
        reason = _skip_reason(rel, bookkeeping=True)
        if reason:
            skipped["predictions"][reason] = skipped["predictions"].get(reason, 0) + 1
            continue
        stem = _split_ext(rel)[0]
        if stem not in gt_by_key:
            stem = outputs.mask_key(stem)
        if stem in gt_by_key:
            pred_by_key.setdefault(stem, []).append(rel)
        else:
            unmatched.append(rel)
    pairs, missing, ignored_pred, ignored_gt = [], [], [], []
    for key in sorted(gt_by_key):
        gts = sorted(gt_by_key[key], key=_preference)
        ignored_gt += [{"path": g, "used": gts[0]} for g in gts[1:]]
        preds = sorted(pred_by_key.get(key, []), key=_preference)
        if not preds:
            missing.append(gts[0])
            continue
        ignored_pred += [{"path": p, "used": preds[0]} for p in preds[1:]]
        pairs.append((key, gts[0], preds[0]))
    return Matching(pairs=pairs, missing_predictions=missing,
                    unmatched_predictions=sorted(unmatched),
                    ignored_predictions=ignored_pred, ignored_ground_truth=ignored_gt,
                    skipped_files={k: dict(sorted(v.items())) for k, v in skipped.items()})


def relative_files(root: str) -> list[str]:
    """Every file under `root` (recursively), as a path relative to it."""
    return list_relative(root)[0]


def list_relative(root: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    """-> (every readable file under `root` as a path relative to it, the entries that must not be
    read as (path, reason, detail): `fileio.list_entries`)."""
    files, problems = fileio.list_entries(root)
    return [fileio.relative_to(path, root) for path, _ in files], problems


def images_by_key(image_dir: str) -> dict:
    """{relative stem: photo path} of the photos under --image_dir (first name wins); entries
    that can't be read are left out (a pair without its photo is rejected `missing_image`)."""
    found: dict = {}
    for rel in sorted(list_relative(image_dir)[0]):
        stem, ext = posixpath.splitext(rel)
        if ext.lower() in IMAGE_EXTENSIONS and not posixpath.basename(rel).startswith("."):
            found.setdefault(stem, fileio.join(image_dir, rel))
    return found


def folder_rejects(matching: Matching, gt_dir: str, pred_dir: str) -> list[dict]:
    """The pairing's findings as reject lines (R/_rejected/) (`rejects.record`: `source` the folder,
    `path` the file, plus `key` and the file as `ground_truth` or `prediction`)."""
    def gt(rel, key, reason, detail):
        path = fileio.join(gt_dir, rel)
        return record(gt_dir, path, reason, detail, key=key, ground_truth=path)

    def pred(rel, key, reason, detail):
        path = fileio.join(pred_dir, rel)
        return record(pred_dir, path, reason, detail, key=key, prediction=path)

    out = [gt(g, _split_ext(g)[0], "missing_prediction", "no prediction with this stem")
           for g in matching.missing_predictions]
    out += [pred(p, _split_ext(p)[0], "unmatched_prediction", "no ground truth with this stem")
            for p in matching.unmatched_predictions]
    out += [pred(i["path"], _split_ext(i["used"])[0], "ignored_prediction",
                 f"{i['used']} was scored") for i in matching.ignored_predictions]
    out += [gt(i["path"], _split_ext(i["used"])[0], "ignored_ground_truth",
               f"{i['used']} was used") for i in matching.ignored_ground_truth]
    for side, (path, reason, detail) in matching.unreadable:
        folder = gt_dir if side == "ground_truth" else pred_dir
        key = _split_ext(fileio.relative_to(path, folder))[0]
        # printable: a name that is not UTF-8 must still pass Beam's coders and JSON.
        out.append(printable(record(folder, path, reason, detail, key=key, **{side: path})))
    return out
