"""Check batched MLP training against torch.nn and scikit-learn, and time it.

Run from the repository root with scikit-learn installed (``make bench-setup``):

    python benchmarks/bench_mlp.py            # full run, about three minutes
    python benchmarks/bench_mlp.py --quick    # smaller counts, a smoke test

It prints Markdown tables: agreement with a plain ``torch.nn`` model trained by
``torch.optim.SGD``, accuracy beside scikit-learn's ``MLPClassifier`` on the
same split, and runs per second of the sequential loop, the batched trainer and
scikit-learn. Every time is the median of several repeats.
"""

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gradfit.batched import (  # noqa: E402
    DEFAULT_MEMORY_BUDGET,
    batched_forward,
    chunk_size,
    init_batched_mlp,
    train_batched,
)
from gradfit.diagnosis import batched_accuracy  # noqa: E402
from gradfit.mlp import accuracy, prepare_iris_study, train_mlp  # noqa: E402

EPOCHS = 100
LR = 0.01
HIDDEN = 12
FAIL_BELOW = 0.8


class StudyMLP(nn.Module):
    """The study's network as a torch.nn module: scalar biases, W of shape (in, out)."""

    def __init__(self, W1, W2, b1, b2):
        super().__init__()
        self.W1, self.W2 = nn.Parameter(W1.clone()), nn.Parameter(W2.clone())
        self.b1, self.b2 = nn.Parameter(b1.clone()), nn.Parameter(b2.clone())

    def forward(self, x):
        return torch.relu(x @ self.W1 + self.b1) @ self.W2 + self.b2


def train_nn(split, W1, W2, b1, b2):
    model = StudyMLP(W1, W2, b1, b2)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    for _ in range(EPOCHS):
        optimizer.zero_grad()
        loss = loss_fn(model(split.data_tr), split.targets_tr)
        loss.backward()
        optimizer.step()
    return model


def compare_with_nn(split, runs):
    """Train the same starts with torch.nn + SGD and with the batched trainer."""
    batched = train_batched(split.data_tr, split.targets_tr, runs, seed=0)
    weights, biases = init_batched_mlp(
        runs, (4, HIDDEN, 3), generator=torch.Generator().manual_seed(0)
    )
    batched_va = batched_accuracy(
        batched_forward(split.data_va, batched.weights, batched.biases),
        split.targets_va,
    )
    max_diffs, same_accuracy = [], 0
    for k in range(runs):
        model = train_nn(
            split, weights[0][k], weights[1][k], biases[0][k], biases[1][k]
        )
        got = (model.W1, model.W2, model.b1, model.b2)
        expected = (
            batched.weights[0][k],
            batched.weights[1][k],
            batched.biases[0][k],
            batched.biases[1][k],
        )
        max_diffs.append(
            max((g.detach() - e).abs().max().item() for g, e in zip(got, expected))
        )
        with torch.no_grad():
            same_accuracy += accuracy(model(split.data_va), split.targets_va) == float(
                batched_va[k]
            )
    max_diffs = np.array(max_diffs)
    return {
        "runs": runs,
        "within_1e-5": int((max_diffs <= 1e-5).sum()),
        "median_max_diff": float(np.median(max_diffs)),
        "worst_max_diff": float(max_diffs.max()),
        "same_validation_accuracy": same_accuracy,
        "batched_mean_accuracy": float(batched_va.mean()),
    }


def sklearn_classifier(seed, solver):
    from sklearn.neural_network import MLPClassifier

    if solver == "sgd":
        # sklearn averages the loss over rows, so lr 0.01 on the summed loss of
        # 100 rows is a step of 1.0 on its mean loss.
        return MLPClassifier(
            hidden_layer_sizes=(HIDDEN,),
            activation="relu",
            solver="sgd",
            learning_rate_init=LR * 100,
            batch_size=100,
            momentum=0.0,
            alpha=0.0,
            max_iter=EPOCHS,
            shuffle=False,
            tol=0.0,
            n_iter_no_change=EPOCHS + 1,
            random_state=seed,
        )
    return MLPClassifier(
        hidden_layer_sizes=(HIDDEN,),
        activation="relu",
        solver="adam",
        max_iter=EPOCHS,
        random_state=seed,
    )


def sklearn_accuracies(split, runs, solver):
    from sklearn.exceptions import ConvergenceWarning

    x_tr, y_tr = split.data_tr.numpy(), split.targets_tr.numpy()
    x_va, y_va = split.data_va.numpy(), split.targets_va.numpy()
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(runs):
            model = sklearn_classifier(seed, solver).fit(x_tr, y_tr)
            scores.append(model.score(x_va, y_va))
    return np.array(scores)


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def with_threads(n, fn):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(previous)


def sequential_loop(split, runs):
    torch.manual_seed(0)
    for _ in range(runs):
        train_mlp(split.data_tr, split.targets_tr, EPOCHS, LR)


def throughput(split, args):
    rows = []
    default_threads = torch.get_num_threads()
    for threads in sorted({1, default_threads}):
        seconds = with_threads(
            threads,
            lambda: median_time(
                lambda: sequential_loop(split, args.sequential_runs), args.repeats
            ),
        )
        rows.append(
            (
                f"sequential train_mlp loop, {threads} thread(s)",
                args.sequential_runs,
                seconds,
            )
        )
    for exact, layout in ((True, "exact"), (False, "fast layout")):
        for threads in sorted({1, default_threads}):

            def train(exact=exact):
                train_batched(
                    split.data_tr, split.targets_tr, args.batched_runs, exact=exact
                )

            seconds = with_threads(
                threads, lambda train=train: median_time(train, args.repeats)
            )
            rows.append(
                (
                    f"batched {layout}, K = {args.batched_runs}, {threads} thread(s)",
                    args.batched_runs,
                    seconds,
                )
            )
    seconds = median_time(
        lambda: sklearn_accuracies(split, args.sklearn_runs, "sgd"), args.repeats
    )
    rows.append(
        (
            "scikit-learn MLPClassifier (sgd), one fit per run",
            args.sklearn_runs,
            seconds,
        )
    )
    return rows


def chunk_sweep(split, sizes, repeats):
    """Time K models in one pass and in chunks of the default memory budget."""
    rows = []
    for K in sizes:
        for budget in (2**62, DEFAULT_MEMORY_BUDGET):
            chunk = chunk_size(K, len(split.targets_tr), (4, HIDDEN, 3), budget)

            def train(K=K, budget=budget):
                train_batched(split.data_tr, split.targets_tr, K, memory_budget=budget)

            seconds = with_threads(1, lambda train=train: median_time(train, repeats))
            rows.append((K, chunk, seconds))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small counts, a smoke test"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.sequential_runs = 10 if quick else 100
    args.batched_runs = 200 if quick else 1000
    args.sklearn_runs = 10 if quick else 200
    args.repeats = 1 if quick else 5
    split = prepare_iris_study()

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"cores; torch {torch.__version__}, default threads "
        f"{torch.get_num_threads()}; numpy {np.__version__}; python "
        f"{platform.python_version()}"
    )
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    try:
        import sklearn

        print(f"scikit-learn {sklearn.__version__}")
    except ImportError:
        print("scikit-learn is not installed; run 'make bench-setup'")
        return 1

    print("\n## torch.nn + torch.optim.SGD against the batched trainer\n")
    nn_check = with_threads(1, lambda: compare_with_nn(split, 20 if quick else 200))
    for key, value in nn_check.items():
        print(f"- {key}: {value}")

    print("\n## Validation accuracy on the study's split\n")
    print("| model | runs | mean | sd | failure rate (< 0.8) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    n = 20 if quick else 200
    batched = with_threads(1, lambda: train_batched(split.data_tr, split.targets_tr, n))
    batched_va = batched_accuracy(
        batched_forward(split.data_va, batched.weights, batched.biases),
        split.targets_va,
    ).numpy()
    for name, scores in (
        ("gradfit batched (study's init, GD)", batched_va),
        (
            "MLPClassifier sgd, full batch, lr 1.0 on mean loss",
            sklearn_accuracies(split, n, "sgd"),
        ),
        (
            "MLPClassifier adam, defaults, 100 iterations",
            sklearn_accuracies(split, n, "adam"),
        ),
    ):
        print(
            f"| {name} | {len(scores)} | {scores.mean():.3f} "
            f"| {scores.std(ddof=1):.3f} | {(scores < FAIL_BELOW).mean():.3f} |"
        )

    print(f"\n## Throughput, {EPOCHS} epochs per run (median of {args.repeats})\n")
    rows = throughput(split, args)
    base = rows[0][1] / rows[0][2]
    sklearn_rate = rows[-1][1] / rows[-1][2]
    print("| method | runs | seconds | runs/s | vs first row | vs scikit-learn |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, runs, seconds in rows:
        rate = runs / seconds
        print(
            f"| {name} | {runs} | {seconds:.2f} | {rate:.0f} | {rate / base:.1f}x "
            f"| {rate / sklearn_rate:.1f}x |"
        )

    print("\n## Runs per second against K, one thread\n")
    print("| K | models per chunk | seconds | runs/s |")
    print("| ---: | ---: | ---: | ---: |")
    sizes = (100, 1000) if quick else (100, 300, 1000, 3000, 10000)
    for K, chunk, seconds in chunk_sweep(split, sizes, 1 if quick else 3):
        print(f"| {K} | {chunk} | {seconds:.2f} | {K / seconds:.0f} |")
    print("\nload average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
