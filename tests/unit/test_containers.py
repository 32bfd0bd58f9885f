"""The containers' readers (`preprocess/containers.py`): zip, tar, compressed tar and folder list
and read the same; entries that must not be read are listed as BadEntry with their reason."""
import io
import os
import tarfile
import zipfile

import pytest

from pipelines.preprocess import containers
from pipelines.preprocess.config import SourceSpec
from pipelines.core.rejects import Rejected


def _files():
    return {"top/images/a.jpg": b"AAA", "top/masks/a.png": b"MMM",
            "top/images/sub.txt": b"", "__MACOSX/top/images/._a.jpg": b"junk"}


def test_zip_tar_targz_and_folder_list_and_read_the_same(tmp_path):
    files = _files()
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    for mode, suffix in (("w", "d.tar"), ("w:gz", "d.tar.gz"), ("w:bz2", "d.tar.bz2"),
                         ("w:xz", "d.tar.xz")):
        with tarfile.open(tmp_path / suffix, mode) as tf:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    for name, data in files.items():
        os.makedirs(tmp_path / "d" / os.path.dirname(name), exist_ok=True)
        (tmp_path / "d" / name).write_bytes(data)
    reader = containers.MemberReader()
    for path in ("d.zip", "d.tar", "d.tar.gz", "d.tar.bz2", "d.tar.xz", "d"):
        spec = SourceSpec("folder", "f", str(tmp_path / path))
        members = {m.name: m for m in containers.list_members(spec)}
        assert set(members) == set(files), path
        assert {n: reader.read(m) for n, m in members.items()} == files, path
    reader.close()
    # A .tar.gz carries bytes only for the members asked for.
    spec = SourceSpec("folder", "f", str(tmp_path / "d.tar.gz"))
    carried = {m.name: m.data for m in containers.list_members(spec, wanted=lambda n: "masks" in n)}
    assert carried["top/masks/a.png"] == b"MMM" and carried["top/images/a.jpg"] is None




def _hostile_folder(root):
    """A folder with one good file and every entry that must not be read; -> {name: reason}."""
    (root / "images").mkdir(parents=True)
    (root / "images" / "good.jpg").write_bytes(b"GOOD")
    (root / "images" / "big.jpg").write_bytes(b"x" * 100)
    os.mkfifo(root / "images" / "pipe.jpg")
    os.symlink("/dev/zero", root / "images" / "zero.jpg")
    os.symlink(root / "images" / "missing.jpg", root / "images" / "dangling.jpg")
    os.symlink(root / "images" / "loop.jpg", root / "images" / "loop.jpg")
    os.symlink(root, root / "images" / "cycle")  # a folder link back above itself
    os.symlink(root / "images" / "good.jpg", root / "images" / "linked.jpg")  # followed
    with open(os.path.join(os.fsencode(root / "images"), b"caf\xe9.jpg"), "wb") as f:
        f.write(b"NAME")
    return {"images/big.jpg": "too_large", "images/pipe.jpg": "not_a_regular_file",
            "images/zero.jpg": "not_a_regular_file", "images/dangling.jpg": "broken_link",
            "images/loop.jpg": "broken_link", "images/cycle": "broken_link",
            "images/caf\\xe9.jpg": "unencodable_name"}


@pytest.mark.timeout(30)
def test_folder_lists_what_must_not_be_read_as_bad_entries(tmp_path):
    expected = _hostile_folder(tmp_path / "d")
    spec = SourceSpec("folder", "f", str(tmp_path / "d"))
    listed = list(containers.list_members(spec, max_bytes=10))
    bad = {e.name: e.reason for e in listed if isinstance(e, containers.BadEntry)}
    good = {m.name: m for m in listed if isinstance(m, containers.Member)}
    assert bad == expected
    assert sorted(good) == ["images/good.jpg", "images/linked.jpg"]
    reader = containers.MemberReader(max_bytes=10)
    assert {n: reader.read(m) for n, m in good.items()} == {
        "images/good.jpg": b"GOOD", "images/linked.jpg": b"GOOD"}
    # Read by reference anyway (as a pair made earlier would be): refused, never opened.
    for name, reason in (("images/pipe.jpg", "not_a_regular_file"),
                         ("images/zero.jpg", "not_a_regular_file"),
                         ("images/dangling.jpg", "broken_link"), ("images/big.jpg", "too_large")):
        with pytest.raises(Rejected) as e:
            reader.read(containers.Member("f", str(tmp_path / "d"), name))
        assert e.value.reason == reason, name


def _tar_with_links(path, mode, big=1000):
    with tarfile.open(path, mode) as tf:
        for name, data in (("d/images/a.jpg", b"AAA"), ("d/masks/a.png", b"MMM")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("d/images/big.jpg")
        info.size = big
        tf.addfile(info, io.BytesIO(bytes(big)))
        for name, kind, target in (("d/images/sym.jpg", tarfile.SYMTYPE, "a.jpg"),
                                   ("d/images/hard.jpg", tarfile.LNKTYPE, "d/images/a.jpg"),
                                   ("d/images/fifo.jpg", tarfile.FIFOTYPE, ""),
                                   ("d/images/dev.jpg", tarfile.CHRTYPE, "")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)


@pytest.mark.parametrize("suffix,mode", [("t.tar", "w"), ("t.tar.gz", "w:gz")])
def test_tar_link_members_and_members_over_the_cap_are_bad_entries(tmp_path, suffix, mode):
    _tar_with_links(tmp_path / suffix, mode)
    spec = SourceSpec("folder", "f", str(tmp_path / suffix))
    listed = list(containers.list_members(spec, max_bytes=100))
    assert {e.name: e.reason for e in listed if isinstance(e, containers.BadEntry)} == {
        "d/images/big.jpg": "too_large", "d/images/sym.jpg": "link_member",
        "d/images/hard.jpg": "link_member", "d/images/fifo.jpg": "link_member",
        "d/images/dev.jpg": "link_member"}
    reader = containers.MemberReader(max_bytes=100)
    assert {m.name: reader.read(m) for m in listed if isinstance(m, containers.Member)} == {
        "d/images/a.jpg": b"AAA", "d/masks/a.png": b"MMM"}
    # A member not wanted is listed (never read), even over the cap.
    unwanted = list(containers.list_members(spec, wanted=lambda n: "big" not in n, max_bytes=100))
    assert [m.data for m in unwanted if m.name == "d/images/big.jpg"] == [None]


def test_zip_sizes_are_checked_before_reading_and_the_read_is_bounded(tmp_path):
    with zipfile.ZipFile(tmp_path / "z.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("d/images/a.jpg", b"AAA")
        zf.writestr("d/images/big.jpg", bytes(1000))
        link = zipfile.ZipInfo("d/images/link.jpg")
        link.external_attr = 0o120777 << 16  # a symbolic link, as `zip --symlinks` stores it
        zf.writestr(link, "a.jpg")
    spec = SourceSpec("folder", "f", str(tmp_path / "z.zip"))
    listed = list(containers.list_members(spec, max_bytes=100))
    assert {e.name: e.reason for e in listed if isinstance(e, containers.BadEntry)} == {
        "d/images/big.jpg": "too_large", "d/images/link.jpg": "link_member"}
    reader = containers.MemberReader(max_bytes=100)
    # A member whose declared size lies (here: a reference claiming 3 bytes) is still bounded.
    with pytest.raises(Rejected, match="too_large"):
        reader.read(containers.Member("f", str(tmp_path / "z.zip"), "d/images/big.jpg", size=3))
    assert reader.read(next(m for m in listed if m.name == "d/images/a.jpg")) == b"AAA"
    reader.close()
