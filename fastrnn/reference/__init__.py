"""Plain NumPy twins of the compiled kernels: the test oracle and the benchmark baseline.

One module per model family, written for reading, one time step at a time (min-char-rnn
style). The training path never imports them. The vanilla RNN of DD2424 (`rnn`) is
re-exported here, as `fastrnn.reference.loss_and_grads` etc.
"""
from .rnn import (PARAM_NAMES, adagrad_update, init_params, loss_and_grads, loss_only,  # noqa: F401
                  train)
