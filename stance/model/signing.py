"""Signing runs: a model file runs code when it is unpickled, so a run is opened only when its
manifest carries this user's signature (an HMAC-SHA256 of the manifest's bytes under a key kept in
the user's config directory, mode 0600). A run made elsewhere is signed once the user trusts it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from stance.errors import StanceError

SIGNATURE = "manifest.sig"
CONFIG_ENV = "STANCE_CONFIG_DIR"
#: A new signing key's length; a shorter key than MIN_KEY_BYTES is refused.
KEY_BYTES = 32
MIN_KEY_BYTES = 16


def config_dir() -> Path:
    """This user's stance settings: ``$STANCE_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/stance`` or ``~/.config/stance``."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "stance"


def signing_key() -> bytes:
    """This user's key for signing runs, made at random on first use and kept 0600. A key that others
    may read or write, that is empty or short, or that is not hex is refused: any of these would let
    someone else sign a model that runs code here."""
    path = config_dir() / "signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return _read_key(path)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(KEY_BYTES) + "\n")
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    """The key file's bytes, opened once (no symlink followed) and checked on that open file."""
    fix = f"remove it to have a new one made (runs signed with it must then be trusted again), or `chmod 600 {path}`"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise StanceError(f"{path}: the signing key cannot be read ({exc.strerror}); {fix}") from None
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        raise StanceError(f"{path}: the signing key is not a regular file; {fix}")
    with os.fdopen(fd, "rb") as fh:
        if status.st_mode & 0o077:
            raise StanceError(f"{path}: the signing key may be read or written by others (mode "
                              f"{stat.S_IMODE(status.st_mode):o}); `chmod 600 {path}`, and trust again only runs "
                              "you made since it was exposed")
        text = fh.read(4 * KEY_BYTES + 16)
    try:
        key = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise StanceError(f"{path}: the signing key is not hex; {fix}") from None
    if len(key) < MIN_KEY_BYTES:
        raise StanceError(f"{path}: the signing key holds {len(key)} bytes, fewer than {MIN_KEY_BYTES}: anyone "
                          f"could forge a signature; {fix}")
    return key


def signature(manifest_bytes: bytes) -> str:
    return hmac.new(signing_key(), manifest_bytes, hashlib.sha256).hexdigest()


def sign_run(path: Path, manifest_bytes: bytes) -> None:
    """Sign the run at ``path`` with this user's key: its manifest's ``manifest_bytes`` (those checked)."""
    (Path(path) / SIGNATURE).write_text(signature(manifest_bytes) + "\n")


def check_signature(path: Path, manifest: bytes, error=StanceError) -> None:
    """Refuse (with ``error``) a run whose manifest bytes are not signed with this user's key."""
    signed_file = path / SIGNATURE
    if not signed_file.is_file():
        raise error(f"{path}: the run is not signed (made by an older stance, or elsewhere); if you trust "
                    f"where it came from, `stance experiments trust {path}` signs it with your key")
    with open(signed_file, "rb") as fh:
        signed = fh.read(256).strip()
    if not hmac.compare_digest(signed, signature(manifest).encode("ascii")):
        raise error(f"{path}: the run was not made by this user, or was changed since (its signature does "
                    "not match). Refusing to load it: a model file runs code when opened. If you trust where "
                    f"it came from, `stance experiments trust {path}` signs it with your key")
