"""Writing output files so that a failure never leaves a half-written or replaced file.

A regular file is written to a temporary file in its folder, which is then renamed
over it. A symbolic link is followed: the file it points to is replaced the same
way, and the link stays. A target that exists and is neither a regular file nor a
folder (a character device such as /dev/null, a FIFO, a socket) would be destroyed
by a rename, so it is opened and written in place.

A failed write (disk full, file too large, I/O error) raises :class:`WriteFailed`,
which the command line shows as one line with exit status 1.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from ganpat.errors import GanpatError, UsageProblem

# Messages of the RuntimeError that torch's zip writer (PyTorchStreamWriter) raises when a write to a path
# stops short. ganpat's own saves serialize into memory first, but a plugin's writer may give torch the path.
TORCH_SHORT_WRITE = ("unexpected pos", "PytorchStreamWriter failed")


# suffixes of the files that training writes and that a sample or a picture must never replace
TORCH_FILE_SUFFIXES = (".pt", ".pt2", ".ckpt")


def check_not_torch_file(path: Path, content: str) -> None:
    """Raise UsageProblem when writing ``content`` (samples, a picture) to ``path`` would replace a model or a checkpoint.

    The check follows symbolic links. It rejects a target named like a model or a
    checkpoint, and an existing regular file that is a zip archive, as every torch
    file is and no sample or picture file is.
    """
    target = Path(os.path.realpath(path))
    named = str(path) if target == Path(os.path.abspath(path)) else f"{path} (a link to {target})"
    if target.suffix.lower() in TORCH_FILE_SUFFIXES:
        raise UsageProblem(
            f"{named} is named like a model or checkpoint file ({target.suffix}); write the {content} to another file"
        )
    if target.is_file() and zipfile.is_zipfile(target):
        raise UsageProblem(f"{named} is a zip archive, such as a model or checkpoint; write the {content} to another file")


class WriteFailed(GanpatError):
    """An output file could not be written; exit status 1."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path


def atomic_write(path: Path, write: Callable[[Path], None], suffix: str = ".tmp") -> None:
    """Call ``write(temporary_path)`` in ``path``'s folder, then rename the result to ``path``.

    ``suffix`` ends the temporary file's name, for writers that check it.
    A device, FIFO or socket at ``path`` is passed to ``write`` itself. Raise WriteFailed
    when ``write`` fails with an OSError, after removing the temporary file.
    """
    target, in_place = write_target(path)
    if in_place:
        _write_in_place(path, write)
        return

    # NOTE: a KeyboardInterrupt raised after mkstemp creates the file and before the try block starts
    # leaves that empty temporary file behind.
    handle, temporary = _create_temporary(target, suffix)
    os.close(handle)
    try:
        write(Path(temporary))
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        # mkstemp creates the file as 0600; give it the mode a plain open() would
        os.chmod(temporary, file_mode_for(target))
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        reason = write_failure(error)
        if reason is None:
            raise
        raise WriteFailed(path, reason) from error


def write_target(path: Path) -> tuple[Path, bool]:
    """Return the file to write for ``path`` and whether it must be written in place.

    A symbolic link to a regular file, or a dangling one, resolves to the file it points to.
    """
    try:
        mode: int | None = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        return path, True
    if os.path.islink(path):
        return Path(os.path.realpath(path)), False
    return path, False


def write_failure(error: BaseException) -> str | None:
    """Return the reason to show when ``error`` means that writing a file failed, else None."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    if isinstance(error, RuntimeError) and any(text in str(error) for text in TORCH_SHORT_WRITE):
        return "the write stopped short (the disk may be full or the file too large)"
    return None


def check_writable(path: Path) -> None:
    """Raise UsageProblem unless a file can be created in ``path``'s folder, creating missing folders."""
    target, in_place = write_target(path)
    if in_place:
        return
    handle, probe = _create_temporary(target, ".probe")
    os.close(handle)
    os.unlink(probe)


def file_mode_for(path: Path) -> int:
    """Return the permission bits of the existing ``path``, else 0666 less the process umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write_in_place(path: Path, write: Callable[[Path], None]) -> None:
    # no rename is possible, so no fsync either (a FIFO rejects it)
    try:
        write(path)
    except BaseException as error:
        reason = write_failure(error)
        if reason is None:
            raise
        raise WriteFailed(path, reason) from error


def _create_temporary(path: Path, suffix: str) -> tuple[int, str]:
    """Create the folders above ``path`` and an empty temporary file beside it; return mkstemp's result."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except (FileExistsError, NotADirectoryError) as error:
        reason = f"{error.filename} is a file, not a folder"
    except OSError as error:
        reason = f"{error.strerror or error} in {_deepest_existing(path.parent)}"
    raise UsageProblem(f"cannot write {path}: {reason}; choose a path in a folder you can write to")


def _deepest_existing(folder: Path) -> Path:
    """Return ``folder`` or its nearest ancestor that exists, the folder that refused the new entry."""
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder
