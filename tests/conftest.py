import pytest
import torch


@pytest.fixture(autouse=True)
def _restore_torch_state():
    """Keep the global generator and thread count from leaking between tests."""
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        yield
    torch.set_num_threads(threads)


@pytest.fixture
def iris_centred():
    from gradfit import load_iris

    features = load_iris().features
    return features - features.mean(dim=0)
