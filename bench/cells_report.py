"""The summary table of bench/test_cells.py, printed at the end of the pytest run.

Registered as a plugin from the benchmark itself (bench/conftest.py is shared and stays as
it is). Rows: (case, implementation + thread count, e.g. "fastrnn t2") -> chars/s and GFLOP/s, the
ratio to PyTorch's row of the same case and thread count, and the speed-up of a 2-thread row
over the same implementation's 1-thread row, when those ran in this session; and for the
fastrnn t1 rows the ratio from test_paired's rounds run in turn (median, and in brackets the
lowest and highest pair).
"""
from __future__ import annotations

ROWS: dict = {}          # (case, impl) -> (chars/s, flops per char)
PAIRED: dict = {}        # case -> (median, lowest, highest) ratio of PyTorch's time to ours


class _Report:
    def pytest_terminal_summary(self, terminalreporter):
        if not ROWS and not PAIRED:
            return
        from .conftest import QUICK

        w = terminalreporter.write_line
        w("")
        w("fastrnn cells engine vs PyTorch (float32, t<n>: n threads"
          f"{', QUICK mode: not meaningful' if QUICK else ''})")
        w(f"{'case':<30}{'impl':<12}{'chars/s':>12}{'GFLOP/s':>10}{'x torch':>9}{'x t1':>7}"
          f"  x paired")
        keys = set(ROWS) | {(case, "fastrnn t1") for case in PAIRED}
        for case, impl in sorted(keys):
            rate, flops = ROWS.get((case, impl), (None, None))
            name, threads = impl.split(" ")
            torch_rate = ROWS.get((case, f"pytorch {threads}"), (None,))[0]
            ratio = f"{rate / torch_rate:.2f}" if rate and torch_rate and name != "pytorch" else "-"
            one = ROWS.get((case, f"{name} t1"), (None,))[0]
            scale = f"{rate / one:.2f}" if rate and one and threads != "t1" else "-"
            speed = f"{rate:>12,.0f}{rate * flops / 1e9:>10.2f}" if rate else f"{'-':>12}{'-':>10}"
            paired = PAIRED.get(case) if impl == "fastrnn t1" else None
            pair = f"  {paired[0]:.2f} ({paired[1]:.2f}-{paired[2]:.2f})" if paired else ""
            w(f"{case:<30}{impl:<12}{speed}{ratio:>9}{scale:>7}{pair}")


def register(config) -> None:
    """Add the summary hook once per session."""
    if not config.pluginmanager.has_plugin("fastrnn-cells-report"):
        config.pluginmanager.register(_Report(), "fastrnn-cells-report")
