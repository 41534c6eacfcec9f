"""Where the data sets live and how a file found there is checked.

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
import os
from pathlib import Path

from crbm.engine.errors import CRBMError, FormatError

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
}
# the CMU subjects' ASF/AMC files and the CMU prediction benchmark: ``sha256sums.txt`` beside this module
SHA256.update(
    (relative, digest)
    for digest, relative in (
        line.split() for line in (Path(__file__).parent / "sha256sums.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
)


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
    remedy = f"delete it and fetch it again (crbm fetch, or download=True) from {source(relative)}"
    return verify_file(file, sums, text=relative.endswith((".asf", ".amc")), sizes=SIZES, what=relative,
                       remedy=remedy)


def user_cache() -> Path:
    """The user cache folder (``~/.cache/crbm``, expanded): where downloads go when no ``path`` is given."""
    return CACHE.expanduser()


def data_folders(subfolder: str, path: str | os.PathLike | None = None) -> list[Path]:
    """The folders that may hold a data set kept in a folder of its own (``"mnist"``, ``"docs"``), in the
    order they are tried: ``path`` itself when given; else ``$CRBM_DATA/<subfolder>``, then the user cache's
    ``<subfolder>``."""
    if path is not None:
        return [Path(path).expanduser()]
    return [root / subfolder for _, root in _roots(None)]


def _roots(path: str | os.PathLike | None) -> list[tuple[str, Path]]:
    out = []
    if path is not None:
        out.append(("explicit path", Path(path).expanduser()))
    env = os.environ.get("CRBM_DATA")
    if env:
        out.append(("CRBM_DATA", Path(env).expanduser()))
    out.append(("user cache", user_cache()))
    return out


def source(relative: str) -> str:
    """Where the data file ``relative`` comes from (a URL or a description), for messages and downloads."""
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
        f"data file {relative!r} not found; tried {', '.join(tried)}. Get it from {source(relative)} and "
        f"put it at <folder>/{relative}, then pass path=<folder> or set CRBM_DATA=<folder>"
    )


def read_mat(file: Path) -> dict:
    """The variables of a MATLAB .mat file; FormatError when it is not one scipy can read."""
    import scipy.io
    from scipy.io.matlab import MatReadError

    try:
        return scipy.io.loadmat(file)
    except (MatReadError, ValueError, NotImplementedError, TypeError) as err:
        raise FormatError(file, f"not a readable MATLAB .mat file (v4-v7.2 expected): {err}") from None
