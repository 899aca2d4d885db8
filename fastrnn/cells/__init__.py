"""The recurrent cells: one compiled module per cell, one NumPy twin per cell, one registry.

A cell module (fastrnn.cells.<name>) holds GATES (stacked gate blocks: the input and
recurrent weights have GATES * m columns), STATES (1, or 2 when it carries c beside h),
init_weight / init_bias, and the cached forward / backward of one layer over a (T, B) chunk
(fastrnn.cells.common has the recurrent products they share). fastrnn.network_kernels holds
the network bodies and their entry points for every cell. Its reference twin
(fastrnn.reference.<...>) holds init-free NumPy step / step_backward of one stream, one step
at a time.

Adding a cell: one module here, one reference module, one line in CELLS, and in
fastrnn.network_kernels its number, its place in _CELL_MODULES and its entry points.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class CellInfo:
    name: str
    gates: int              # gate blocks stacked along the weights' columns
    states: int             # recurrent state arrays per layer: 1 (h) or 2 (h, c)
    has_b_hn: bool          # a separate recurrent bias inside the cell (GRU's b_hn)
    kernel: str             # module with the compiled forward/backward and the init
    reference: str          # its NumPy twin

    def kernels(self) -> ModuleType:
        return importlib.import_module(self.kernel)

    def reference_module(self) -> ModuleType:
        return importlib.import_module(self.reference)


CELLS = {
    "rnn": CellInfo("rnn", 1, 1, False, "fastrnn.cells.rnn", "fastrnn.reference.rnn_cell"),
    "lstm": CellInfo("lstm", 4, 2, False, "fastrnn.cells.lstm", "fastrnn.reference.lstm"),
    "gru": CellInfo("gru", 3, 1, True, "fastrnn.cells.gru", "fastrnn.reference.gru"),
}
