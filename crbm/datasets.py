"""Data sets used by the papers: where they live, how to load the motion-capture ones.

Files are found in this order: an explicit ``path``, the ``CRBM_DATA`` environment variable, the user
cache ``~/.cache/crbm``. Each folder mirrors the layout of the project's data folder
(``mocap/cmu/35/35_01.amc``, ``mocap/gpmat/cmu35WalkJog.mat``, ``mocap/mit/motion.mat``,
``faces/olivettifaces.mat``, ``docs/20news-bydate.tar.gz``). Nothing is
downloaded unless a function is called with ``download=True``; downloads go to the cache (or the explicit
``path``), are written atomically and checked against SHA-256 sums.

Public homes: CMU Graphics Lab Motion Capture Database (http://mocap.cs.cmu.edu, "free for use in research
and commercial projects"); Olivetti faces and 20 Newsgroups: scikit-learn's figshare copies (their
SHA-256 as scikit-learn pins them); Reuters-21578: the UCI KDD archive (no published checksum; the reader
checks the story counts instead); GPmat (github.com/SheffieldML/GPmat, ``datasets/data/``, BSD-3); Graham Taylor's
CRBM code page (the ``motion.mat`` of the MIT walking data, also in github.com/taneishi/CRBM ``data/``).
"""

from __future__ import annotations

import hashlib
import numbers
import os
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crbm.atomic import write_bytes
from crbm.errors import CRBMError, FormatError
from crbm.mocap.motion import Motion, Skeleton

CACHE = Path("~/.cache/crbm")

GPMAT_COMMIT = "4b5914a38ecbad9fb7a13a3392970bfc28c9d911"
GPMAT_URL = f"https://raw.githubusercontent.com/SheffieldML/GPmat/{GPMAT_COMMIT}/datasets/data/"
CMU_URL = "http://mocap.cs.cmu.edu/subjects/"

# where each file comes from, for the error message and for download=True
SOURCES = {
    "mocap/gpmat/cmu35WalkJog.mat": GPMAT_URL + "cmu35WalkJog.mat",
    "mocap/gpmat/cmu35TaylorScaleBias.mat": GPMAT_URL + "cmu35TaylorScaleBias.mat",
    "mocap/mit/motion.mat": "Graham Taylor's CRBM code page (www.uoguelph.ca/~gwtaylor/, 'motion.mat' in the "
                            "NIPS 2006 code archive), or github.com/taneishi/CRBM data/motion.mat",
    "faces/olivettifaces.mat": "https://ndownloader.figshare.com/files/5976027",
    "docs/20news-bydate.tar.gz": "https://ndownloader.figshare.com/files/5975967",
    "docs/reuters21578.tar.gz":
        "https://archive.ics.uci.edu/ml/machine-learning-databases/reuters21578-mld/reuters21578.tar.gz",
}

# SHA-256 of the files as the project's data folder holds them. CMU serves ASF/AMC with CRLF line endings;
# these sums are of the text with LF line endings, so a download is checked after normalising them.
# The faces and 20 Newsgroups sums are those scikit-learn pins for its public copies (the project's data
# folder holds a re-save of the faces and a rebuilt .tar.xz of the posts: local files are not hashed).
SHA256 = {
    "faces/olivettifaces.mat": "b612fb967f2dc77c9c62d3e1266e0c73d5fca46a4b8906c18e454d41af987794",
    "docs/20news-bydate.tar.gz": "8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610",
    "mocap/gpmat/cmu35WalkJog.mat": "50db534501bdfb1611153e3b5d122fc08b0c42ea159e875d5656ec13fa11a353",
    "mocap/gpmat/cmu35TaylorScaleBias.mat":
        "e6533fa9ba17de0d095e4c63aba0ef17c85289cf6a820f8e01b5548891e08408",
    "mocap/mit/motion.mat": "378bf28e6f3ac4f9b7271bd793b4fd03f0cc406f92e6525c0026a931df38a6e9",
    "mocap/cmu/35/35.asf": "9b4888836cbd13cdab14a86c53a6b7765ccae48ddc7075d8c5e03ac34bc08364",
    "mocap/cmu/35/35_01.amc": "efe882ca211915da0c70d7a1ac565660c75e373171f64e199ede283b921850d3",
    "mocap/cmu/35/35_02.amc": "d6fefd28756a979418b7bc09b6dc1020f3dc372f4c35e382d55026c74941e473",
    "mocap/cmu/35/35_03.amc": "5f7fc7ede6fdd70ac312f0449e49cf4c8d0878ad31246b9e455a0420450d1761",
    "mocap/cmu/35/35_04.amc": "c0ea194c1c7cc1807ff6c94212dd702777f8c96fdbc59656c5df7eded3009f1c",
    "mocap/cmu/35/35_05.amc": "8421013452f0e904c8a31778a690cc76c4aa50a304ea927e7381d79c5958d435",
    "mocap/cmu/35/35_06.amc": "b13b76a376129b460eae3d62b79d06a704663eec34123c9a61e0dad2775aa910",
    "mocap/cmu/35/35_07.amc": "315f9ee6eefa2b54c380b1992034ab825f58f799084ed7680a4e2213e3846823",
    "mocap/cmu/35/35_08.amc": "29fd9b64748295a5263f3fc69fb9c1c09ad828027569a79c39f0ef080c37d05e",
    "mocap/cmu/35/35_09.amc": "43d92cd4d4397f996a40037955597334b04b6c09c0ad9288ef12f7ebb3bac5fc",
    "mocap/cmu/35/35_10.amc": "d2948eb337fc2c395616881ad4d612780242e2923558774893b3db43a3ea8d62",
    "mocap/cmu/35/35_11.amc": "15541226c2aae03a287f39ad70a21480df0e523f2c040838e76bb12b6e539349",
    "mocap/cmu/35/35_12.amc": "eb6d224e450d0c4e4ec502edd7b671fa0f5119305b2c0105575cdeb48d53d84e",
    "mocap/cmu/35/35_13.amc": "fe5572cce38f4bd4046b0f5d72741c351a8cfa7cf88b428feb85c56dc1130587",
    "mocap/cmu/35/35_14.amc": "f3c584811a8370d8d627f6354706402931f7a599f3620a5abb26305aefd77432",
    "mocap/cmu/35/35_15.amc": "cb50bf7c31fdfb4a0903ab64d91807aff775a483a028bdb0773af7752354d9fa",
    "mocap/cmu/35/35_16.amc": "240e8d077d3be8e340bee6c465c59ed7320e53e4e529fd674fe7335e6d2c52af",
    "mocap/cmu/35/35_28.amc": "e91c989fc8adbb2eff59e3e86f37ef114e82591e5961f22ea1eb0b9682a96ca6",
    "mocap/cmu/35/35_29.amc": "48eb5a400085c6477698038767fa907d1f67b7ddd4e51c05366dae15cccd6ce5",
    "mocap/cmu/35/35_30.amc": "6c34a093f1df7e5255352972e12e2648a7e50cc9261fe73183e9e77bd0ab326e",
    "mocap/cmu/35/35_31.amc": "2b412cbd23c326d36f86ad86d41f500f4b3808f32fedad1b03b4652ea25efb80",
    "mocap/cmu/35/35_32.amc": "6939e377574486c7ca2939f3f424fcf4cfac5f6ad28eeb71933e52b052bb19bc",
    "mocap/cmu/35/35_33.amc": "d53fbc9c99944ad9cf36b7d6fafea029c7d7fa3b71fc70492248e7494eabaab1",
    "mocap/cmu/35/35_34.amc": "484ee3fe1ca9a984c4363484972d3114c675a9207a5119aeebd6d7235038a421",
}


# Other copies accepted when found on disk (never as a download): the project's data folder holds a re-save of
# the faces and rebuilt .tar.xz archives of the two corpora.
ALSO_ACCEPTED = {
    "faces/olivettifaces.mat": "b1988d02c72fe5b8ee82b5ef3bb7982eafc74f1e1ff0ae0ade35061ad0af534d",
    "docs/20news-bydate.tar.xz": "54929de06ac41923edbd887a5976806050037ed41088986f552a4efdec3d9c31",
    "docs/reuters21578.tar.xz": "8a64bf915f776fe9ba7b653d6522c53dae405f55e6176d38b2728eb7a6479561",
}
# size in bytes of the copies whose size is known (binary files only: text is compared after CRLF -> LF)
SIZES = {
    "50db534501bdfb1611153e3b5d122fc08b0c42ea159e875d5656ec13fa11a353": 1073738,
    "e6533fa9ba17de0d095e4c63aba0ef17c85289cf6a820f8e01b5548891e08408": 1224,
    "378bf28e6f3ac4f9b7271bd793b4fd03f0cc406f92e6525c0026a931df38a6e9": 930004,
    "b1988d02c72fe5b8ee82b5ef3bb7982eafc74f1e1ff0ae0ade35061ad0af534d": 1432511,
    "54929de06ac41923edbd887a5976806050037ed41088986f552a4efdec3d9c31": 8681020,
    "8a64bf915f776fe9ba7b653d6522c53dae405f55e6176d38b2728eb7a6479561": 4864312,
}
_VERIFIED: dict[str, tuple[int, int]] = {}  # file -> (size, mtime in ns) when its checksum last matched


def verify_file(file: str | os.PathLike, sums: list[str], *, text: bool = False, sizes: dict | None = None,
                what: str, remedy: str) -> Path:
    """``file`` (the data file ``what``) if its SHA-256 is one of ``sums`` (``text``: of the bytes with CRLF
    -> LF) and, for a binary file whose ``sizes[sum]`` are known, its size is one of them; otherwise a
    FormatError (the file is there, but wrong) saying what was found and ``remedy``, what to do. A file that
    passed is not read again until its size or modification time changes (``os.stat`` on every use)."""
    file = Path(file)
    stat = file.stat()
    key, stamp = str(file.resolve()), (stat.st_size, stat.st_mtime_ns)
    if not sums or _VERIFIED.get(key) == stamp:
        return file
    known = [sizes.get(s) for s in sums] if sizes and not text else [None]
    if None not in known and stat.st_size not in known:
        raise FormatError(file, f"holds {stat.st_size:,} bytes, the published {what} {known[0]:,}: it is cut off, "
                          f"damaged or another file; {remedy}")
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        if text:
            digest.update(f.read().replace(b"\r\n", b"\n"))
        else:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    if digest.hexdigest() not in sums:
        raise FormatError(file, f"SHA-256 {digest.hexdigest()[:16]}... is not that of the published {what} "
                          f"({sums[0][:16]}...): the file is damaged or was changed; {remedy}")
    _VERIFIED[key] = stamp
    return file


def verify_data_file(file: str | os.PathLike, relative: str) -> Path:
    """``verify_file`` against the sums known for the data file ``relative`` (``SHA256``, ``ALSO_ACCEPTED``;
    none known: accepted as it is)."""
    sums = [s for s in (SHA256.get(relative), ALSO_ACCEPTED.get(relative)) if s]
    remedy = f"delete it and fetch it again (crbm fetch, or download=True) from {_source(relative)}"
    return verify_file(file, sums, text=relative.endswith((".asf", ".amc")), sizes=SIZES, what=relative,
                       remedy=remedy)


def _roots(path: str | os.PathLike | None) -> list[tuple[str, Path]]:
    out = []
    if path is not None:
        out.append(("explicit path", Path(path).expanduser()))
    env = os.environ.get("CRBM_DATA")
    if env:
        out.append(("CRBM_DATA", Path(env).expanduser()))
    out.append(("user cache", CACHE.expanduser()))
    return out


def _source(relative: str) -> str:
    if relative in SOURCES:
        return SOURCES[relative]
    parts = Path(relative).parts
    if parts[:2] == ("mocap", "cmu") and len(parts) == 4:
        return f"{CMU_URL}{parts[2]}/{parts[3]} (CMU Graphics Lab Motion Capture Database)"
    return "its public home (listed in crbm's data guide, docs/data.md)"


def data_path(relative: str, *, path: str | os.PathLike | None = None) -> Path:
    """The file ``relative`` (e.g. ``"mocap/gpmat/cmu35WalkJog.mat"``) from the first place that has it.

    ``path`` may name the file itself or a data folder laid out like the project's. Then ``$CRBM_DATA``,
    then ``~/.cache/crbm``. Raises CRBMError naming every place tried and where to get the file. A file found
    in a data folder is checked against its published SHA-256 (``verify_file``; a file named by ``path``
    itself is the caller's own copy and is not).
    """
    tried = []
    for label, root in _roots(path):
        if label == "explicit path" and root.is_file():
            return root
        candidate = root / relative
        if candidate.is_file():
            return verify_data_file(candidate, relative)
        tried.append(f"{candidate} ({label})")
    raise CRBMError(
        f"data file {relative!r} not found; tried {', '.join(tried)}. Get it from {_source(relative)} and "
        f"put it at <folder>/{relative}, then pass path=<folder> or set CRBM_DATA=<folder>"
    )


def _sha256_lf(data: bytes) -> str:
    """SHA-256 of the bytes with CRLF line endings turned into LF (binary files are unaffected in
    practice only if they contain no CRLF: it is applied to ASF/AMC text only)."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def download(url: str, dest: Path, *, sha256: str | None, text: bool = False, timeout: float = 60.0) -> Path:
    """Fetch ``url`` into ``dest`` atomically; when ``sha256`` is given the content must match it
    (``text=True``: after CRLF -> LF), otherwise nothing is written and CRBMError is raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed http(s) hosts)
            data = response.read()
    except OSError as err:  # URLError, timeouts, refused connections
        reason = getattr(err, "reason", err)
        raise CRBMError(
            f"could not download {url} ({reason}); check the network, or put the file at {dest} by hand"
        ) from err
    digest = _sha256_lf(data) if text else hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise CRBMError(f"download of {url} has SHA-256 {digest}, expected {sha256}; nothing was written")
    dest.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes(dest, data)


def read_mat(file: Path) -> dict:
    """The variables of a MATLAB .mat file; FormatError when it is not one scipy can read."""
    import scipy.io
    from scipy.io.matlab import MatReadError

    try:
        return scipy.io.loadmat(file)
    except (MatReadError, ValueError, NotImplementedError, TypeError) as err:
        raise FormatError(file, f"not a readable MATLAB .mat file (v4-v7.2 expected): {err}") from None


def fetch_file(relative: str, *, path, download_ok: bool, url: str, text: bool = False) -> Path:
    """``data_path(relative, path=path)``, else (``download_ok``) ``url`` downloaded into ``path`` or the
    user cache, checked against ``SHA256[relative]`` when it has one. A file that is there but fails its check
    is refused (FormatError), never downloaded over."""
    try:
        return data_path(relative, path=path)
    except FormatError:  # there, but not the published file: never replaced without being asked
        raise
    except CRBMError:
        if not download_ok:
            raise
    root = Path(path).expanduser() if path is not None else CACHE.expanduser()
    return download(url, root / relative, sha256=SHA256.get(relative), text=text)


# ---------------------------------------------------------------------------------------------------
# GPmat's CMU subject-35 walk/jog set

GPMAT_CHANNELS = tuple(
    "root.tx root.ty root.tz root.rx root.ry root.rz lfemur.rx lfemur.ry lfemur.rz ltibia.rx lfoot.rx "
    "lfoot.rz ltoes.rx rfemur.rx rfemur.ry rfemur.rz rtibia.rx rfoot.rx rfoot.rz rtoes.rx lowerback.rx "
    "lowerback.ry lowerback.rz upperback.rx upperback.ry upperback.rz thorax.rx thorax.ry thorax.rz "
    "lowerneck.rx lowerneck.ry lowerneck.rz upperneck.rx upperneck.ry upperneck.rz head.rx head.ry head.rz "
    "lclavicle.ry lclavicle.rz lhumerus.rx lhumerus.ry lhumerus.rz lradius.rx lwrist.ry lhand.rx lhand.rz "
    "lfingers.rx lthumb.rx lthumb.rz rclavicle.ry rclavicle.rz rhumerus.rx rhumerus.ry rhumerus.rz "
    "rradius.rx rwrist.ry rhand.rx rhand.rz rfingers.rx rthumb.rx rthumb.rz".split()
)
GPMAT_TRAIN_TRIALS = tuple(f"35_{i:02d}" for i in [*range(1, 18), *range(19, 27), 28, *range(30, 35)])
GPMAT_TEST_TRIALS = ("35_18", "35_29")


def cmu35_style(trial: str) -> str:
    """"run" for CMU subject 35 trials 17-26 (the CMU index's "run/jog"), "walk" for 1-16 and 28-34,
    "navigate" for 27. Checked on the GPmat data: walks move at 1.2-1.3 m/s, runs at 3.1-3.6 m/s."""
    subject, number = trial.split("_")
    n = int(number)
    if subject != "35" or not 1 <= n <= 34:
        raise CRBMError(f"no style known for CMU trial {trial!r} (only subject 35, trials 1-34)")
    return "run" if 17 <= n <= 26 else "navigate" if n == 27 else "walk"


@dataclass(frozen=True)
class WalkJog:
    """GPmat's ``cmu35WalkJog.mat``: CMU subject 35 at 30 fps (every 4th frame of the 120 fps AMC, from
    frame 1), 62 AMC channels in ASF bone order (degrees; root translation in ASF length units).

    train: 31 clips ``(T_i, 62)`` for ``train_trials`` (``Y`` split by the one-hot ``lbls``); test: 35_18
    (run, 44 frames) and 35_29 (walk, 125 frames) from ``Ytest``. ``*_styles`` are "walk" / "run".
    """

    train: list[np.ndarray]
    test: list[np.ndarray]
    train_trials: tuple[str, ...]
    test_trials: tuple[str, ...]
    train_styles: tuple[str, ...]
    test_styles: tuple[str, ...]
    channel_names: tuple[str, ...] = GPMAT_CHANNELS
    fps: float = 30.0

    def motions(self, skeleton: Skeleton) -> tuple[list[Motion], list[Motion]]:
        """(train, test) as Motion values on the CMU 35 skeleton (e.g. ``read_asf(data_path(
        "mocap/cmu/35/35.asf"))``), whose channels must be exactly these 62."""
        if tuple(skeleton.channel_names) != self.channel_names:
            raise CRBMError("the skeleton's channels are not the 62 CMU subject-35 AMC channels of the GPmat "
                            "set")

        def build(clips, trials):
            return [Motion(skeleton, x, self.fps, name=n) for x, n in zip(clips, trials, strict=True)]

        return build(self.train, self.train_trials), build(self.test, self.test_trials)


def load_gpmat_walkjog(path: str | os.PathLike | None = None, *, download: bool = False) -> WalkJog:
    """Load GPmat's CMU-35 walk/jog split (see :class:`WalkJog`); ``download=True`` fetches the file from
    GPmat on GitHub (pinned commit, SHA-256 checked) into the cache when it is not found."""

    relative = "mocap/gpmat/cmu35WalkJog.mat"
    file = fetch_file(relative, path=path, download_ok=download, url=SOURCES[relative])
    d = read_mat(file)
    for key, shape in (("Y", (None, 62)), ("lbls", (None, 31)), ("Ytest", (169, 62)), ("lblstest", (169, 2))):
        got = d.get(key)
        bad = got is None or got.ndim != 2
        if bad or any(s not in (None, g) for s, g in zip(shape, got.shape, strict=True)):
            raise CRBMError(f"{file}: expected variable {key!r} of shape {shape}, got "
                            f"{None if got is None else got.shape}")
    y, lbls = d["Y"].astype(np.float64), d["lbls"]
    if len(y) != len(lbls) or not np.all(lbls.sum(axis=1) == 1):
        raise CRBMError(f"{file}: 'lbls' must be one-hot with one row per row of 'Y'")
    seq = lbls.argmax(axis=1)
    if np.any(np.diff(seq) < 0):
        raise CRBMError(f"{file}: the sequences in 'Y' are not contiguous in 'lbls' order")
    train = [y[seq == s] for s in range(lbls.shape[1])]
    test_seq = d["lblstest"].argmax(axis=1)
    test = [d["Ytest"][test_seq == s].astype(np.float64) for s in range(2)]
    return WalkJog(
        train=train, test=test, train_trials=GPMAT_TRAIN_TRIALS, test_trials=GPMAT_TEST_TRIALS,
        train_styles=tuple(cmu35_style(t) for t in GPMAT_TRAIN_TRIALS),
        test_styles=tuple(cmu35_style(t) for t in GPMAT_TEST_TRIALS),
    )


# ---------------------------------------------------------------------------------------------------
# Taylor's MIT walking data


@dataclass(frozen=True)
class MitMotion:
    """Taylor's ``motion.mat`` (MIT data, Eugene Hsu): 3 clips of 108 columns, 18 joints x 6 columns.

    For joint j, ``clip[:, rotation_columns[j]]`` is its exponential-map rotation (radians) and
    ``clip[:, offset_columns[j]]`` its offset from the parent (constant except the root's, which is the
    root position; mm). ``parents[j]`` is -1 for the root. 49 columns vary. The file stores no frame rate
    (the gait period suggests about 30 fps), so ``fps`` is None. The kinematic convention of the exp maps
    (frame of each rotation) is that of Taylor's MATLAB code and is not reproduced here.
    """

    clips: list[np.ndarray]
    parents: tuple[int, ...]
    rotation_columns: tuple[tuple[int, int, int], ...]
    offset_columns: tuple[tuple[int, int, int], ...]
    skeleton_type: str
    fps: float | None = None

    @property
    def channel_names(self) -> list[str]:
        """``j<k>.e0..e2`` and ``j<k>.o0..o2`` per column (joint k's exp map and offset)."""
        names = [""] * 108
        for j, (rot, off) in enumerate(zip(self.rotation_columns, self.offset_columns, strict=True)):
            for i in range(3):
                names[rot[i]], names[off[i]] = f"j{j}.e{i}", f"j{j}.o{i}"
        return names


def load_mit_motion(path: str | os.PathLike | None = None) -> MitMotion:
    """Load Taylor's MIT walking data ``motion.mat`` (see :class:`MitMotion`)."""

    file = data_path("mocap/mit/motion.mat", path=path)
    d = read_mat(file)
    if "Motion" not in d or "skel" not in d:
        found = sorted(k for k in d if not k.startswith("_"))
        raise CRBMError(f"{file}: expected variables 'Motion' and 'skel', got {found}")
    clips = [np.asarray(c, dtype=np.float64) for c in d["Motion"].ravel()]
    skel = d["skel"][0, 0]
    tree = skel["tree"].ravel()
    parents, rot, off = [], [], []
    for node in tree:
        parents.append(int(node["parent"].ravel()[0]) - 1 if node["parent"].size else -1)
        rot.append(tuple(int(c) - 1 for c in node["or"].ravel()))
        off.append(tuple(int(c) - 1 for c in node["offset"].ravel()))
    width = 6 * len(tree)
    if any(c.ndim != 2 or c.shape[1] != width for c in clips):
        raise CRBMError(f"{file}: every clip must have {width} columns (6 per joint), got "
                        f"{[c.shape for c in clips]}")
    return MitMotion(clips=clips, parents=tuple(parents), rotation_columns=tuple(rot),
                     offset_columns=tuple(off), skeleton_type=str(np.ravel(skel["type"])[0]))


# ---------------------------------------------------------------------------------------------------
# CMU ASF/AMC trials


def _cmu_file(subject: str, name: str, path, download: bool) -> Path:
    if path is not None and (Path(path).expanduser() / name).is_file():
        return verify_data_file(Path(path).expanduser() / name, f"mocap/cmu/{subject}/{name}")
    url = f"{CMU_URL}{subject}/{name}"
    return fetch_file(f"mocap/cmu/{subject}/{name}", path=path, download_ok=download, url=url, text=True)


def cmu_skeleton(subject: int | str, *, path: str | os.PathLike | None = None,
                 download: bool = False) -> Skeleton:
    """The CMU subject's skeleton ``<subject>.asf`` (found and downloaded as in :func:`cmu_trials`)."""
    from crbm.mocap.acclaim import read_asf

    subject = _subject(subject)
    return read_asf(_cmu_file(subject, f"{subject}.asf", path, download))


def cmu_trials(subject: int | str, trials: Sequence[int], *, path: str | os.PathLike | None = None,
               download: bool = False, fps: float = 120.0) -> list[Motion]:
    """CMU database trials ``<subject>_<trial>.amc`` with their ``<subject>.asf`` as Motion values.

    Files are looked up as ``mocap/cmu/<subject>/...`` under ``path`` / ``$CRBM_DATA`` / the cache (or
    ``path`` may be the folder holding the files). ``download=True`` fetches missing files from
    mocap.cs.cmu.edu into the cache (or ``path``), checking the SHA-256 sums known for subject 35 (after
    CRLF -> LF); files of other subjects are stored unchecked. AMC has no frame rate: ``fps`` (CMU: 120).
    """
    from crbm.mocap.acclaim import read_amc

    subject = _subject(subject)
    bad = [t for t in trials if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 1]
    if bad:
        raise CRBMError(f"trials must be positive trial numbers (e.g. [1, 2] for {subject}_01 and _02), got {bad}")
    skeleton = cmu_skeleton(subject, path=path, download=download)
    return [read_amc(_cmu_file(subject, f"{subject}_{int(t):02d}.amc", path, download), skeleton, fps=fps)
            for t in trials]


def _subject(subject: int | str) -> str:
    text = str(subject).strip()
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise CRBMError(f"subject must be a CMU subject number such as 35, got {subject!r}")
    return str(int(text))
