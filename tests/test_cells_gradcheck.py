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


def test_output_layer_differences_equal_one_pass_per_element():
    """output_differences (all of W_y and b_y at once) against the plain way: the reference
    loss of the chunk with one element moved, two passes per element, in extended precision."""
    import numpy as np

    from fastrnn.gradcheck import output_differences
    from fastrnn.reference import network as refnet

    rng = np.random.default_rng(3)
    T, B, m, K = 7, 2, 4, 9
    top = np.tanh(rng.standard_normal((T, B, m))).astype(np.longdouble)
    W_y = (rng.standard_normal((m, K)) * 0.5).astype(np.longdouble)
    b_y = (rng.standard_normal(K) * 0.5).astype(np.longdouble)
    Y = rng.integers(0, K, (T, B))
    Y[0, 0] = Y[1, 1] = 3                 # a column that is some steps' target
    step = 1e-4
    fast = output_differences(top, W_y, b_y, Y, step)
    for name, theta in (("W_y", W_y), ("b_y", b_y)):
        slow = np.zeros(theta.shape)
        flat, sflat = theta.reshape(-1), slow.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + np.longdouble(step)
            plus, up = refnet.output_loss(top, W_y, b_y, Y), flat[i]
            flat[i] = old - np.longdouble(step)
            minus, down = refnet.output_loss(top, W_y, b_y, Y), flat[i]
            flat[i] = old
            sflat[i] = (plus - minus) / (up - down)
        assert fast[name].shape == theta.shape
        np.testing.assert_allclose(fast[name], slow, rtol=1e-11, atol=1e-14)
