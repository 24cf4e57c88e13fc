"""Report section on why some trainings of the study's MLP collapse."""

import numpy as np
import torch

from ..experiment import STUDY_CONFIG, MLPConfig, config_json, run_config
from ..mlp import repeat_training
from ..tabular import iris_study_split
from .document import Figure, Heading, Paragraph, Table
from .figures import to_png
from .mlp_figures import accuracy_distribution_figure, loss_curves_figure

EPOCHS = 100
LEARNING_RATE = 0.01
FAIL_BELOW = 0.8

#: The study's configuration first, then single changes to it (Kaiming
#: initialisation, z-score scaling, biases that start at 0) and Kaiming with
#: z-scores together.
CONFIGS = (
    STUDY_CONFIG,
    MLPConfig(init="kaiming"),
    MLPConfig(scaling="standard"),
    MLPConfig(bias="zeros"),
    MLPConfig(init="kaiming", scaling="standard"),
)


def collapse_section(options):
    """Train every configuration ``options.collapse_runs`` times and diagnose the runs.

    Returns ``(blocks, results)`` with the key ``collapse`` for results.json.
    """
    seed, n_runs = options.seed, options.collapse_runs
    results = []
    for config in CONFIGS:
        split = iris_study_split(config.scaling)
        results.append(
            run_config(
                split,
                config,
                n_runs,
                num_epochs=EPOCHS,
                lr=LEARNING_RATE,
                seed=seed,
                fail_below=FAIL_BELOW,
            )
        )
    study = results[0]

    n_shown = min(options.runs, n_runs)
    torch.manual_seed(seed)
    sequential = repeat_training(
        iris_study_split("variance"), n_shown, EPOCHS, LEARNING_RATE
    )
    mismatches = int(
        sum(
            run.train_accuracy != study.diagnosis.train_accuracy[k]
            or run.validation_accuracy != study.diagnosis.validation_accuracy[k]
            for k, run in enumerate(sequential)
        )
    )

    section_results = {
        "collapse": {
            "runs": n_runs,
            "seed": seed,
            "epochs": EPOCHS,
            "lr": LEARNING_RATE,
            "fail_below": FAIL_BELOW,
            "first_runs_shown": n_shown,
            "first_runs_differing_from_sequential": mismatches,
            "configurations": [config_json(r) for r in results],
        }
    }
    blocks = [
        Heading("Why runs collapse"),
        Paragraph(_method_text(seed, n_runs, n_shown, mismatches)),
        _first_runs_table(study, n_shown),
        _config_table(results),
        Paragraph(_comparison_text(results)),
        Paragraph(_diagnosis_text(study)),
        Figure(
            "collapse_accuracy.png",
            _accuracy_png(results),
            f"Validation accuracy of {n_runs} runs per configuration; red runs "
            f"are below {FAIL_BELOW:g} and fail.",
        ),
        Figure(
            "collapse_loss_curves.png",
            _loss_png(results),
            "Summed training cross-entropy per epoch of the first five failed "
            "(red) and first five passing (blue) runs of each configuration.",
        ),
    ]
    return blocks, section_results


def _method_text(seed, n_runs, n_shown, mismatches):
    if mismatches == 0:
        agreement = (
            f"its first {n_shown} runs are the {n_shown} runs trained one after "
            "another above, with the same accuracies"
        )
    else:
        agreement = (
            f"{mismatches} of its first {n_shown} runs differ in accuracy from the "
            "runs trained one after another above"
        )
    return (
        f"One table of {n_shown} runs cannot say how often a configuration fails, so "
        f"each configuration below is trained {n_runs} times, all runs at once by the "
        f"batched trainer, for {EPOCHS} epochs at learning rate {LEARNING_RATE}. Each "
        f"draws its starting weights from a `torch.Generator` seeded with {seed}, "
        "which gives the same stream as `torch.manual_seed` with that seed, so for "
        f"the study's configuration (uniform01/variance) {agreement}. A run fails "
        f"when its validation accuracy is below {FAIL_BELOW:g} or its loss becomes "
        "non-finite; the failure rate carries a 95 % Wilson interval. A dead unit is "
        "a hidden ReLU unit whose output is 0 on every training row, and a run is at "
        "chance level when it predicts one class for every training row or scores no "
        "better than the most common training class."
    )


def _first_runs_table(study, n_shown):
    d = study.diagnosis
    rows = tuple(
        (
            str(k + 1),
            f"{d.train_accuracy[k]:.2f}",
            f"{d.validation_accuracy[k]:.2f}",
            f"{d.final_loss[k]:.2f}",
            str(int(d.dead_units[k])),
            str(int(d.classes_predicted[k])),
            d.reasons[k] or "passed",
        )
        for k in range(n_shown)
    )
    return Table(
        (
            "run",
            "train accuracy",
            "validation accuracy",
            "final loss",
            "dead units",
            "classes predicted",
            "outcome",
        ),
        rows,
        align=("l", "r", "r", "r", "r", "r", "l"),
        caption=f"The first {n_shown} runs of the study's configuration with their "
        "diagnosis; final loss is the summed training cross-entropy.",
    )


def _config_table(results):
    rows = []
    for r in results:
        s, v = r.summary, r.summary["validation_accuracy"]
        low, high = s["failure_rate_ci95"]
        rows.append(
            (
                r.config.name,
                str(s["runs"]),
                f"{v['mean']:.3f} ({v['sd']:.3f})",
                f"{v['q05']:.2f} / {v['q50']:.2f} / {v['q95']:.2f}",
                str(s["failures"]),
                f"{s['failure_rate']:.1%} [{low:.1%}, {high:.1%}]",
                str(s["failures_with_dead_units"]),
                str(s["failures_at_chance"]),
                str(s["failures_missing_a_class"]),
            )
        )
    return Table(
        (
            "configuration",
            "runs",
            "validation accuracy mean (sd)",
            "5 % / median / 95 %",
            "failed",
            "failure rate [95 % CI]",
            "failed with dead units",
            "failed at chance",
            "failed missing a class",
        ),
        tuple(rows),
        align=("l",) + ("r",) * 8,
        caption="Initialisation/scaling per configuration; bias=zeros starts the "
        'scalar biases at 0. "Missing a class" counts failed runs that '
        "never predict some class on the training rows.",
    )


def _comparison_text(results):
    study = results[0]
    sentences = [
        f"Over {study.summary['runs']} runs each, the study's configuration fails in "
        f"{_rate(study)}."
    ]
    for r in results[1:]:
        sentences.append(
            f"`{r.config.name}` fails in {_rate(r)}, {_compared(r, study)}."
        )
    return " ".join(sentences)


def _compared(result, baseline):
    low, high = result.summary["failure_rate_ci95"]
    base_low, base_high = baseline.summary["failure_rate_ci95"]
    if high < base_low:
        return (
            "less often than the study's configuration, and the intervals do not "
            "overlap"
        )
    if low > base_high:
        return (
            "more often than the study's configuration, and the intervals do not "
            "overlap"
        )
    return (
        "and its interval overlaps the study's, so these runs do not tell the two apart"
    )


def _diagnosis_text(study):
    s, d = study.summary, study.diagnosis
    failed = s["failures"]
    if failed == 0:
        return (
            "No run of the study's configuration failed, so there is nothing to "
            "diagnose."
        )
    causes = {
        "had at least one dead hidden unit": s["failures_with_dead_units"],
        "sat at chance level": s["failures_at_chance"],
        "never predicted one of the classes on the training rows": s[
            "failures_missing_a_class"
        ],
        "diverged": s["diverged"],
    }
    items = [f"{n} {what}" for what, n in causes.items()]
    listed = ", ".join(items[:-1]) + " and " + items[-1]
    common, n_common = max(causes.items(), key=lambda item: item[1])

    loss_failed = float(np.median(d.final_loss[d.failed]))
    passed = ~d.failed
    text = (
        f"Of the {failed} failed runs of the study's configuration, {listed}. "
        f"The most frequent finding is that a failed run {common} "
        f"({n_common / failed:.0%} of failures). "
        f"Failed runs end at a median summed training loss of {loss_failed:.1f}"
    )
    if passed.any():
        text += (
            f" against {float(np.median(d.final_loss[passed])):.1f} for runs that "
            f"passed, with {s['mean_dead_units_failed']:.2f} dead units on average "
            f"against {s['mean_dead_units_healthy']:.2f}"
        )
    text += "."

    if s["failures_with_dead_units"] < failed / 2:
        text += (
            " Dead units thus explain fewer than half of the failures: most failed "
            "runs end with every hidden unit alive."
        )
    return text


def _rate(result):
    s = result.summary
    low, high = s["failure_rate_ci95"]
    return f"{s['failure_rate']:.1%} of runs (95 % CI {low:.1%} to {high:.1%})"


def _accuracy_png(results):
    return to_png(
        accuracy_distribution_figure(
            [r.config.name for r in results],
            [r.diagnosis.validation_accuracy for r in results],
            FAIL_BELOW,
        )
    )


def _loss_png(results):
    return to_png(
        loss_curves_figure(
            [r.config.name for r in results],
            [r.training.losses.numpy() for r in results],
            [r.diagnosis.failed for r in results],
        )
    )
