"""fastrnn: train character-level vanilla RNNs on a CPU, fast and exactly (DD2424 / min-char-rnn).

Public API re-exports only.
"""
from .trained import Model, load
from .config import GradcheckConfig, SampleConfig, TrainConfig
from .data import Corpus, read_corpus
from .errors import FastrnnError
from .train import TrainState, new_state, train

__version__ = "0.1.0"

__all__ = ["Model", "load", "TrainConfig", "SampleConfig", "GradcheckConfig", "Corpus",
           "read_corpus", "FastrnnError", "TrainState", "new_state", "train", "__version__"]
