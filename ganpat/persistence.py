"""Saving and loading generators: TorchScript (the default) and torch.export (.pt2).

The ganpat metadata travels inside the file as JSON (``_extra_files`` for
TorchScript, ``extra_files`` for .pt2). torch serializes into memory, and
:func:`ganpat.file_writes.atomic_write` writes the bytes, so an existing file is
never left half replaced and a failed write is reported with the OS error's reason.
(Given a path, torch.jit.save in torch 2.13 can abort the process on a short write.)
Before torch reads a model or a checkpoint, the zip CRCs of its members are
checked, because torch does not check them and would load damaged weights.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ganpat.errors import GanpatError, UsageProblem
# re-exported for the modules that import them from here
from ganpat.file_writes import atomic_write, check_writable, file_mode_for  # noqa: F401

_log = logging.getLogger(__name__)

METADATA_FILE = "ganpat.json"
FORMAT_VERSION = 1


@contextlib.contextmanager
def quiet_jit() -> Iterator[None]:
    """Hide the DeprecationWarning that torch.jit raises from PyTorch 2.13 on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        yield


def save_torchscript(generator: nn.Module, path: Path, metadata: dict[str, Any]) -> None:
    """Script ``generator`` in eval mode on the CPU and save it with ``metadata``."""
    model = generator.to("cpu").eval()
    with quiet_jit():
        scripted = torch.jit.script(model)
    extra = {METADATA_FILE: json.dumps(metadata, indent=2, sort_keys=True)}

    buffer = io.BytesIO()
    with quiet_jit():
        torch.jit.save(scripted, buffer, _extra_files=extra)
    write_bytes(path, buffer.getvalue())


def export_program(generator: nn.Module, latent_size: int, path: Path, metadata: dict[str, Any]) -> None:
    """Save ``generator`` as a torch.export program with a dynamic batch dimension."""
    example = torch.randn(4, latent_size)
    batch = torch.export.Dim("batch", min=1)
    # Traced without gradients, a branch on grad mode (such as the one-hot head's) keeps its inference
    # side, and the converter's warning that such a branch becomes a constant is expected.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Pred is a Python constant", category=UserWarning)
        program = _export(generator, example, batch)
    extra = {METADATA_FILE: json.dumps(metadata, indent=2, sort_keys=True)}
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files=extra)
    write_bytes(path, buffer.getvalue())


def _export(generator: nn.Module, example: torch.Tensor, batch: Any) -> torch.export.ExportedProgram:
    """Trace ``generator`` (an nn.Module, a ScriptModule or a loaded program) with torch.export."""
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
        return torch.export.export(traceable, (example,), dynamic_shapes=({0: batch},))
    except Exception as error:
        raise GanpatError(f"torch.export could not trace this generator: {error}") from error


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through atomic_write."""
    atomic_write(path, lambda temporary: temporary.write_bytes(data))


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
    _check_checksums(path)
    if path.suffix == ".pt2":
        return _load_program(path, device)
    extra = {METADATA_FILE: ""}
    try:
        with quiet_jit(), quiet_torch_logs():
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except Exception as error:
        _log.debug("torch.jit.load failed on %s", path, exc_info=True)
        raise GanpatError(f"cannot load {path}: {_describe_bad_file(path, error)}") from None
    metadata = _parse_metadata(path, extra[METADATA_FILE])
    latent = metadata.get("latent_size") or _infer_latent_size(module)
    if latent is None:
        raise GanpatError(f"cannot load {path}: cannot tell the generator's latent size from its parameters")
    return LoadedGenerator(module, metadata, int(latent), path)


def _load_program(path: Path, device: torch.device | str) -> LoadedGenerator:
    extra = {METADATA_FILE: ""}
    try:
        with quiet_torch_logs():
            program = torch.export.load(str(path), extra_files=extra)
    except Exception as error:
        _log.debug("torch.export.load failed on %s", path, exc_info=True)
        raise GanpatError(f"cannot load {path}: {_describe_bad_file(path, error)}") from None
    metadata = _parse_metadata(path, extra[METADATA_FILE])
    module = program.module().to(device)
    latent = metadata.get("latent_size") or _infer_latent_size(module)
    if latent is None:
        raise GanpatError(f"cannot load {path}: the .pt2 file records no latent size")
    return LoadedGenerator(module, metadata, int(latent), path)


@contextlib.contextmanager
def quiet_torch_logs() -> Iterator[None]:
    """Hide the log records and warnings that torch emits while it reads a file, unless --verbose is on.

    torch.export.load logs a whole traceback at WARNING level before it raises on a bad
    file; ganpat reports the failure itself in one line.
    """
    if _log.isEnabledFor(logging.DEBUG):
        yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _check_checksums(path: Path) -> None:
    """Raise GanpatError when a zip-based model (TorchScript or .pt2) has a member whose CRC does not match."""
    damage = find_damage(path)
    if damage is not None:
        raise GanpatError(f"cannot load {path}: the file is damaged ({damage})")


def find_damage(path: Path) -> str | None:
    """Return what is wrong with the zip archive at ``path`` (a bad CRC or a broken header), or None.

    A file that is not a zip archive returns None; the loader reports it.
    """
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as error:
        # damage in a member's header surfaces as other errors too, such as a UnicodeDecodeError (a ValueError)
        return f"{type(error).__name__}: {error}"
    if damaged is not None:
        return f"checksum mismatch in {damaged}"
    return None


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
    is_program = any(name.endswith(("/archive_format", "/models/model.json")) for name in names)
    is_torchscript = any("/code/" in name for name in names)
    if is_program and path.suffix != ".pt2":
        return f"it looks like a torch.export program; name it {path.with_suffix('.pt2').name}"
    if is_torchscript and path.suffix == ".pt2":
        return f"it looks like a TorchScript file, not a torch.export program; name it {path.with_suffix('.pt').name}"
    if is_torchscript:
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
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise UsageProblem(f"no checkpoint to resume from: {path} does not exist; train without --resume first")
    damage = find_damage(path)
    if damage is not None:
        raise GanpatError(f"cannot read checkpoint {path}: the file is damaged ({damage})")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:
        # torch's own message runs to several lines, so it goes to the --verbose log
        _log.debug("torch.load failed on %s", path, exc_info=True)
        raise GanpatError(
            f"cannot read checkpoint {path}: it is not a ganpat checkpoint, or it is truncated or damaged "
            f"({type(error).__name__}); train again without --resume"
        ) from None


def metadata_text(metadata: dict[str, Any]) -> str:
    buffer = io.StringIO()
    json.dump(metadata, buffer, indent=2, sort_keys=True)
    return buffer.getvalue()
