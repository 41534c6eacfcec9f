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
