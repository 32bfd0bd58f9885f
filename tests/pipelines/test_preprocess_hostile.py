"""Preprocess on hostile filesystems (issue 11), on real files made in a temp dir: named pipes,
links to /dev/zero, dangling links, link loops and cycles, non-UTF-8 names, tar link members, a
.tar.gz bomb. Each bad entry is one line in OUT/_rejected/ with its reason, counted in the manifest;
the inputs are unchanged, every good pair is written, and the job ends within a bound."""
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import time

import numpy as np
import pytest
from PIL import Image

from pipelines.core import rejects
from pipelines.preprocess import job as preprocess
from tests.cutout_support import read_examples, read_rejects, run_measuring_peak

GOOD = ("g0", "g1", "g2", "g3")


def _pair_bytes(seed):
    from pipelines.synthetic import datasets as synthetic

    rgb, alpha = synthetic.render_scene(np.random.default_rng(seed), 40, 50)
    img, msk = io.BytesIO(), io.BytesIO()
    Image.fromarray(rgb).save(img, "JPEG")
    Image.fromarray(alpha).save(msk, "PNG")
    return img.getvalue(), msk.getvalue()


def _write_pairs(folder, stems, seed=0):
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(stems):
        image, mask = _pair_bytes(seed + i)
        (folder / "images" / f"{stem}.jpg").write_bytes(image)
        (folder / "masks" / f"{stem}.png").write_bytes(mask)


def _hostile_folder(root):
    """A folder source: good pairs plus every entry that must not be read.
    -> {path relative to root (escaped as in the reject lines): reason}."""
    _write_pairs(root, GOOD)
    images, masks = root / "images", root / "masks"
    os.mkfifo(images / "pipe.jpg")
    os.symlink("/dev/zero", images / "zero.jpg")
    os.symlink(images / "missing.jpg", images / "dangling.jpg")
    os.symlink(images / "loop.jpg", images / "loop.jpg")
    os.symlink(root, images / "cycle")
    (images / "huge.jpg").write_bytes(bytes(300_000))  # over the --max_file_bytes of the test
    image, mask = _pair_bytes(9)
    with open(os.path.join(os.fsencode(images), b"caf\xe9.jpg"), "wb") as f:
        f.write(image)
    with open(os.path.join(os.fsencode(masks), b"caf\xe9.png"), "wb") as f:
        f.write(mask)
    (images / "m_pipe.jpg").write_bytes(image)  # a good image whose mask is a pipe
    os.mkfifo(masks / "m_pipe.png")
    return {"images/pipe.jpg": "not_a_regular_file", "images/zero.jpg": "not_a_regular_file",
            "images/dangling.jpg": "broken_link", "images/loop.jpg": "broken_link",
            "images/cycle": "broken_link", "images/huge.jpg": "too_large",
            "images/caf\\xe9.jpg": "unencodable_name", "masks/caf\\xe9.png": "unencodable_name",
            "masks/m_pipe.png": "not_a_regular_file", "images/m_pipe.jpg": "no_mask"}


def _tar_with_links(path):
    """A .tar.gz source: good pairs plus link, FIFO and device members. -> {member: reason}."""
    with tarfile.open(path, "w:gz") as tf:
        for i, stem in enumerate(GOOD):
            image, mask = _pair_bytes(20 + i)
            for name, data in ((f"set/images/{stem}.jpg", image), (f"set/masks/{stem}.png", mask)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        for stem, kind, target in (("sym", tarfile.SYMTYPE, "g0.jpg"),
                                   ("hard", tarfile.LNKTYPE, "set/images/g0.jpg"),
                                   ("fifo", tarfile.FIFOTYPE, ""), ("dev", tarfile.CHRTYPE, "")):
            info = tarfile.TarInfo(f"set/images/{stem}.jpg")
            info.type, info.linkname = kind, target
            tf.addfile(info)
            _, mask = _pair_bytes(30)
            info = tarfile.TarInfo(f"set/masks/{stem}.png")
            info.size = len(mask)
            tf.addfile(info, io.BytesIO(mask))
    expected = {}
    for stem in ("sym", "hard", "fifo", "dev"):
        expected[f"set/images/{stem}.jpg"] = "link_member"
        expected[f"set/masks/{stem}.png"] = "mask_without_image"  # its image was rejected
    return expected


def _snapshot(root):
    """Every entry under root without reading anything but regular files (lstat, no links
    followed): {path: (type, sha256 or link target)}."""
    found = {}
    for folder, dirs, names in os.walk(os.fsencode(root)):
        for name in dirs + names:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                found[path] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    found[path] = ("file", hashlib.sha256(f.read()).hexdigest())
            else:
                found[path] = (stat.S_IFMT(st.st_mode), None)
    return found


@pytest.mark.timeout(300)
def test_hostile_entries_are_rejects_and_the_rest_goes_on(tmp_path):
    folder_expected = _hostile_folder(tmp_path / "mine")
    tar_expected = _tar_with_links(tmp_path / "links.tar.gz")
    before = _snapshot(tmp_path)
    start = time.monotonic()
    manifest = preprocess.run([
        "--source", f"folder:mine={tmp_path}/mine",
        "--source", f"folder:tarred={tmp_path}/links.tar.gz",
        "--output_dir", str(tmp_path / "out"), "--image_size", "32",
        "--max_file_bytes", "200000"])
    took = time.monotonic() - start
    assert took < 240, f"preprocess took {took:.0f} s"
    out = os.fsencode(tmp_path / "out")
    assert {p: v for p, v in _snapshot(tmp_path).items()
            if p != out and not p.startswith(out + b"/")} == before  # inputs unchanged
    # Every good pair written.
    assert sorted(read_examples(tmp_path / "out")) == sorted(
        [f"mine/images/{s}.jpg" for s in GOOD] + [f"tarred/set/images/{s}.jpg" for s in GOOD])
    # Every bad entry listed with its reason, and nothing else.
    lines = read_rejects(tmp_path / "out")
    got = {}
    for r in lines:
        source, path = r["source"], r["path"]
        rel = (path.split("!/", 1)[1] if source == "tarred"
               else os.path.relpath(path, tmp_path / "mine"))
        got[(source, rel)] = r["reason"]
    assert got == {**{("mine", k): v for k, v in folder_expected.items()},
                   **{("tarred", k): v for k, v in tar_expected.items()}}
    assert all(r["reason"] in rejects.REASONS for r in lines)
    assert "its mask" in next(r["detail"] for r in lines if r["path"].endswith("m_pipe.jpg"))
    # The manifest counts the lines.
    assert manifest["rejected_lines"] == len(lines)
    assert sum(manifest["rejected"].values()) == len(lines)
    print(f"\npreprocess over hostile entries: {took:.1f} s")


def test_sources_that_cannot_be_read_are_refused_in_one_line(tmp_path):
    os.mkfifo(tmp_path / "data.tar.gz")
    os.symlink("/dev/zero", tmp_path / "zero.zip")
    odd = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9"))
    os.mkdir(odd)
    for source, message in ((f"folder={tmp_path}/data.tar.gz", "a named pipe"),
                            (f"folder={tmp_path}/zero.zip", "a character device"),
                            (f"folder={odd}", "not valid UTF-8")):
        with pytest.raises(rejects.JobError, match=message):
            preprocess.run(["--source", source, "--output_dir", str(tmp_path / "o")])
    with pytest.raises(rejects.JobError, match="max_file_bytes"):
        preprocess.run(["--source", f"folder={tmp_path}", "--output_dir", str(tmp_path / "o"),
                        "--max_file_bytes", "0"])
    assert preprocess.main(["--source", f"folder={odd}", "--output_dir",
                            str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def _zeros(n):
    class Zeros(io.RawIOBase):
        left = n

        def readinto(self, buf):
            k = min(len(buf), self.left)
            buf[:k] = bytes(k)
            self.left -= k
            return k

        def readable(self):
            return True
    return io.BufferedReader(Zeros())


BOMB_BYTES = 400 * 2**20


def _tar_bomb(path):
    """A .tar.gz of a few hundred KB holding good pairs and one 400 MB image of zeros, written by
    streaming (never held in memory here)."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        for i, stem in enumerate(GOOD[:2]):
            image, mask = _pair_bytes(40 + i)
            for name, data in ((f"set/images/{stem}.jpg", image), (f"set/masks/{stem}.png", mask)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("set/images/bomb.jpg")
        info.size = BOMB_BYTES
        tf.addfile(info, _zeros(BOMB_BYTES))
        _, mask = _pair_bytes(49)
        info = tarfile.TarInfo("set/masks/bomb.png")
        info.size = len(mask)
        tf.addfile(info, io.BytesIO(mask))


@pytest.mark.timeout(420)
def test_a_tar_gz_bomb_stays_under_1_5_gb(tmp_path):
    """Preprocess (default --max_file_bytes, 256 MiB) over a .tar.gz with a 400 MB member of
    zeros: the member is a reject, never read, and the job's peak RSS stays under 1.5 GB."""
    _tar_bomb(tmp_path / "bomb.tar.gz")
    assert os.path.getsize(tmp_path / "bomb.tar.gz") < 5 * 2**20
    out = tmp_path / "out"
    code = ("import sys; from pipelines.preprocess import job as preprocess; "
            "sys.exit(preprocess.main(sys.argv[1:]))")
    start = time.monotonic()
    status, stdout, stderr, peak = run_measuring_peak(
        [sys.executable, "-c", code, "--source", f"folder:bomb={tmp_path}/bomb.tar.gz",
         "--output_dir", str(out), "--image_size", "32"])
    took = time.monotonic() - start
    assert status == 0, stderr[-3000:]
    peak_gb = peak / 1e9
    print(f"\npreprocess over a 400 MB .tar.gz bomb: peak RSS {peak_gb:.2f} GB, {took:.1f} s")
    assert peak_gb < 1.5
    assert json.loads(stdout)["rejected"] == {"mask_without_image": 1, "too_large": 1}
    assert sorted(read_examples(out)) == ["bomb/set/images/g0.jpg", "bomb/set/images/g1.jpg"]
    assert {r["path"].split("!/")[1]: r["reason"] for r in read_rejects(out)} == {
        "set/images/bomb.jpg": "too_large", "set/masks/bomb.png": "mask_without_image"}


@pytest.mark.timeout(300)
def test_rejects_are_written_in_shards_by_the_workers(tmp_path):
    """OUT/_rejected/ in any number of shards holds the same lines as one file (issue 14)."""
    _write_pairs(tmp_path / "mine", GOOD[:2])
    for i in range(7):
        (tmp_path / "mine" / "images" / f"bad{i}.jpg").write_bytes(b"not an image")
    (tmp_path / "mine" / "masks" / "orphan.png").write_bytes(b"x")
    runs = {}
    for shards in (1, 3):
        out = tmp_path / f"out{shards}"
        manifest = preprocess.run(["--source", f"folder:mine={tmp_path}/mine",
                                   "--output_dir", str(out), "--image_size", "32",
                                   "--rejected_shards", str(shards)])
        names = sorted(os.listdir(out / "_rejected"))
        assert names == [rejects.shard_name("rejected", i, shards) for i in range(shards)]
        lines = sorted(line for name in names
                       for line in open(out / "_rejected" / name).read().splitlines())
        assert manifest["rejected_lines"] == len(lines) == 8
        runs[shards] = lines
    assert runs[1] == runs[3]
    # With no --rejected_shards: one file on the local runner, many on workers elsewhere.
    config = preprocess.Config(sources=(), output_dir=str(tmp_path / "o"))
    assert preprocess.Preprocess(config, local_runner=True).rejected_shards == 1
    assert preprocess.Preprocess(config, local_runner=False).rejected_shards > 1
