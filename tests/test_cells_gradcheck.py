"""Central-difference gradient check of the compiled network (fastrnn.netcheck)."""
from __future__ import annotations

import pytest

from fastrnn.netcheck import check_network, format_table


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_gradients_pass_the_course_threshold(cell):
    rows = check_network(cell, hidden=5, layers=2, streams=3, seq_length=10)
    names = [r.name for r in rows]
    assert names[:3] == ["l1.W_x", "l1.W_h", "l1.b"] and names[-2:] == ["W_y", "b_y"]
    table = format_table(rows, 1e-6)
    assert all(r.max_error <= 1e-6 for r in rows), table
    assert "NO" not in table


def test_the_check_detects_a_wrong_gradient(monkeypatch):
    """A kernel gradient off by 1% in one tensor must fail the check there, and only there."""
    from fastrnn import netcheck

    real = netcheck.Network.loss_and_grads

    def skewed(self, *args, **kwargs):
        loss = real(self, *args, **kwargs)
        self.named(self.grad)["l2.W_h"][...] *= 1.01
        return loss

    monkeypatch.setattr(netcheck.Network, "loss_and_grads", skewed)
    rows = {r.name: r for r in check_network("gru", hidden=5, layers=2, streams=3, seq_length=10)}
    assert rows["l2.W_h"].max_error > 1e-3
    assert all(r.max_error <= 1e-6 for n, r in rows.items() if n != "l2.W_h")
