"""Saving and loading generators: TorchScript (the default) and torch.export (.pt2).

The ganpat metadata travels inside the file as JSON (``_extra_files`` for
TorchScript, ``extra_files`` for .pt2). Every write goes to a temporary file in the
target folder and is renamed into place, so an existing file is never left half
replaced.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ganpat.errors import GanpatError, UsageProblem

METADATA_FILE = "ganpat.json"
FORMAT_VERSION = 1


@contextlib.contextmanager
def quiet_jit() -> Iterator[None]:
    """Hide the DeprecationWarning that torch.jit raises from PyTorch 2.13 on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        yield


def atomic_write(path: Path, write: Callable[[Path], None], suffix: str = ".tmp") -> None:
    """Call ``write(temporary_path)`` in ``path``'s folder, then rename the result to ``path``.

    ``suffix`` ends the temporary file's name, for writers that check it (torch.export.save wants .pt2).
    """
    handle, temporary = _create_temporary(path, suffix)
    os.close(handle)
    try:
        write(Path(temporary))
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        # mkstemp creates the file as 0600; give it the mode a plain open() would
        os.chmod(temporary, file_mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def check_writable(path: Path) -> None:
    """Raise UsageProblem unless a file can be created in ``path``'s folder, creating missing folders."""
    handle, probe = _create_temporary(path, ".probe")
    os.close(handle)
    os.unlink(probe)


def _create_temporary(path: Path, suffix: str) -> tuple[int, str]:
    """Create the folders above ``path`` and an empty temporary file beside it; return mkstemp's result."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except (FileExistsError, NotADirectoryError) as error:
        reason = f"{error.filename} is a file, not a folder"
    except OSError as error:
        reason = f"{error.strerror or error} in {path.parent}"
    raise UsageProblem(f"cannot write {path}: {reason}; choose a path in a folder you can write to")


def file_mode_for(path: Path) -> int:
    """Return the permission bits of the existing ``path``, else 0666 less the process umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def save_torchscript(generator: nn.Module, path: Path, metadata: dict[str, Any]) -> None:
    """Script ``generator`` in eval mode on the CPU and save it with ``metadata``."""
    model = generator.to("cpu").eval()
    with quiet_jit():
        scripted = torch.jit.script(model)
    extra = {METADATA_FILE: json.dumps(metadata, indent=2, sort_keys=True)}

    def write(temporary: Path) -> None:
        with quiet_jit():
            torch.jit.save(scripted, str(temporary), _extra_files=extra)

    atomic_write(path, write)


def export_program(generator: nn.Module, latent_size: int, path: Path, metadata: dict[str, Any]) -> None:
    """Save ``generator`` as a torch.export program with a dynamic batch dimension."""
    example = torch.randn(4, latent_size)
    batch = torch.export.Dim("batch", min=1)
    try:
        if isinstance(generator, torch.jit.ScriptModule):
            # torch.export cannot trace a ScriptModule, so convert its graph to an exported program first;
            # the converted module is already in eval mode and rejects .eval().
            # NOTE: TS2EPConverter lives in the private torch._export package (present in torch 2.13).
            from torch._export.converter import TS2EPConverter

            with quiet_jit():
                traceable = TS2EPConverter(generator.to("cpu").eval(), (example,)).convert().module()
        elif isinstance(generator, torch.fx.GraphModule):
            # the module of a loaded .pt2 program: already traced, and it rejects .eval() too
            traceable = generator.to("cpu")
        else:
            traceable = generator.to("cpu").eval()
        program = torch.export.export(traceable, (example,), dynamic_shapes=({0: batch},))
    except Exception as error:
        raise GanpatError(f"torch.export could not trace this generator: {error}") from error
    extra = {METADATA_FILE: json.dumps(metadata, indent=2, sort_keys=True)}
    atomic_write(
        path, lambda temporary: torch.export.save(program, str(temporary), extra_files=extra), suffix=".tmp.pt2"
    )


@dataclass
class LoadedGenerator:
    """A generator ready to call on latent batches, with its metadata (empty for a plain file)."""

    module: Callable[[torch.Tensor], torch.Tensor]
    metadata: dict[str, Any]
    latent_size: int
    path: Path

    @property
    def pattern_name(self) -> str | None:
        return self.metadata.get("pattern")


def read_metadata(path: Path) -> dict[str, Any]:
    """Read only the metadata of a TorchScript or .pt2 file."""
    return load_generator(path).metadata


def load_generator(path: Path | str, device: torch.device | str = "cpu") -> LoadedGenerator:
    """Load a TorchScript or .pt2 generator onto ``device``; raise GanpatError when the file is not one."""
    path = Path(path)
    _check_readable(path)
    if path.suffix == ".pt2":
        return _load_program(path, device)
    extra = {METADATA_FILE: ""}
    try:
        with quiet_jit():
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except Exception as error:
        raise GanpatError(f"cannot load {path}: {_describe_bad_file(path, error)}") from None
    metadata = _parse_metadata(path, extra[METADATA_FILE])
    latent = metadata.get("latent_size") or _infer_latent_size(module)
    if latent is None:
        raise GanpatError(f"cannot load {path}: cannot tell the generator's latent size from its parameters")
    return LoadedGenerator(module, metadata, int(latent), path)


def _load_program(path: Path, device: torch.device | str) -> LoadedGenerator:
    extra = {METADATA_FILE: ""}
    try:
        program = torch.export.load(str(path), extra_files=extra)
    except Exception as error:
        raise GanpatError(f"cannot load {path}: {_describe_bad_file(path, error)}") from None
    metadata = _parse_metadata(path, extra[METADATA_FILE])
    module = program.module().to(device)
    latent = metadata.get("latent_size") or _infer_latent_size(module)
    if latent is None:
        raise GanpatError(f"cannot load {path}: the .pt2 file records no latent size")
    return LoadedGenerator(module, metadata, int(latent), path)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise UsageProblem(f"model file {path} does not exist")
    if path.is_dir():
        raise UsageProblem(f"model path {path} is a folder; give the generator file inside it")
    if path.stat().st_size == 0:
        raise GanpatError(f"cannot load {path}: the file is empty")


def _describe_bad_file(path: Path, error: Exception) -> str:
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            head = handle.read(512)
        if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
            return "it is a text file, not a saved generator"
        return "it is not a TorchScript or torch.export file (it may be truncated or corrupt)"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(name.endswith("/code/__torch__.py") or "/code/" in name for name in names):
        return f"the TorchScript archive is damaged ({type(error).__name__})"
    if any(name.endswith("data.pkl") for name in names):
        return (
            "it is a torch.save file (a state dict or pickled object), not a scripted generator; "
            "save the generator with torch.jit.script(G).save(path) or train it with ganpat"
        )
    return f"it is a zip archive but not a saved generator ({type(error).__name__})"


def _parse_metadata(path: Path, text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise GanpatError(f"cannot load {path}: its ganpat metadata is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise GanpatError(f"cannot load {path}: its ganpat metadata is not a JSON object")
    return data


def _infer_latent_size(module: Any) -> int | None:
    """Guess the latent size of a plain generator from the input width of its first weight matrix."""
    for _, parameter in module.named_parameters():
        if parameter.dim() == 2:
            return int(parameter.shape[1])
    return None


def checkpoint_path(model_path: Path) -> Path:
    """Return the checkpoint file that belongs to ``model_path``."""
    return model_path.with_name(model_path.name + ".ckpt")


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    atomic_write(path, lambda temporary: torch.save(state, str(temporary)))


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise UsageProblem(f"no checkpoint to resume from: {path} does not exist; train without --resume first")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:
        raise GanpatError(f"cannot read checkpoint {path}: {type(error).__name__}: {error}") from None


def metadata_text(metadata: dict[str, Any]) -> str:
    buffer = io.StringIO()
    json.dump(metadata, buffer, indent=2, sort_keys=True)
    return buffer.getvalue()
