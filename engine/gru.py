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
halving folded into scaled copies of their rows. State is (1, B, H): h.
"""

from __future__ import annotations

import numpy as np

from .cells import Cell, sigmoid_half_scale

Z, R, N = range(3)  # gate block order inside the 3H columns


class GRUCell(Cell):
    """GRU, PyTorch-style reset-after candidate, one fused (z, r, n) recurrent matmul per step."""

    kind = "gru"
    gates = 3
    state_slots = 1
    names = ("Wx", "Wh", "b")

    def forward(self, xproj, Wh, state0):
        T, B, GH = xproj.shape
        H = GH // 3
        dt = xproj.dtype
        scale = sigmoid_half_scale(H, 3, N, dt)
        # pre-activations (sigmoid columns halved); become the gate values z, r, n in place
        gates = np.multiply(xproj, scale, dtype=dt)  # (T, B, 3H)
        WhT = np.ascontiguousarray((Wh * scale[:, None]).T)  # (H, 3H); BLAS is slower on a .T view
        rec = np.empty((T, B, GH), dtype=dt)  # h_{t-1} @ WhT per step; slot n is kept for backward
        hs = np.empty((T + 1, B, H), dtype=dt)  # hs[0] is h_{-1}
        hs[0] = state0[0]
        rn = np.empty((B, H), dtype=dt)
        h, a, p = list(hs), list(gates), list(rec)  # per-step views, made once
        for t in range(T):
            np.dot(h[t], WhT, out=p[t])
            zr = a[t][:, : N * H]
            zr += p[t][:, : N * H]
            np.tanh(zr, out=zr)
            zr *= 0.5
            zr += 0.5  # sigmoid on z, r
            n = a[t][:, N * H :]
            np.multiply(a[t][:, R * H : N * H], p[t][:, N * H :], out=rn)  # r * (h Wh_n^T)
            n += rn
            np.tanh(n, out=n)
            # h_t = n + z * (h_{t-1} - n)
            np.subtract(h[t], n, out=h[t + 1])
            h[t + 1] *= a[t][:, :H]
            h[t + 1] += n
        return hs[1:], (hs, gates, rec), hs[T][None].copy()

    def backward(self, dhs, cache, Wh):
        hs, gates, rec = cache
        T, B, H = dhs.shape
        g3 = gates.reshape(T, B, 3, H)
        z, r, n = g3[:, :, Z], g3[:, :, R], g3[:, :, N]
        hn = rec.reshape(T, B, 3, H)[:, :, N]  # h_{t-1} Wh_n^T
        # Every pre-activation gradient is dh_t times a factor known from the forward pass:
        #   da_n = dh (1-z)(1-n^2)                      = dh Kn
        #   da_z = dh (h_{t-1} - n) z(1-z)              = dh Kz
        #   da_r = da_n hn r(1-r)                       = dh Kn hn r(1-r)
        # and the recurrent matmul sees da_n * r in the n slot. Q holds the factors of that
        # recurrent gradient (z, r, n*r); per step only dh is new.
        Q = np.empty((T, B, 3, H), dtype=dhs.dtype)
        Kn = np.subtract(1, z)
        Kn *= 1 - n * n
        qz, qr, qn = Q[:, :, Z], Q[:, :, R], Q[:, :, N]
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
        dh, q, dr, zs, drf = list(dhs), list(Q), list(d4), list(z), list(drec)
        for t in range(T - 1, -1, -1):
            dh[t] += dhnext  # from the output and from the next step
            np.multiply(q[t], dh[t][:, None, :], out=dr[t])  # all three gates at once
            if t:
                np.dot(drf[t], Wh, out=dhnext)  # (B, 3H) @ (3H, H)
                np.multiply(dh[t], zs[t], out=tmp)  # the direct path h_{t-1} -> h_t
                dhnext += tmp
        # all steps in one matmul: dWh = sum_t d(h Wh^T)_t^T h_{t-1}
        dWh = drec.reshape(-1, 3 * H).T @ hs[:-1].reshape(-1, H)
        # input-side gradients: the same as the recurrent ones except da_n = dh Kn (no r)
        dxproj = gates  # free too
        dx4 = dxproj.reshape(T, B, 3, H)
        dx4[:, :, Z:N] = d4[:, :, Z:N]
        np.multiply(dhs, Kn, out=dx4[:, :, N])
        return dxproj, dWh

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
