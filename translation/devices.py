"""Which torch device a job runs on: the `--device` of `dvp train`, `dvp reenact`, `dvp edit` and `dvp evaluate`.

`auto` takes the GPU when torch sees one, so a render-farm node with a GPU uses
it and this project's CPU machines need no flag; naming a GPU that is not there
is refused before any work, with what to do instead.
"""
from __future__ import annotations

import torch

from base.errors import DvpError


def resolve_device(name: str) -> torch.device:
    """The torch device called `name` (auto, cpu, cuda or cuda:N), or a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DvpError(f"--device {name!r} is not a device; use auto, cpu or cuda") from None
    if device.type not in ("cpu", "cuda"):
        raise DvpError(f"--device {name}: dvp runs on cpu or cuda")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = f"with CUDA {torch.version.cuda}" if torch.version.cuda else "for CPU only"
            raise DvpError(f"--device {name}: torch sees no CUDA GPU here (torch {torch.__version__}, built {built}); "
                           "use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DvpError(f"--device {name}: there are {torch.cuda.device_count()} GPUs here (cuda:0 to "
                           f"cuda:{torch.cuda.device_count() - 1})")
    return device
