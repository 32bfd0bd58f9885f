"""pipelines.evaluate.contact_sheet: thumbnails and the sheet of worst images."""
import numpy as np
import pytest

from pipelines.evaluate import contact_sheet as eval_contact_sheet


@pytest.mark.parametrize("with_image", [True, False])
def test_contact_sheet_size_and_content(with_image):
    rng = np.random.default_rng(2)
    gt = np.zeros((48, 64), np.uint8)
    gt[10:30, 10:50] = 255
    thumbs = eval_contact_sheet.Thumbs(
        image=rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) if with_image else None,
        gt=gt, pred=np.roll(gt, 5, axis=1))
    rows = [("k1", 0.25, thumbs), ("a/very/long/key/" * 20, 0.5, thumbs)]
    columns = eval_contact_sheet.MODEL_COLUMNS if with_image else eval_contact_sheet.FOLDER_COLUMNS
    sheet = eval_contact_sheet.render_contact_sheet(rows, columns, 96)
    assert sheet.size == eval_contact_sheet.contact_sheet_size(2, len(columns), 96)
    assert sheet.mode == "RGB"
    assert np.asarray(sheet).std() > 10  # something was drawn


def test_thumbs_fit_the_cell_and_keep_the_aspect():
    gt = np.zeros((60, 30), np.float32)
    gt[10:50, 5:25] = 1.0
    image = np.full((60, 30, 3), 7, np.uint8)
    thumbs = eval_contact_sheet.make_thumbs(gt * 0.5, gt, 20, image)
    assert thumbs.gt.shape == thumbs.pred.shape == (20, 10) and thumbs.image.shape == (20, 10, 3)
    assert thumbs.gt.dtype == np.uint8 and thumbs.gt.max() == 255
    assert thumbs.pred.max() == 128                  # 0.5 -> rint(127.5) = 128
    small = eval_contact_sheet.make_thumbs(gt, gt, 128)
    assert small.image is None and small.gt.shape == (60, 30)   # never enlarged
