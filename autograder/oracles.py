"""What every TP's checks share: random inputs drawn from the grader's generator, gradients by autograd."""

from __future__ import annotations

from typing import Callable

import torch


def randn(gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64, scale: float = 1.0) -> torch.Tensor:
    """Normal values drawn in float64 from `gen` (the same draws whatever `dtype`), times `scale`, in `dtype`."""
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def gradients(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The gradient of the scalar `fn(*tensors)` with respect to each tensor (the inputs are not touched)."""
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    with torch.enable_grad():
        return torch.autograd.grad(fn(*leaves), leaves)
