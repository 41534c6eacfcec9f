"""Downloads of the data files: atomic, and checked against their published SHA-256 before anything is
written (``crbm.data.paths`` lists the sums and where each file comes from)."""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from crbm.data.paths import SHA256, data_path, user_cache
from crbm.engine.atomic import write_bytes
from crbm.engine.errors import CRBMError, FormatError


def _sha256_lf(data: bytes) -> str:
    """SHA-256 of the bytes with CRLF line endings turned into LF (binary files are unaffected in
    practice only if they contain no CRLF: it is applied to ASF/AMC text only)."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def download(url: str | Sequence[str], dest: Path, *, sha256: str | None, text: bool = False,
             timeout: float = 60.0) -> Path:
    """Fetch ``url`` into ``dest`` atomically; when ``sha256`` is given the content must match it
    (``text=True``: after CRLF -> LF). ``url`` may be a list of mirrors, tried in order until one serves the
    right bytes. When none does, nothing is written and CRBMError says what each one did."""
    failures = []
    for u in [url] if isinstance(url, str) else url:
        try:
            with urllib.request.urlopen(u, timeout=timeout) as response:  # noqa: S310 (fixed http(s) hosts)
                data = response.read()
        except OSError as err:  # URLError, timeouts, refused connections
            reason = getattr(err, "reason", err)
            failures.append(f"could not download {u} ({reason}); check the network, or put the file at {dest} by hand")
            continue
        digest = _sha256_lf(data) if text else hashlib.sha256(data).hexdigest()
        if sha256 is not None and digest != sha256:
            failures.append(f"download of {u} has SHA-256 {digest}, expected {sha256}; nothing was written")
            continue
        return write_bytes(dest, data)
    raise CRBMError("; ".join(failures) if failures else f"no address to download {dest.name} from")


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
    root = Path(path).expanduser() if path is not None else user_cache()
    return download(url, root / relative, sha256=SHA256.get(relative), text=text)
