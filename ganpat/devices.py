"""Device selection for ``--device auto|cpu|cuda|cuda:N|mps``."""

from __future__ import annotations

import re

import torch

from ganpat.errors import UsageProblem

DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(spec: str) -> torch.device:
    """Return the torch device for ``spec``; raise UsageProblem when it is not present."""
    spec = spec.strip().lower()
    if not DEVICE_RE.fullmatch(spec):
        raise UsageProblem(f"invalid --device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageProblem(f"--device {spec}: no CUDA device is available here; use --device cpu or auto")
        device = torch.device(spec)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageProblem(
                f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                f"numbered from 0"
            )
        return device
    if spec == "mps" and not _mps_available():
        raise UsageProblem("--device mps: Apple's MPS backend is not available here; use --device cpu or auto")
    return torch.device(spec)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
