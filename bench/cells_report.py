"""The summary table of bench/test_cells.py, printed at the end of the pytest run.

Registered as a plugin from the benchmark itself (bench/conftest.py is shared and stays as
it is). Rows: (case, implementation) -> chars/s and GFLOP/s, and the ratio to PyTorch's row of
the same case when both ran in this session.
"""
from __future__ import annotations

ROWS: dict = {}          # (case, impl) -> (chars/s, flops per char)


class _Report:
    def pytest_terminal_summary(self, terminalreporter):
        if not ROWS:
            return
        from .conftest import QUICK

        w = terminalreporter.write_line
        w("")
        w("fastrnn cells engine vs PyTorch (one thread, float32"
          f"{', QUICK mode: not meaningful' if QUICK else ''})")
        w(f"{'case':<34}{'impl':<10}{'chars/s':>12}{'GFLOP/s':>10}{'x torch':>9}")
        for (case, impl), (rate, flops) in sorted(ROWS.items()):
            torch_rate = ROWS.get((case, "pytorch"), (None,))[0]
            ratio = f"{rate / torch_rate:.2f}" if torch_rate and impl != "pytorch" else "-"
            w(f"{case:<34}{impl:<10}{rate:>12,.0f}{rate * flops / 1e9:>10.2f}{ratio:>9}")


def register(config) -> None:
    """Add the summary hook once per session."""
    if not config.pluginmanager.has_plugin("fastrnn-cells-report"):
        config.pluginmanager.register(_Report(), "fastrnn-cells-report")
