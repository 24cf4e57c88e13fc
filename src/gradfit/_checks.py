"""Argument and matrix validation for ``gradfit.factorise``, run before any work."""

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._steps import OPTIMIZERS
from ._validate import check_rank
from .errors import InputError

__all__ = ["Settings", "check_arguments", "check_observed", "prepare_matrix"]

INITS = ("random", "spectral")
# Rows of A checked at once, so that no check needs an m x n temporary.
CHUNK_ROWS = 2048
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# Device types that store data. Tensors on "meta" have shapes but no values.
DEVICE_TYPES = ("cpu", "cuda", "mps")


@dataclass(frozen=True)
class Settings:
    """Validated placement and randomness of a run."""

    device: torch.device
    dtype: torch.dtype
    generator: torch.Generator


def check_arguments(
    A,
    rank,
    *,
    mask,
    missing,
    optimizer,
    lr,
    max_epochs,
    tol,
    l2,
    init,
    seed,
    device,
    dtype,
    callback,
    compare_svd,
):
    """Validate every argument of ``factorise`` and return its Settings.

    Raises TypeError for a wrong type and InputError for a wrong value; each
    message names the parameter, the value received and the rule.
    """
    shape = _check_matrix_type(A)
    m, n = shape
    check_rank(rank, m, n)
    if mask is not None:
        _check_mask(mask, shape)
    if missing not in (None, "nan"):
        raise InputError(f"missing={missing!r} is not supported; use None or 'nan'")

    if optimizer not in OPTIMIZERS:
        raise InputError(
            f"optimizer={optimizer!r} is not supported; use one of "
            + ", ".join(repr(name) for name in OPTIMIZERS)
        )
    if lr is not None:
        _check_number("lr", lr, positive=True)
    if (
        isinstance(max_epochs, bool)
        or not isinstance(max_epochs, (int, np.integer))
        or max_epochs < 1
    ):
        raise InputError(f"max_epochs={max_epochs!r} is invalid; use an integer >= 1")
    _check_number("tol", tol, positive=False)
    _check_number("l2", l2, positive=False)
    if init not in INITS:
        raise InputError(f"init={init!r} is not supported; use 'random' or 'spectral'")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    if not isinstance(compare_svd, bool):
        raise TypeError(f"compare_svd must be a bool, got {type(compare_svd).__name__}")

    return Settings(_check_device(device, A), _check_dtype(dtype, A), _generator(seed))


def prepare_matrix(A, mask, missing, device, dtype):
    """Return A as a tensor of ``dtype`` on ``device`` and the mask (or None).

    The cast happens once. The mask is None when every cell is observed.
    """
    if isinstance(A, np.ndarray):
        A = torch.from_numpy(np.ascontiguousarray(A))
    source = A
    A = A.to(device=device, dtype=dtype)
    if mask is not None:
        mask = torch.as_tensor(np.asarray(mask) if not torch.is_tensor(mask) else mask)
        mask = mask.to(device)
    if missing == "nan":
        observed = ~torch.isnan(A)
        mask = observed if mask is None else mask & observed
    if mask is not None and bool(mask.all()):
        mask = None
    if source.dtype == torch.float64 and dtype == torch.float32:
        _check_narrowing(source, mask)
    return A, mask


def _check_narrowing(source, mask):
    """Raise InputError when observed float64 values do not fit float32.

    A value beyond float32's range would become infinite, and a matrix whose
    largest value is below float32's smallest normal number would become zeros
    and subnormals.
    """
    limits = torch.finfo(torch.float32)
    peak = 0.0
    for start in range(0, source.shape[0], CHUNK_ROWS):
        block = source[start : start + CHUNK_ROWS].abs()
        if mask is not None:
            block = block.to(mask.device) * mask[start : start + CHUNK_ROWS]
        block = torch.nan_to_num(block, nan=0.0, posinf=0.0)
        peak = max(peak, block.max().item())
    if peak > limits.max:
        raise InputError(
            f"A contains the value {peak:.3g}, beyond the float32 range "
            f"(max {limits.max:.3g}); use dtype='float64' or divide A by a constant"
        )
    if 0 < peak < limits.tiny:
        raise InputError(
            f"the largest value of A, {peak:.3g}, is below float32's smallest normal "
            f"number {limits.tiny:.3g}, so float32 would round A to zero; use "
            "dtype='float64' or multiply A by a constant"
        )


def check_observed(A, mask, rank):
    """Raise InputError for non-finite observed cells or empty rows and columns.

    For a complete A, return ||A||_F^2 in float64, which the check computes on
    the way; return None otherwise.
    """
    if mask is None:
        # Block by block, because a whole-matrix pass allocates m x n
        # temporaries. A finite sum of squares proves a block finite, and only
        # a block whose sum is not finite (NaN, infinity, or squares beyond
        # float64's range) gets the slower cell-by-cell check.
        total = 0.0
        for start in range(0, A.shape[0], CHUNK_ROWS):
            block = A[start : start + CHUNK_ROWS]
            flat = block.double().reshape(-1)
            squares = torch.dot(flat, flat).item()
            if not math.isfinite(squares):
                _raise_non_finite(block, None, start)
            total += squares
        if not math.isfinite(total):
            raise InputError(
                "the sum of squares of A overflows float64 (entries near "
                f"{A.abs().max().item():.3g}); divide A by a constant first"
            )
        return total

    _raise_non_finite(A, mask, 0)
    for axis, name in ((1, "row"), (0, "column")):
        counts = mask.sum(dim=axis)
        empty = torch.nonzero(counts == 0).flatten()
        if empty.numel():
            k = int(empty[0])
            others = empty.numel() - 1
            also = f", and so do {others} other {name}s" if others else ""
            raise InputError(
                f"{name} index {k} ({name} {k + 1} counting from 1) of A has no "
                f"observed cell{also}; drop it or observe at least one cell in it"
            )
    count = int(mask.sum())
    if count < rank:
        raise InputError(
            f"A has {count} observed cells, fewer than rank={rank}; "
            "observe more cells or lower the rank"
        )
    return None


def _raise_non_finite(A, mask, row_offset):
    """Raise InputError naming the first observed non-finite cell of A, if any."""
    bad = ~torch.isfinite(A) if mask is None else mask & ~torch.isfinite(A)
    if not bool(bad.any()):
        return
    i, j = (int(k) for k in torch.nonzero(bad)[0])
    value = A[i, j].item()
    hint = (
        "; pass missing='nan' to treat NaN cells as missing"
        if math.isnan(value)
        else "; replace it with a finite number"
    )
    count = (
        "" if mask is None else f" ({int(bad.sum())} non-finite observed cells in all)"
    )
    raise InputError(f"A[{i + row_offset}, {j}] is {value} and observed{count}{hint}")


def _check_matrix_type(A):
    if not isinstance(A, (torch.Tensor, np.ndarray)):
        raise TypeError(
            f"A must be a torch.Tensor or numpy.ndarray, got {type(A).__name__}"
        )
    if A.ndim != 2:
        raise InputError(f"A must be a matrix (2-D), got shape {tuple(A.shape)}")
    if isinstance(A, np.ndarray):
        if A.dtype.kind not in "iuf":
            raise TypeError(
                f"A must be real floating point or integer, got dtype {A.dtype}"
            )
    elif A.is_complex() or A.dtype == torch.bool:
        raise TypeError(
            f"A must be real floating point or integer, got dtype {A.dtype}"
        )
    elif A.layout != torch.strided or A.device.type not in DEVICE_TYPES:
        raise TypeError(
            f"A must be a dense tensor on a {', '.join(DEVICE_TYPES)} device, got "
            f"layout {A.layout} on device {A.device}; convert it with "
            "A.to_dense() or A.cpu()"
        )
    m, n = A.shape
    if m == 0 or n == 0:
        raise InputError(f"A is empty (shape {m}x{n}); give a non-empty matrix")
    return (m, n)


def _check_mask(mask, shape):
    if not isinstance(mask, (torch.Tensor, np.ndarray)):
        raise TypeError(
            f"mask must be a bool tensor or array, got {type(mask).__name__}"
        )
    if (
        (mask.dtype != torch.bool)
        if torch.is_tensor(mask)
        else (mask.dtype != np.bool_)
    ):
        raise TypeError(f"mask must have dtype bool, got {mask.dtype}")
    if tuple(mask.shape) != tuple(shape):
        raise InputError(
            f"mask has shape {tuple(mask.shape)} but A has shape {tuple(shape)}; "
            "give a mask of the same shape as A"
        )


def _check_number(name, value, *, positive):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        rule = "a positive finite number" if positive else "a finite number >= 0"
        raise InputError(f"{name}={value!r} is invalid; use {rule}")


def _check_device(device, A):
    # NOTE: no test runs on a GPU, so factorise on CUDA is unverified beyond
    # this check.
    if device is None:
        return A.device if torch.is_tensor(A) else torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(
            f"device={device!r} is not a valid torch device; use e.g. 'cpu' or 'cuda'"
        ) from None
    if device.type not in DEVICE_TYPES:
        raise InputError(
            f"device={str(device)!r} is not supported; use one of "
            + ", ".join(repr(name) for name in DEVICE_TYPES)
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"device={str(device)!r} is not available because this torch build "
            "finds no CUDA GPU; use device='cpu'"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(
            f"device={str(device)!r} is not available on this machine; use device='cpu'"
        )
    return device


def _check_dtype(dtype, A):
    if dtype is None:
        if torch.is_tensor(A) and A.dtype in (torch.float32, torch.float64):
            return A.dtype
        if isinstance(A, np.ndarray) and A.dtype in (np.float32, np.float64):
            return DTYPES[A.dtype.name]
        return torch.float32
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    if dtype in (torch.float32, torch.float64):
        return dtype
    raise InputError(
        f"dtype={dtype!r} is not supported; use torch.float32 or torch.float64"
    )


def _generator(seed):
    if isinstance(seed, torch.Generator):
        return seed
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed must be an int or torch.Generator, got {type(seed).__name__}"
        )
    elif not 0 <= seed < 2**64:
        raise InputError(f"seed={seed} is out of range; use an integer in [0, 2**64)")
    else:
        generator.manual_seed(int(seed))
    return generator
