"""gradfit: fit models by gradient descent with PyTorch autograd, checked against
closed forms and trusted peers."""

from importlib.metadata import PackageNotFoundError, version

from .baselines import best_linear_map, pca_projection, principal_angles, truncated_svd
from .completion import CompletionModel, Scores, fit_completion, split_ratings
from .data import IRIS_MD5, IrisData, load_iris, read_matrix
from .errors import ConvergenceWarning, DivergenceError, InputError
from .lowrank import gd_factorise_ad, squared_error, suggest_learning_rate
from .mlp import accuracy, mlp, prepare_iris_study, repeat_training, train_mlp
from .ratings import Ratings, read_ratings

try:
    __version__ = version("gradfit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "IRIS_MD5",
    "ConvergenceWarning",
    "DivergenceError",
    "InputError",
    "CompletionModel",
    "IrisData",
    "Ratings",
    "Scores",
    "accuracy",
    "best_linear_map",
    "fit_completion",
    "gd_factorise_ad",
    "load_iris",
    "mlp",
    "pca_projection",
    "prepare_iris_study",
    "principal_angles",
    "read_matrix",
    "read_ratings",
    "repeat_training",
    "split_ratings",
    "squared_error",
    "suggest_learning_rate",
    "train_mlp",
    "truncated_svd",
]
