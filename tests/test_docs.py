"""The numpydoc ``default=`` of every public function matches its signature."""

import inspect
import re
import sys

import pytest
import torch

import gradfit

# "name : type, default=value" or "a, b : type, default=value" in a docstring.
DEFAULT_LINE = re.compile(r"^(\w+(?:, \w+)*) : .*\bdefault=(.+?)\s*$", re.MULTILINE)


def public_callables():
    """Yield (qualified name, function) for the package's functions and methods."""
    for name in gradfit.__all__:
        obj = getattr(gradfit, name)
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj):
            for method_name, method in vars(obj).items():
                if inspect.isfunction(method) and not method_name.startswith("_"):
                    yield f"{name}.{method_name}", method


def documented_defaults(function):
    """Return (parameter, default text) pairs from a numpydoc docstring."""
    pairs = []
    for match in DEFAULT_LINE.finditer(inspect.getdoc(function) or ""):
        names = match.group(1).split(", ")
        texts = [t.strip() for t in match.group(2).split(", ")]
        if len(texts) != len(names):
            texts = [match.group(2)] * len(names)
        pairs.extend(zip(names, texts))
    return pairs


CASES = [
    pytest.param(function, parameter, text, id=f"{name}-{parameter}")
    for name, function in public_callables()
    for parameter, text in documented_defaults(function)
]


def test_some_defaults_are_documented():
    assert len(CASES) >= 40


@pytest.mark.parametrize(("function", "parameter", "text"), CASES)
def test_documented_default_matches_signature(function, parameter, text):
    signature = inspect.signature(function)
    assert parameter in signature.parameters
    actual = signature.parameters[parameter].default
    assert actual is not inspect.Parameter.empty
    namespace = {**vars(sys.modules[function.__module__]), "torch": torch}
    documented = eval(text, namespace)
    assert documented == actual
