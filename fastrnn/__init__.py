"""fastrnn: train character-level recurrent language models on a CPU, fast and exactly
(DD2424 / min-char-rnn by default; LSTM, GRU, layers, streams, Adam, RMSprop on request).

Public API re-exports only: everything a library user needs to train, save, load and sample.
`fastrnn.train` is the training function, which shadows its module (fastrnn/train.py) as an
attribute of the package; the classes a training run reports through are re-exported here
from fastrnn/runstate.py (`fastrnn.Callbacks`, `fastrnn.TrainState`, `fastrnn.DivergenceError`).
"""
from .checkpoint import load_state, save
from .config import GradcheckConfig, SampleConfig, TrainConfig
from .data import Corpus, read_corpus, split_validation
from .errors import FastrnnError
from .runstate import Callbacks, DivergenceError, TrainState
from .train import new_state, train
from .trained import Model, NetModel, load

__version__ = "0.2.0"

__all__ = ["Model", "NetModel", "load", "load_state", "save", "TrainConfig", "SampleConfig",
           "GradcheckConfig", "Corpus", "read_corpus", "split_validation", "FastrnnError",
           "Callbacks", "DivergenceError", "TrainState", "new_state", "train", "__version__"]
