"""Where a ``files`` source may read from: the allowed roots, checked before any byte is read.

A data set read from files names its files in its spec (``source.options.uri``); a manual run or a
template may override that URI (the ingest form's *Source override*). Either way the source may
only read under an **allowed root**:

* the directory of the spec's own ``uri`` (the part before ``{date}`` and any glob),
* the lake's landing folder for the data set, ``<lake>/landing/<dataset>/``,
* every root the profile lists under ``sources.allowed_roots``.

Local paths are resolved first (``..`` and symlinks, :func:`os.path.realpath`): the pattern's folder
before the listing, and every file it matches after the listing and before it is opened, so a
symlink inside an allowed folder that points elsewhere is refused too. Object-store URIs must
match a root's protocol and bucket/prefix after ``..`` is folded. A refusal raises
:class:`SourceRefused` (a ``ValueError``: the stage exits 2, no retry); its message names the rule and
the allowed roots, never anything read from the file.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Sequence
from typing import Final

from tradewind.data.spec import DatasetSpec
from tradewind.storage import LakePath, as_path, is_local, uri

LANDING: Final = "landing"
GLOB_CHARS: Final = "*?["
# Protocol spellings that name the same store.
_PROTOCOLS: Final = {"s3a": "s3", "gcs": "gs", "": "file", "local": "file"}
RULE: Final = (
    "a files source may only read under the allowed roots (the directory of the spec's source uri, "
    "the lake's landing/<dataset>/ folder and the profile's sources.allowed_roots; '..' and symlinks are "
    "resolved before the check)"
)


class SourceRefused(ValueError):
    """A source lies outside the allowed roots; nothing was read."""


def static_dir(pattern: str) -> str:
    """The folder of a URI pattern before its first ``{placeholder}`` or glob character."""
    cut = min([i for i in (pattern.find(c) for c in ("{", *GLOB_CHARS)) if i >= 0], default=len(pattern))
    head = pattern[:cut]
    if cut == len(pattern) or head.endswith("/"):
        return head.rstrip("/") if cut == len(pattern) else head
    return head.rsplit("/", 1)[0]


def default_roots(spec: DatasetSpec, lake_root: str | LakePath) -> list[str]:
    """The roots every data set may read from: its spec's source folder and its landing folder."""
    roots = [f"{uri(as_path(lake_root)).rstrip('/')}/{LANDING}/{spec.name}"]
    if spec.source.kind == "files":
        roots.insert(0, static_dir(spec.source.files.uri))
    return roots


def _split(location: str) -> tuple[str, str]:
    """``(protocol, normalized path)`` of a URI or plain path; local paths are fully resolved."""
    path = as_path(location)
    if is_local(path):
        return "file", os.path.realpath(path.path)
    protocol = getattr(path, "protocol", "") or ""
    protocol = protocol[0] if isinstance(protocol, tuple | list) else protocol
    folded = posixpath.normpath("/" + str(path.path).lstrip("/")).lstrip("/")
    return _PROTOCOLS.get(protocol, protocol), folded


def _under(location: tuple[str, str], root: tuple[str, str]) -> bool:
    (protocol, path), (root_protocol, root_path) = location, root
    if protocol != root_protocol or not root_path.strip("/"):
        return False
    base = root_path.rstrip("/")
    return path == base or path.startswith(base + "/")


def sanitized(text: str, limit: int = 300) -> str:
    """``text`` as printable ASCII, cut to ``limit`` characters (safe to log and to show)."""
    clean = "".join(ch if ch.isprintable() and ch.isascii() else "?" for ch in text)
    return clean if len(clean) <= limit else clean[:limit] + "..."


def check_location(location: str, roots: Sequence[str], *, what: str = "source") -> None:
    """Refuse ``location`` (a URI, path or URI pattern) unless it lies under one of ``roots``."""
    if not roots:
        raise SourceRefused(f"{what} refused: no allowed roots are configured; {RULE}")
    target = _split(static_dir(location) if any(c in location for c in GLOB_CHARS) else location)
    if not any(_under(target, _split(root)) for root in roots):
        raise SourceRefused(
            f"{what} '{sanitized(location)}' refused: {RULE}. Allowed roots: {', '.join(sanitized(r) for r in roots)}"
        )


def check_matches(base: LakePath, matches: Iterable[str], roots: Sequence[str]) -> None:
    """Refuse when any listed file (a path on ``base``'s file system) resolves outside ``roots``."""
    protocol = None if is_local(base) else _split(uri(base))[0]
    for match in matches:
        check_location(match if protocol is None else f"{protocol}://{match}", roots, what="source file")
