"""Dataset recipes: data lookup order, checksummed atomic downloads (with a fake network), the GPmat
walk/jog split checked against the raw AMC files, Taylor's MIT data."""

from __future__ import annotations

import io
import re
import urllib.request

import numpy as np
import pytest
from mocap_fixtures import cmu35_skeleton, read_amc_frames

import crbm.data.mocap as ds
from crbm.data import download, paths
from crbm.engine.errors import CRBMError

INCH = 0.0254


def test_data_path_order(tmp_path, monkeypatch):
    rel = "mocap/x/file.bin"
    explicit, env, cache = tmp_path / "explicit", tmp_path / "env", tmp_path / "cache"
    for root in (explicit, env, cache):
        (root / rel).parent.mkdir(parents=True)
        (root / rel).write_bytes(root.name.encode())
    monkeypatch.setattr(paths, "CACHE", cache)
    monkeypatch.setenv("CRBM_DATA", str(env))
    assert paths.data_path(rel, path=explicit).read_bytes() == b"explicit"
    assert paths.data_path(rel, path=explicit / rel) == explicit / rel  # a path to the file itself
    assert paths.data_path(rel).read_bytes() == b"env"
    monkeypatch.delenv("CRBM_DATA")
    assert paths.data_path(rel).read_bytes() == b"cache"
    with pytest.raises(CRBMError, match="CRBM_DATA") as err:
        paths.data_path("mocap/gpmat/cmu35WalkJog.mat", path=tmp_path / "nowhere")
    assert "github" in str(err.value).lower() and "nowhere" in str(err.value)
    with pytest.raises(CRBMError, match="mocap.cs.cmu.edu/subjects/35/35_05.amc"):
        paths.data_path("mocap/cmu/35/35_05.amc", path=tmp_path / "nowhere")


def test_data_folders_of_a_data_set(tmp_path, monkeypatch):
    """A data set in a folder of its own (MNIST, the documents) is looked for in ``path`` alone when given,
    else in ``$CRBM_DATA/<name>`` then the cache's ``<name>``: the order of ``data_path``."""
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    monkeypatch.setenv("CRBM_DATA", str(tmp_path / "env"))
    assert paths.data_folders("mnist") == [tmp_path / "env/mnist", tmp_path / "cache/mnist"]
    assert paths.data_folders("docs", tmp_path / "mine") == [tmp_path / "mine"]
    monkeypatch.delenv("CRBM_DATA")
    assert paths.data_folders("docs") == [tmp_path / "cache/docs"]


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_checks_sha256_and_writes_atomically(data_root, tmp_path, monkeypatch):
    """CMU serves CRLF text; the sum (of the LF text) must match, or nothing is written."""
    lf = (data_root / "mocap/cmu/35/35_01.amc").read_bytes()
    served = {"good": lf.replace(b"\n", b"\r\n"), "bad": lf.replace(b"\n", b"\r\n") + b"0\r\n"}
    urls = []

    def fake_urlopen(url, timeout):
        urls.append(url)
        return _FakeResponse(served[mode])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    dest = tmp_path / "mocap/cmu/35/35_01.amc"
    sha = paths.SHA256["mocap/cmu/35/35_01.amc"]
    mode = "bad"
    with pytest.raises(CRBMError, match="SHA-256"):
        download.download("http://mocap.cs.cmu.edu/subjects/35/35_01.amc", dest, sha256=sha, text=True)
    assert not dest.exists() and not any(tmp_path.rglob("*.tmp"))
    mode = "good"
    download.download("http://mocap.cs.cmu.edu/subjects/35/35_01.amc", dest, sha256=sha, text=True)
    assert dest.read_bytes() == served["good"]
    assert [p.name for p in dest.parent.iterdir()] == ["35_01.amc"]


def test_gpmat_download_into_explicit_path(data_root, tmp_path, monkeypatch):
    blob = (data_root / "mocap/gpmat/cmu35WalkJog.mat").read_bytes()
    seen = []

    def fake_urlopen(url, timeout):
        seen.append(url)
        return _FakeResponse(blob)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.delenv("CRBM_DATA", raising=False)
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    with pytest.raises(CRBMError, match="not found"):
        ds.load_gpmat_walkjog(tmp_path)
    data = ds.load_gpmat_walkjog(tmp_path, download=True)
    assert seen == [paths.GPMAT_URL + "cmu35WalkJog.mat"] and paths.GPMAT_COMMIT in seen[0]
    assert (tmp_path / "mocap/gpmat/cmu35WalkJog.mat").read_bytes() == blob
    assert len(data.train) == 31


def _speed(clip, fps=30.0):
    """Mean ground speed in m/s (CMU ASF length unit: 1/0.45 inch)."""
    step = np.linalg.norm(np.diff(clip[:, [0, 2]], axis=0), axis=1)
    return step.mean() * fps / 0.45 * INCH


def test_gpmat_walkjog_split_and_styles(data_root):
    data = ds.load_gpmat_walkjog(data_root)
    assert len(data.train) == 31 and sum(len(c) for c in data.train) == 2644
    assert [len(c) for c in data.test] == [44, 125]
    assert data.test_trials == ("35_18", "35_29") and data.test_styles == ("run", "walk")
    assert data.train_styles.count("run") == 9 and data.fps == 30.0
    for clip, style in zip(data.train + data.test, data.train_styles + data.test_styles, strict=True):
        speed = _speed(clip)
        assert (speed > 2.5) if style == "run" else (speed < 1.5), (style, speed)


def test_gpmat_walks_equal_amc_every_4th_frame(data_root):
    """Every walk clip equals its raw AMC file taken every 4th frame from frame 1: the trial ids are right."""
    data = ds.load_gpmat_walkjog(data_root)
    sk = cmu35_skeleton(data_root / "mocap/cmu/35/35.asf")
    assert tuple(sk.channel_names) == ds.GPMAT_CHANNELS
    checked = 0
    for clip, trial in zip(data.train + data.test, data.train_trials + data.test_trials, strict=True):
        amc = data_root / f"mocap/cmu/35/{trial}.amc"
        if amc.exists():
            assert np.array_equal(read_amc_frames(amc, sk)[::4], clip), trial
            checked += 1
    assert checked == 23
    train, test = data.motions(sk)
    assert train[0].name == "35_01" and test[1].n_frames == 125 and test[1].fps == 30.0


def test_cmu35_style_table():
    assert ds.cmu35_style("35_17") == "run" and ds.cmu35_style("35_16") == "walk"
    assert ds.cmu35_style("35_27") == "navigate" and ds.cmu35_style("35_28") == "walk"
    with pytest.raises(CRBMError):
        ds.cmu35_style("36_01")


def test_mit_motion_structure(data_root):
    mit = ds.load_mit_motion(data_root)
    assert [c.shape for c in mit.clips] == [(438, 108), (260, 108), (3128, 108)]
    assert mit.parents == (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 12, 9, 14, 15, 16)
    assert mit.skeleton_type == "mit"
    data = np.concatenate(mit.clips)
    varying = np.flatnonzero(data.std(axis=0) > 1e-10)
    assert len(varying) == 49
    # only exp maps and the root position vary; non-root offsets are constant
    allowed = {c for cols in mit.rotation_columns for c in cols} | set(mit.offset_columns[0])
    assert set(varying.tolist()) <= allowed
    assert len(set(mit.channel_names)) == 108


def test_cmu_trials_reads_local_folder(data_root):
    pytest.importorskip("crbm.mocap.acclaim", reason="needs the ASF/AMC reader (crbm.mocap.acclaim)")
    (motion,) = ds.cmu_trials(35, [1], path=data_root)
    sk = cmu35_skeleton(data_root / "mocap/cmu/35/35.asf")
    assert motion.fps == 120.0
    assert motion.channel_names == sk.channel_names
    assert np.array_equal(motion.frames, read_amc_frames(data_root / "mocap/cmu/35/35_01.amc", sk))


def test_faces_download_keeps_only_the_pinned_bytes(data_root, tmp_path, monkeypatch):
    """The data folder's olivettifaces.mat is a re-save whose bytes differ from scikit-learn's pinned copy:
    served as the download, it is refused and nothing is written."""
    from crbm.data.faces import load_olivetti

    blob = (data_root / "faces/olivettifaces.mat").read_bytes()
    seen = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: seen.append(url) or _FakeResponse(blob))
    monkeypatch.delenv("CRBM_DATA", raising=False)
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    with pytest.raises(CRBMError, match=r"has SHA-256 b1988d02.*expected b612fb96.*nothing was written"):
        load_olivetti(tmp_path, download=True)
    assert seen == ["https://ndownloader.figshare.com/files/5976027"] and not any(tmp_path.rglob("*.mat"))


def test_cli_fetch_finds_present_data_and_reports_a_failed_download(data_root, tmp_path, monkeypatch, capsys):
    from crbm.cli import main

    def offline(url, timeout):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.delenv("CRBM_DATA", raising=False)
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    assert main(["fetch", "mnist", "faces", "20news", "reuters", "gpmat", "--dir", str(data_root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"mnist: {data_root / 'mnist'}",
        f"faces: {data_root / 'faces/olivettifaces.mat'}",
        f"20news: {data_root / 'docs/20news-bydate.tar.xz'}",
        f"reuters: {data_root / 'docs/reuters21578.tar.xz'}",
        f"gpmat: {data_root / 'mocap/gpmat/cmu35WalkJog.mat'}",
    ]
    assert main(["fetch", "faces", "--dir", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("crbm fetch: error: could not download https://ndownloader.figshare.com/files/5976027")
    assert "\n" not in err and not (tmp_path / "empty").exists()


def test_a_changed_data_file_is_refused_on_use_and_by_fetch(data_root, tmp_path, capsys, monkeypatch):
    """crbm fetch passed a tampered cmu35WalkJog.mat (it was present, so never checked): every use checks a
    data file against its published size and SHA-256, once per process until the file changes."""
    from crbm.cli import main

    rel = "mocap/gpmat/cmu35WalkJog.mat"
    good = (data_root / rel).read_bytes()
    copy = tmp_path / rel
    copy.parent.mkdir(parents=True)
    copy.write_bytes(good)
    monkeypatch.delenv("CRBM_DATA", raising=False)
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    assert main(["fetch", "gpmat", "--dir", str(tmp_path)]) == 0
    tampered = bytearray(good)
    tampered[len(good) // 2] ^= 0xFF  # same size, one byte changed
    copy.write_bytes(bytes(tampered))
    assert main(["fetch", "gpmat", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and re.search(
        r"cmu35WalkJog\.mat: SHA-256 [0-9a-f]{16}\.\.\. is not that of the published mocap/gpmat/cmu35WalkJog\.mat "
        r"\(50db534501bdfb16\.\.\.\): the file is damaged or was changed; delete it and fetch it again", err), err
    with pytest.raises(CRBMError, match="is not that of the published"):
        ds.load_gpmat_walkjog(tmp_path)
    copy.write_bytes(good[:-1])
    with pytest.raises(CRBMError, match=r"holds 1,073,737 bytes, the published mocap/gpmat/cmu35WalkJog\.mat "):
        ds.load_gpmat_walkjog(tmp_path, download=True)  # refused, not downloaded over


def test_a_checked_file_is_not_hashed_again_until_it_changes(data_root, tmp_path, monkeypatch):
    rel = "mocap/cmu/35/35.asf"
    copy = tmp_path / rel
    copy.parent.mkdir(parents=True)
    copy.write_bytes((data_root / rel).read_bytes().replace(b"\n", b"\r\n"))  # CMU serves CRLF: the same file
    assert paths.data_path(rel, path=tmp_path) == copy
    hashed = []
    sha256 = paths.hashlib.sha256
    monkeypatch.setattr(paths.hashlib, "sha256", lambda *a: hashed.append(1) or sha256(*a))
    assert paths.data_path(rel, path=tmp_path) == copy and hashed == []  # cached: same size and modification time
    copy.write_bytes(copy.read_bytes().replace(b"lfemur", b"lfemus"))
    with pytest.raises(CRBMError, match=r"35\.asf: SHA-256 .* delete it and fetch it again .*mocap\.cs\.cmu\.edu"):
        paths.data_path(rel, path=tmp_path)
    assert hashed == [1]


def test_every_cmu_subject_and_prediction_benchmark_file_is_checked(data_root, tmp_path):
    """sha256sums.txt covers the CMU walks of every subject and the 30 files of the prediction benchmark; each
    copy in the data folder passes, and a benchmark file changed by one digit is refused on use."""
    listed = [r for r in paths.SHA256 if r.startswith(("mocap/cmu/", "mocap/cmu-bench/"))]
    bench = [r for r in listed if r.startswith("mocap/cmu-bench/")]
    assert len(bench) == 30 and {r.split("/")[2] for r in listed if r.startswith("mocap/cmu/")} >= {"12", "35", "55"}
    for relative in listed:
        assert paths.data_path(relative, path=data_root) == data_root / relative
    rel = "mocap/cmu-bench/test/walking/walking_1.txt"
    copy = tmp_path / rel
    copy.parent.mkdir(parents=True)
    text = (data_root / rel).read_text()
    digit = next(i for i, ch in enumerate(text) if ch.isdigit() and ch != "9")
    copy.write_text(text[:digit] + str(int(text[digit]) + 1) + text[digit + 1:])
    with pytest.raises(CRBMError, match=r"walking_1\.txt: SHA-256 .* published mocap/cmu-bench/test/walking/walking_1"):
        paths.data_path(rel, path=tmp_path)
