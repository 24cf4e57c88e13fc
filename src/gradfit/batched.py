"""Train K independent ReLU networks at once with batched matrix products.

Every weight carries a leading model dimension K: W_l has shape (K, in, out) and
the scalar bias b_l has shape (K,). Model k of a batch computes exactly what
``train_mlp`` computes for one network, with the same operations in the same
order, so on the same start it ends bit for bit where ``train_mlp`` ends.

NOTE: the exact agreement was checked with torch 2.13 on CPU. It needs the
batched product and the log-softmax over (K N, c) rows to round every model as
the one-model calls do, and another build or device need not do so. Any
round-off difference then grows in the runs whose ReLU pattern changes.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._validate import check_learning_rate, check_positive_int, is_positive_int
from .errors import InputError

__all__ = [
    "BIAS_STARTS",
    "DEFAULT_MEMORY_BUDGET",
    "INIT_SCHEMES",
    "NORMAL_INIT_STD",
    "OPTIMIZERS",
    "BatchedTraining",
    "batched_forward",
    "batched_hidden",
    "bytes_per_model",
    "chunk_size",
    "init_batched_mlp",
    "train_batched",
]

#: Weight initialisation schemes; see ``init_batched_mlp``.
INIT_SCHEMES = ("uniform01", "kaiming", "xavier", "normal")
#: Starts of the scalar biases: uniform in [0, 1) as in the study, or zero.
BIAS_STARTS = ("uniform01", "zeros")
#: "gd" is plain gradient descent as in the study; "momentum" is SGD with
#: momentum 0.9 and "adam" is Adam with torch's default betas.
OPTIMIZERS = ("gd", "momentum", "adam")
#: Standard deviation of the "normal" scheme, the same for every layer.
NORMAL_INIT_STD = 0.1
#: Memory, in bytes, that one chunk of models may use while training. Chunks
#: of this size already hide the per-operation overhead, and larger ones run
#: slower per model once they outgrow the processor caches.
#: NOTE: sized from benchmarks/bench_mlp.py on one 2-core x86 machine, where
#: about 1000 models of the study's 4-12-3 network fit in this budget.
DEFAULT_MEMORY_BUDGET = 32 * 2**20

MOMENTUM = 0.9


@dataclass(frozen=True)
class BatchedTraining:
    """The end state and loss history of K networks trained side by side.

    Attributes
    ----------
    weights : tuple of torch.Tensor
        W1, W2, ...: W_l has shape (K, in_l, out_l), detached.
    biases : tuple of torch.Tensor
        b1, b2, ...: b_l has shape (K,), one scalar bias per layer and model.
    losses : torch.Tensor, shape (K, num_epochs)
        Summed cross-entropy of each model before each gradient step.
    final_loss : torch.Tensor, shape (K,)
        Summed cross-entropy at the final weights.
    diverged_epoch : torch.Tensor, shape (K,), int64
        The 1-based epoch at which a model's loss first became non-finite, or 0
        for a model whose loss stayed finite. A model whose loss turned
        non-finite only after the last step gets ``num_epochs + 1``.
    chunk_size : int
        Number of models trained together in one pass.
    """

    weights: tuple
    biases: tuple
    losses: torch.Tensor
    final_loss: torch.Tensor
    diverged_epoch: torch.Tensor
    chunk_size: int

    @property
    def n_models(self):
        return self.losses.shape[0]


def init_batched_mlp(
    K,
    layer_sizes,
    *,
    init="uniform01",
    bias="uniform01",
    generator,
    dtype=torch.float32,
):
    """Draw the starting weights of K networks from ``generator``.

    Each model draws in turn, in the order W1, W2, ..., then b1, b2, ..., so
    model k starts where the k-th of K one-model draws from the same generator
    starts. With ``init="uniform01"`` and ``bias="uniform01"`` this is the
    order and distribution of ``train_mlp``, and a ``torch.Generator`` seeded
    with s gives what ``torch.manual_seed(s)`` gives the global generator.

    Parameters
    ----------
    K : int
        Number of models.
    layer_sizes : sequence of int
        Widths from input to output, such as (4, 12, 3).
    init : {"uniform01", "kaiming", "xavier", "normal"}, default="uniform01"
        Weights of a layer with fan_in inputs and fan_out outputs are drawn
        uniform in [0, 1) ("uniform01", the study's), uniform in +-sqrt(6 /
        fan_in) (Kaiming uniform for ReLU), uniform in +-sqrt(6 / (fan_in +
        fan_out)) (Xavier uniform) or normal with mean 0 and standard deviation
        ``NORMAL_INIT_STD`` ("normal").
    bias : {"uniform01", "zeros"}, default="uniform01"
        Start of each layer's scalar bias.
    generator : torch.Generator
    dtype : torch.dtype, default=torch.float32

    Returns
    -------
    weights, biases : tuple of torch.Tensor
        W_l of shape (K, in_l, out_l) and b_l of shape (K,).
    """
    _check_choice("init", init, INIT_SCHEMES)
    _check_choice("bias", bias, BIAS_STARTS)
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    weights = [torch.empty(K, n_in, n_out, dtype=dtype) for n_in, n_out in pairs]
    biases = [torch.zeros(K, dtype=dtype) for _ in pairs]
    for k in range(K):
        for W, (n_in, n_out) in zip(weights, pairs):
            W[k] = _draw_weight(init, n_in, n_out, generator, dtype)
        if bias == "uniform01":
            for b in biases:
                b[k] = torch.rand((), generator=generator, dtype=dtype)
    return tuple(weights), tuple(biases)


def _draw_weight(init, n_in, n_out, generator, dtype):
    if init == "normal":
        return (
            torch.randn(n_in, n_out, generator=generator, dtype=dtype) * NORMAL_INIT_STD
        )
    W = torch.rand(n_in, n_out, generator=generator, dtype=dtype)
    if init == "uniform01":
        return W
    fan = n_in if init == "kaiming" else n_in + n_out
    bound = math.sqrt(6.0 / fan)
    return (2 * W - 1) * bound


def batched_hidden(x, weights, biases):
    """Return the ReLU outputs of every hidden layer, each of shape (K, N, h_l).

    ``x`` is the shared input, shape (N, d).
    """
    outputs = []
    h = x
    for W, b in zip(weights[:-1], biases[:-1]):
        # In place on the fresh product, which saves two (K, N, h) buffers; the
        # values are those of relu(h @ W + b).
        h = torch.matmul(h, W).add_(b[:, None, None]).relu_()
        outputs.append(h)
    return outputs


def batched_forward(x, weights, biases):
    """Compute the logits of K networks on the shared input ``x`` (N, d).

    Layer l computes ``relu(h @ W_l + b_l)`` as ``mlp`` does, and the last layer
    has no ReLU. Returns shape (K, N, c).
    """
    hidden = batched_hidden(x, weights, biases)
    h = hidden[-1] if hidden else x
    return torch.matmul(h, weights[-1]) + biases[-1][:, None, None]


def bytes_per_model(n_rows, layer_sizes, dtype=torch.float32):
    """Estimate the bytes one model needs while it trains in a batch.

    Each hidden layer of width h keeps its pre-activation, its ReLU output and
    their two gradients (4 N h values). The output keeps logits,
    log-probabilities and their gradients (4 N c). The count adds a copy of
    the input (N d), which the batched product may make, the int64 targets
    repeated per model, and each parameter with its gradient and up to two
    optimiser states. It is an estimate: allocator overhead is not counted.
    """
    itemsize = torch.empty((), dtype=dtype).element_size()
    hidden = sum(layer_sizes[1:-1])
    n_params = sum(a * b + 1 for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
    values = n_rows * (4 * hidden + 4 * layer_sizes[-1] + layer_sizes[0]) + 4 * n_params
    return itemsize * values + 8 * n_rows


def chunk_size(
    K, n_rows, layer_sizes, memory_budget=DEFAULT_MEMORY_BUDGET, dtype=torch.float32
):
    """Return how many of K models to train per pass within ``memory_budget`` bytes.

    At least 1, so that a budget smaller than one model still trains, one
    model at a time.
    """
    per_model = bytes_per_model(n_rows, layer_sizes, dtype)
    return max(1, min(K, memory_budget // per_model))


def train_batched(
    data_tr,
    targets_tr,
    K,
    *,
    hidden=(12,),
    num_epochs=100,
    lr=0.01,
    init="uniform01",
    bias="uniform01",
    optimizer="gd",
    seed=0,
    memory_budget=DEFAULT_MEMORY_BUDGET,
    callback=None,
    exact=True,
):
    """Train K independent MLPs by full-batch gradient descent on summed cross-entropy.

    Each model is the network of ``train_mlp`` with hidden layers of the given
    widths: ReLU after every hidden layer, one scalar bias per layer. Models
    are trained in chunks of ``chunk_size(...)`` models, drawing each chunk's
    start from the generator in turn, so the chunking changes no result. With
    the defaults, model k ends with the weights of the k-th of K calls to
    ``train_mlp`` after ``torch.manual_seed(seed)``.

    A model whose loss becomes NaN or infinite keeps training alongside the
    others, which it cannot affect, and is reported in ``diverged_epoch``.

    Parameters
    ----------
    data_tr : torch.Tensor, shape (N, d), float
        The models train on this tensor's device and in its dtype.
    targets_tr : torch.Tensor, shape (N,), int64
        Class indices in 0..c-1, with c = ``targets_tr.max() + 1``.
    K : int
        Number of models, >= 1.
    hidden : sequence of int, default=(12,)
        Widths of the hidden layers, each >= 1.
    num_epochs : int, default=100
    lr : float, default=0.01
        Learning rate, the step size.
    init : str, default="uniform01"
        One of ``INIT_SCHEMES``; see ``init_batched_mlp``.
    bias : str, default="uniform01"
        One of ``BIAS_STARTS``.
    optimizer : str, default="gd"
        One of ``OPTIMIZERS``.
    seed : int or torch.Generator, default=0
        Seed of a fresh generator, or a generator to draw from (it advances).
    memory_budget : int, default=DEFAULT_MEMORY_BUDGET
        Bytes one chunk of models may use, estimated by ``bytes_per_model``.
        It bounds the training pass only: the returned weights and loss
        history still grow with K, by about 4 K (num_epochs + parameters)
        bytes in float32.
    callback : callable, optional
        Called as ``callback(n_models)`` after each epoch of each chunk, where
        ``n_models`` is the size of the chunk.
    exact : bool, default=True
        With True, every model computes exactly what ``train_mlp`` computes.
        With False, activations are laid out as (K, width, N), which ran about
        twice as fast in ``benchmarks/bench_mlp.py`` but rounds differently.
        All runs then start equal, and about 9 in 10 of the study's runs end
        within 1e-5 of the exact result. The others part ways once a ReLU
        unit switches on one path and not on the other.

    Returns
    -------
    BatchedTraining
    """
    _check_training_inputs(
        data_tr, targets_tr, K, hidden, num_epochs, lr, memory_budget
    )
    _check_choice("init", init, INIT_SCHEMES)
    _check_choice("bias", bias, BIAS_STARTS)
    _check_choice("optimizer", optimizer, OPTIMIZERS)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    if not isinstance(exact, bool):
        raise TypeError(f"exact must be a bool, got {type(exact).__name__}")
    generator = _generator(seed)

    n_rows = data_tr.shape[0]
    layer_sizes = (data_tr.shape[1], *hidden, int(targets_tr.max()) + 1)
    per_chunk = chunk_size(K, n_rows, layer_sizes, memory_budget, data_tr.dtype)
    parts = []
    for start in range(0, K, per_chunk):
        n_models = min(per_chunk, K - start)
        weights, biases = init_batched_mlp(
            n_models,
            layer_sizes,
            init=init,
            bias=bias,
            generator=generator,
            dtype=data_tr.dtype,
        )
        # Drawn on the CPU generator so that the start does not depend on the
        # device. NOTE: the device path has not been run on a GPU.
        weights = tuple(W.to(data_tr.device) for W in weights)
        biases = tuple(b.to(data_tr.device) for b in biases)
        parts.append(
            _train_chunk(
                data_tr,
                targets_tr,
                weights,
                biases,
                num_epochs,
                lr,
                optimizer,
                callback,
                exact,
            )
        )
    return BatchedTraining(
        weights=tuple(torch.cat(ws) for ws in zip(*(p[0] for p in parts))),
        biases=tuple(torch.cat(bs) for bs in zip(*(p[1] for p in parts))),
        losses=torch.cat([p[2] for p in parts]),
        final_loss=torch.cat([p[3] for p in parts]),
        diverged_epoch=torch.cat([p[4] for p in parts]),
        chunk_size=per_chunk,
    )


def _train_chunk(
    x, targets, weights, biases, num_epochs, lr, optimizer, callback, exact
):
    K = weights[0].shape[0]
    params = [p.requires_grad_() for p in (*weights, *biases)]
    if exact:
        model_losses = _ExactLosses(x, targets, K)
    else:
        model_losses = _FastLosses(x, targets, K)
    step = _make_step(params, lr, optimizer)
    losses = torch.empty(K, num_epochs, dtype=x.dtype, device=x.device)

    for epoch in range(num_epochs):
        row_losses = model_losses(weights, biases)
        # Model k's loss depends only on model k's weights, so the gradient of
        # the total is each model's own gradient.
        row_losses.sum().backward()
        step()
        losses[:, epoch] = row_losses.detach().sum(dim=1)
        if callback is not None:
            callback(K)

    params = [p.detach() for p in params]
    weights, biases = params[: len(weights)], params[len(weights) :]
    with torch.no_grad():
        final = model_losses(weights, biases).sum(dim=1)
    history = torch.cat([losses, final[:, None]], dim=1)
    return weights, biases, losses, final, _first_non_finite_epoch(history)


class _ExactLosses:
    """Per-row cross-entropy (K, N) by the operations of ``train_mlp``."""

    def __init__(self, x, targets, K):
        self.x, self.K = x, K
        self.flat_targets = targets.repeat(K)

    def __call__(self, weights, biases):
        logits = batched_forward(self.x, weights, biases)
        rows = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), self.flat_targets, reduction="none"
        )
        return rows.view(self.K, -1)


class _FastLosses:
    """Per-row cross-entropy (K, N) with activations laid out as (K, width, N).

    The log-softmax then runs over dimension 1 with N values side by side, which
    vectorises far better than rows of c values, but it rounds differently from
    ``train_mlp``.
    """

    def __init__(self, x, targets, K):
        self.x_t = x.T
        self.targets = targets.expand(K, -1)

    def __call__(self, weights, biases):
        h = self.x_t
        for W, b in zip(weights[:-1], biases[:-1]):
            h = torch.matmul(W.transpose(1, 2), h).add_(b[:, None, None]).relu_()
        logits = (
            torch.matmul(weights[-1].transpose(1, 2), h) + biases[-1][:, None, None]
        )
        return F.cross_entropy(logits, self.targets, reduction="none")


def _make_step(params, lr, optimizer):
    if optimizer == "gd":

        def step():
            # The same update as train_mlp, so that the results agree exactly.
            with torch.no_grad():
                for p in params:
                    p -= lr * p.grad
                    p.grad = None

        return step

    if optimizer == "momentum":
        torch_optimizer = torch.optim.SGD(params, lr=lr, momentum=MOMENTUM)
    else:
        torch_optimizer = torch.optim.Adam(params, lr=lr)

    def step():
        torch_optimizer.step()
        torch_optimizer.zero_grad(set_to_none=True)

    return step


def _first_non_finite_epoch(history):
    """Return the 1-based column of the first non-finite entry per row, or 0."""
    bad = ~torch.isfinite(history)
    first = bad.to(torch.int64).argmax(dim=1) + 1
    return torch.where(bad.any(dim=1), first, torch.zeros_like(first))


def _generator(seed):
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(
            f"seed={seed!r} is invalid; use an integer or a torch.Generator"
        )
    if not 0 <= seed < 2**64:
        raise InputError(f"seed={seed} is out of range; use an integer in [0, 2**64)")
    return torch.Generator().manual_seed(seed)


def _check_choice(name, value, choices):
    if value not in choices:
        raise InputError(
            f"{name}={value!r} is not a known choice; use one of {', '.join(choices)}"
        )


def check_training_data(data, targets):
    """Raise TypeError or InputError unless data and targets can train a classifier.

    ``data`` must be a finite floating-point (N, d) tensor with N, d >= 1 and
    ``targets`` an int64 tensor of N class indices >= 0.
    """
    for name, value in (("training data", data), ("targets", targets)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor, got {type(value).__name__}; "
                "convert it with torch.as_tensor"
            )
    if data.ndim != 2 or not data.is_floating_point():
        raise InputError(
            "training data must be a floating-point (N, d) tensor, got shape "
            f"{tuple(data.shape)} and dtype {data.dtype}"
        )
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise InputError(
            f"training data of shape {tuple(data.shape)} is empty; pass at least one "
            "row and one feature"
        )
    if targets.shape != (data.shape[0],) or targets.dtype != torch.int64:
        raise InputError(
            f"targets must be an int64 tensor of shape ({data.shape[0]},), got shape "
            f"{tuple(targets.shape)} and dtype {targets.dtype}"
        )
    if int(targets.min()) < 0:
        raise InputError(
            f"targets must be class indices >= 0, found {int(targets.min())}"
        )
    finite = torch.isfinite(data)
    if not bool(finite.all()):
        i, j = (int(k) for k in torch.nonzero(~finite)[0])
        raise InputError(
            f"training data[{i}, {j}] is {data[i, j].item()}; every feature value "
            "must be finite, so drop or fill the row"
        )


def _check_training_inputs(data, targets, K, hidden, num_epochs, lr, memory_budget):
    check_training_data(data, targets)
    for name, value in (
        ("K", K),
        ("num_epochs", num_epochs),
        ("memory_budget", memory_budget),
    ):
        check_positive_int(name, value)
    if (
        not isinstance(hidden, (tuple, list))
        or not hidden
        or not all(is_positive_int(h) for h in hidden)
    ):
        raise InputError(
            f"hidden={hidden!r} is invalid; give one or more layer widths, each an "
            "integer >= 1"
        )
    check_learning_rate(lr)
