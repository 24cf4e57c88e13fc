"""Report section on the study's MLP trained repeatedly on Iris."""

import statistics

import torch

from ..mlp import prepare_iris_study, repeat_training
from .document import Heading, Paragraph, Table

EPOCHS = 100
LEARNING_RATE = 0.01


def summarise(values):
    """Return mean, sample standard deviation, min and max of a list of floats."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {
        "mean": statistics.fmean(values),
        "sd": sd,
        "min": min(values),
        "max": max(values),
    }


def mlp_section(options):
    """Train the study's MLP ``options.runs`` times after seeding.

    Returns ``(blocks, results)`` with the key ``mlp`` for results.json.
    """
    seed, runs = options.seed, options.runs
    split = prepare_iris_study()
    torch.manual_seed(seed)
    trained = repeat_training(split, runs, EPOCHS, LEARNING_RATE)

    train = [r.train_accuracy for r in trained]
    valid = [r.validation_accuracy for r in trained]
    results = {
        "mlp": {
            "architecture": "4-12-3, ReLU",
            "epochs": EPOCHS,
            "lr": LEARNING_RATE,
            "n_train": len(split.targets_tr),
            "n_validation": len(split.targets_va),
            "runs": [
                {"train_accuracy": t, "validation_accuracy": v}
                for t, v in zip(train, valid)
            ],
            "summary": {
                "train_accuracy": summarise(train),
                "validation_accuracy": summarise(valid),
            },
        }
    }

    rows = [
        (str(k), f"{t:.2f}", f"{v:.2f}")
        for k, (t, v) in enumerate(zip(train, valid), 1)
    ]
    s_train, s_valid = summarise(train), summarise(valid)
    for name in ("mean", "sd", "min", "max"):
        rows.append((name, f"{s_train[name]:.3f}", f"{s_valid[name]:.3f}"))
    blocks = [
        Heading("MLP on Iris"),
        Paragraph(
            "A 4-12-3 network, relu(x W1 + b1) W2 + b2, with W1, W2 and the scalar "
            "biases b1 and b2 uniform in [0, 1), is trained by full-batch gradient "
            f"descent on the summed cross-entropy for {EPOCHS} epochs at learning rate "
            f"{LEARNING_RATE}. The rows are shuffled with "
            "`numpy.random.RandomState(0).permutation(150)`, each feature is scaled "
            "as (x - mean) / variance over all 150 rows (the study divided by the "
            "variance, not the standard deviation), and the first "
            f"{len(split.targets_tr)} rows train while the last "
            f"{len(split.targets_va)} validate. After `torch.manual_seed({seed})` "
            f"the network is trained {runs} times in a row."
        ),
        Table(
            ("run", "train accuracy", "validation accuracy"),
            tuple(rows),
            align=("l", "r", "r"),
            caption="Accuracy per run, then mean, sample standard deviation, "
            "minimum and maximum over the runs.",
        ),
    ]
    return blocks, results
