"""Grids of MLP configurations, each trained K times and diagnosed run by run."""

import csv
import io
import itertools
import math
from dataclasses import asdict, dataclass

from .batched import DEFAULT_MEMORY_BUDGET, train_batched
from .diagnosis import DEFAULT_FAIL_BELOW, diagnose_runs, summarise_diagnosis

__all__ = [
    "STUDY_CONFIG",
    "ConfigResult",
    "MLPConfig",
    "config_grid",
    "config_json",
    "run_config",
    "runs_csv",
]


@dataclass(frozen=True)
class MLPConfig:
    """Choices that define one configuration of the experiment.

    See ``INIT_SCHEMES``, ``BIAS_STARTS``, ``OPTIMIZERS`` and
    ``FEATURE_SCALINGS`` for the accepted values.
    """

    init: str = "uniform01"
    scaling: str = "variance"
    bias: str = "uniform01"
    optimizer: str = "gd"

    @property
    def name(self):
        """Short label such as "kaiming/standard".

        The bias start and the optimiser are appended when they are not the study's.
        """
        parts = [self.init, self.scaling]
        if self.bias != "uniform01":
            parts.append(f"bias={self.bias}")
        if self.optimizer != "gd":
            parts.append(self.optimizer)
        return "/".join(parts)


#: The study's choices: weights and biases uniform in [0, 1), (x - mean) /
#: variance scaling, plain gradient descent.
STUDY_CONFIG = MLPConfig()


@dataclass(frozen=True)
class ConfigResult:
    """One configuration's K runs: training record, diagnosis and aggregates."""

    config: MLPConfig
    training: object
    diagnosis: object
    summary: dict


def config_grid(inits, scalings, biases=("uniform01",), optimizers=("gd",)):
    """Return every combination of the given choices, scaling varying slowest."""
    return [
        MLPConfig(init=init, scaling=scaling, bias=bias, optimizer=optimizer)
        for scaling, init, bias, optimizer in itertools.product(
            scalings, inits, biases, optimizers
        )
    ]


def run_config(
    split,
    config,
    runs,
    *,
    hidden=(12,),
    num_epochs=100,
    lr=0.01,
    seed=0,
    fail_below=DEFAULT_FAIL_BELOW,
    memory_budget=DEFAULT_MEMORY_BUDGET,
    callback=None,
    exact=True,
):
    """Train ``runs`` networks of one configuration on ``split`` and diagnose them.

    ``split`` must already be scaled by the method ``config.scaling`` names. Every
    configuration draws from a fresh generator seeded with ``seed``.

    Parameters
    ----------
    split : StudySplit
        Training and validation rows, as ``iris_study_split`` or
        ``split_labelled`` return them.
    config : MLPConfig
        Initialisation, bias start and optimiser of the networks.
    runs : int
        Number of networks K, >= 1.
    hidden : sequence of int, default=(12,)
    num_epochs : int, default=100
    lr : float, default=0.01
    seed : int, default=0
    memory_budget : int, default=DEFAULT_MEMORY_BUDGET
    callback : callable, optional
    exact : bool, default=True
        Passed to ``train_batched``, which describes them.
    fail_below : float, default=DEFAULT_FAIL_BELOW
        A run fails when its validation accuracy is below this, in [0, 1].

    Returns
    -------
    ConfigResult
        ``training`` (BatchedTraining), ``diagnosis`` (RunDiagnosis) and
        ``summary``, a dict of aggregates such as ``failure_rate`` and its
        95 % Wilson interval ``failure_rate_ci95``.
    """
    training = train_batched(
        split.data_tr,
        split.targets_tr,
        runs,
        hidden=hidden,
        num_epochs=num_epochs,
        lr=lr,
        init=config.init,
        bias=config.bias,
        optimizer=config.optimizer,
        seed=seed,
        memory_budget=memory_budget,
        callback=callback,
        exact=exact,
    )
    diagnosis = diagnose_runs(training, split, fail_below)
    return ConfigResult(config, training, diagnosis, summarise_diagnosis(diagnosis))


def config_json(result):
    """Return a configuration's choices and aggregates as a JSON-ready dict."""
    return {"name": result.config.name, **asdict(result.config), **result.summary}


CSV_COLUMNS = (
    "config",
    "init",
    "scaling",
    "bias",
    "optimizer",
    "run",
    "final_loss",
    "train_accuracy",
    "validation_accuracy",
    "dead_units",
    "classes_predicted",
    "at_chance",
    "diverged_epoch",
    "failed",
    "reason",
)


def runs_csv(results):
    """Format every run of every configuration as CSV text with a header row.

    ``run`` counts from 1 within a configuration; a non-finite final loss is
    written as an empty cell.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for result in results:
        c, d = result.config, result.diagnosis
        for k in range(len(d)):
            loss = float(d.final_loss[k])
            writer.writerow(
                (
                    c.name,
                    c.init,
                    c.scaling,
                    c.bias,
                    c.optimizer,
                    k + 1,
                    f"{loss:.9g}" if math.isfinite(loss) else "",
                    f"{d.train_accuracy[k]:.6g}",
                    f"{d.validation_accuracy[k]:.6g}",
                    int(d.dead_units[k]),
                    int(d.classes_predicted[k]),
                    int(d.at_chance[k]),
                    int(d.diverged_epoch[k]),
                    int(d.failed[k]),
                    d.reasons[k],
                )
            )
    return buffer.getvalue()
