"""gradfit: fit models by gradient descent with PyTorch autograd, checked against
closed forms and trusted peers."""

from importlib.metadata import PackageNotFoundError, version

from ._factorise import FactorisationResult, factorise
from .baselines import best_linear_map, pca_projection, principal_angles, truncated_svd
from .batched import BatchedTraining, init_batched_mlp, train_batched
from .completion import CompletionModel, Scores, fit_completion, split_ratings
from .data import IRIS_MD5, IrisData, load_iris, read_matrix
from .diagnosis import RunDiagnosis, diagnose_runs, summarise_diagnosis, wilson_interval
from .errors import (
    ConstantFeatureWarning,
    ConvergenceWarning,
    DivergenceError,
    InputError,
)
from .experiment import MLPConfig, config_grid, run_config
from .lowrank import gd_factorise_ad, squared_error, suggest_learning_rate
from .mlp import accuracy, mlp, prepare_iris_study, repeat_training, train_mlp
from .ratings import Ratings, read_ratings
from .tabular import (
    iris_study_split,
    read_labelled_csv,
    scale_features,
    split_labelled,
    stratified_split,
)

try:
    __version__ = version("gradfit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "IRIS_MD5",
    "BatchedTraining",
    "CompletionModel",
    "ConstantFeatureWarning",
    "ConvergenceWarning",
    "DivergenceError",
    "FactorisationResult",
    "InputError",
    "IrisData",
    "MLPConfig",
    "Ratings",
    "RunDiagnosis",
    "Scores",
    "accuracy",
    "best_linear_map",
    "config_grid",
    "diagnose_runs",
    "factorise",
    "fit_completion",
    "gd_factorise_ad",
    "init_batched_mlp",
    "iris_study_split",
    "load_iris",
    "mlp",
    "pca_projection",
    "prepare_iris_study",
    "principal_angles",
    "read_labelled_csv",
    "read_matrix",
    "read_ratings",
    "repeat_training",
    "run_config",
    "scale_features",
    "split_labelled",
    "split_ratings",
    "squared_error",
    "stratified_split",
    "suggest_learning_rate",
    "summarise_diagnosis",
    "train_batched",
    "train_mlp",
    "truncated_svd",
    "wilson_interval",
]
