"""gradfit: fit models by gradient descent with PyTorch autograd, checked against
closed forms and trusted peers."""

from importlib.metadata import PackageNotFoundError, version

from ._factorise import FactorisationResult, factorise
from .baselines import best_linear_map, pca_projection, principal_angles, truncated_svd
from .data import IRIS_MD5, IrisData, load_iris, read_matrix
from .errors import ConvergenceWarning, DivergenceError, InputError
from .lowrank import gd_factorise_ad, squared_error, suggest_learning_rate
from .mlp import accuracy, mlp, prepare_iris_study, repeat_training, train_mlp

try:
    __version__ = version("gradfit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "IRIS_MD5",
    "ConvergenceWarning",
    "DivergenceError",
    "FactorisationResult",
    "InputError",
    "IrisData",
    "accuracy",
    "best_linear_map",
    "factorise",
    "gd_factorise_ad",
    "load_iris",
    "mlp",
    "pca_projection",
    "prepare_iris_study",
    "principal_angles",
    "read_matrix",
    "repeat_training",
    "squared_error",
    "suggest_learning_rate",
    "train_mlp",
    "truncated_svd",
]
