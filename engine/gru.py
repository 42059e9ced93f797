"""GRUCell: the gated recurrent unit over precomputed input projections.

    z = sigmoid(x Wx_z^T + b_z + h_{t-1} Wh_z^T)           update gate
    r = sigmoid(x Wx_r^T + b_r + h_{t-1} Wh_r^T)           reset gate
    n = tanh(x Wx_n^T + b_n + r * (h_{t-1} Wh_n^T))        candidate
    h_t = (1 - z) * n + z * h_{t-1}  =  n + z * (h_{t-1} - n)

The reset gate multiplies the recurrent projection of the candidate (the "reset after" form of
cuDNN and PyTorch's nn.GRU) rather than h before the projection ((r*h) Wh_n^T, the 2014 paper's
form). That keeps the step to one fused (B, H) @ (H, 3H) matmul for all three gates. There is no
separate recurrent bias inside r * (...): the model adds one bias per gate to the input
projections, so this is nn.GRU with b_hn = 0.

The G = 3 gate blocks of Wx, Wh and b are stored in the order (z, r, n): the two sigmoid gates are
contiguous and squashed in one in-place pass, with sigmoid(a) = (1 + tanh(a / 2)) / 2 and the
halving folded into their rows (Wx and b through `input_scale`, by the model; Wh here). State is
(1, B, H): h.
"""

from __future__ import annotations

import numpy as np

from .cells import Cell, scaled_transpose, sigmoid_half_scale

Z, R, N = range(3)  # gate block order inside the 3H columns


class GRUCell(Cell):
    """GRU, PyTorch-style reset-after candidate, one fused (z, r, n) recurrent matmul per step."""

    kind = "gru"
    gates = 3
    state_slots = 1
    names = ("Wx", "Wh", "b")

    def input_scale(self, dtype: np.dtype) -> np.ndarray:
        """0.5 on the sigmoid gates z, r (see the module docstring)."""
        return sigmoid_half_scale(self.hidden_size, 3, N, dtype)

    def forward(self, xproj, Wh, state0, need_grads=True):
        _, T, B, H = xproj.shape
        dt = xproj.dtype
        gates = xproj  # (3, T, B, H) scaled pre-activations; become z, r, n in place
        WhT = scaled_transpose(Wh, self.input_scale(dt))  # (H, 3H)
        rec = np.empty((T, B, 3 * H), dtype=dt)  # h_{t-1} @ WhT per step; slot n kept for backward
        rec_gates = rec.reshape(T, B, 3, H).transpose(0, 2, 1, 3)  # the same as (T, 3, B, H)
        hs = np.empty((T + 1, B, H), dtype=dt)  # hs[0] is h_{-1}
        hs[0] = state0[0]
        rn = np.empty((B, H), dtype=dt)
        mul, add, sub, tanh, dot = np.multiply, np.add, np.subtract, np.tanh, np.dot
        # per-step views, made once
        h, p, pg = list(hs), list(rec), list(rec_gates)
        zr_ = list(gates[:N].swapaxes(0, 1))  # (2, B, H): z and r of a step
        z_, r_, n_ = list(gates[Z]), list(gates[R]), list(gates[N])
        for t in range(T):
            dot(h[t], WhT, out=p[t])
            zr = zr_[t]
            add(zr, pg[t][:N], out=zr)
            tanh(zr, out=zr)
            mul(zr, 0.5, out=zr)
            add(zr, 0.5, out=zr)  # sigmoid on z, r
            n = n_[t]
            mul(r_[t], pg[t][N], out=rn)  # r * (h Wh_n^T)
            add(n, rn, out=n)
            tanh(n, out=n)
            # h_t = n + z * (h_{t-1} - n)
            ht = h[t + 1]
            sub(h[t], n, out=ht)
            mul(ht, z_[t], out=ht)
            add(ht, n, out=ht)
        return hs[1:], (hs, gates, rec), hs[T][None].copy()

    def backward(self, dhs, cache, Wh):
        hs, gates, rec = cache
        T, B, H = dhs.shape
        z, r, n = gates[Z], gates[R], gates[N]
        hn = rec.reshape(T, B, 3, H)[:, :, N]  # h_{t-1} Wh_n^T
        # Every pre-activation gradient is dh_t times a factor known from the forward pass:
        #   da_n = dh (1-z)(1-n^2)                      = dh Kn
        #   da_z = dh (h_{t-1} - n) z(1-z)              = dh Kz
        #   da_r = da_n hn r(1-r)                       = dh Kn hn r(1-r)
        # and the recurrent matmul sees da_n * r in the n slot. Q holds the factors of that
        # recurrent gradient (z, r, n*r); per step only dh is new.
        Q = np.empty((3, T, B, H), dtype=dhs.dtype)
        Kn = np.subtract(1, z)
        Kn *= 1 - n * n
        qz, qr, qn = Q[Z], Q[R], Q[N]
        np.subtract(1, z, out=qz)
        qz *= z
        qz *= hs[:-1] - n
        np.subtract(1, r, out=qr)
        qr *= r
        qr *= hn
        qr *= Kn
        np.multiply(Kn, r, out=qn)
        drec = rec  # the forward's recurrent buffer is free now: it becomes d(h Wh^T) per step
        d4 = drec.reshape(T, B, 3, H)
        dhnext = np.zeros((B, H), dtype=dhs.dtype)
        tmp = np.empty((B, H), dtype=dhs.dtype)
        # per-step views, made once
        dh, zs, drf = list(dhs), list(z), list(drec)
        q, dr = list(Q.swapaxes(0, 1)), list(d4.swapaxes(1, 2))  # (3, B, H) each
        for t in range(T - 1, -1, -1):
            dh[t] += dhnext  # from the output and from the next step
            np.multiply(q[t], dh[t], out=dr[t])  # all three gates at once
            if t:
                np.dot(drf[t], Wh, out=dhnext)  # (B, 3H) @ (3H, H)
                np.multiply(dh[t], zs[t], out=tmp)  # the direct path h_{t-1} -> h_t
                dhnext += tmp
        # all steps in one matmul: dWh = sum_t d(h Wh^T)_t^T h_{t-1}
        dWh = drec.reshape(-1, 3 * H).T @ hs[:-1].reshape(-1, H)
        # input-side gradients: the same as the recurrent ones except da_n = dh Kn (no r)
        np.multiply(dhs, Kn, out=d4[:, :, N])
        return drec, dWh

    def step(self, xproj, Wh, state):
        H = self.hidden_size
        h = state[0]
        p = h @ Wh.T  # (B, 3H)
        a = xproj[:, : N * H] + p[:, : N * H]
        a *= 0.5
        np.tanh(a, out=a)
        a *= 0.5
        a += 0.5
        z, r = a[:, :H], a[:, H:]
        n = np.tanh(xproj[:, N * H :] + r * p[:, N * H :])
        return (n + z * (h - n))[None]

    def trace(self, xproj, Wh, state0):
        _, T, B, H = xproj.shape
        dt = xproj.dtype
        WhT = scaled_transpose(Wh, self.input_scale(dt))  # (H, 3H), halved like xproj's z, r
        names = ("h", "z", "r", "n")
        out = {name: np.empty((T, B, H), dtype=dt) for name in names}
        h = state0[0]  # (B, H)
        for t in range(T):
            rec = (h @ WhT).reshape(B, 3, H).transpose(1, 0, 2)  # (3, B, H): h_{t-1} Wh^T
            z, r = np.tanh(xproj[:N, t] + rec[:N]) * 0.5 + 0.5  # sigmoid, as in lstm.py
            n = np.tanh(xproj[N, t] + r * rec[N])  # reset after the recurrent projection
            h = n + z * (h - n)
            for name, value in zip(names, (h, z, r, n), strict=True):
                out[name][t] = value
        return out, h[None].copy()
