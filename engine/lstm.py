"""LSTMCell: the long short-term memory recurrence over precomputed input projections.

    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o)      a = x Wx^T + h_{t-1} Wh^T + b
    g = tanh(a_g)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

The G = 4 gate blocks of Wx, Wh and b are stored in the order (o, i, f, g): the three sigmoid gates
are contiguous, so one in-place pass squashes them, and (i, f, g), the gates that meet dc in the
backward pass, are contiguous too, so one broadcast multiply gives their gradients. The forget-gate
bias starts at 1 (Gers et al. 2000; Jozefowicz et al. 2015) so memory is kept early in training.

sigmoid(a) = (1 + tanh(a / 2)) / 2: the halving is folded into a scaled copy of the sigmoid rows of
Wh and of the input projections, so each step runs a single tanh over all 4H columns. State is
(2, B, H): slot 0 is h, slot 1 is c.
"""

from __future__ import annotations

import numpy as np

from .cells import Cell, sigmoid_half_scale

O, I, F, G = range(4)  # gate block order inside the 4H columns


class LSTMCell(Cell):
    """LSTM with a fused (o, i, f, g) gate matmul per step and forget-gate bias initialised to 1."""

    kind = "lstm"
    gates = 4
    state_slots = 2
    names = ("Wx", "Wh", "b")

    def init_bias(self, dtype: np.dtype) -> np.ndarray:
        """Zero bias except 1.0 on the forget gate."""
        H = self.hidden_size
        b = np.zeros(4 * H, dtype=dtype)
        b[F * H : (F + 1) * H] = 1.0
        return b

    def forward(self, xproj, Wh, state0):
        T, B, GH = xproj.shape
        H = GH // 4
        dt = xproj.dtype
        scale = sigmoid_half_scale(H, 4, G, dt)
        # pre-activations, with the sigmoid columns halved; become the activations in place
        gates = np.multiply(xproj, scale, dtype=dt)  # (T, B, 4H)
        # (H, 4H) contiguous: BLAS runs h @ WhT ~30% slower on a transposed view
        WhT = np.ascontiguousarray((Wh * scale[:, None]).T)
        hs = np.empty((T + 1, B, H), dtype=dt)  # hs[0] is h_{-1}
        cs = np.empty((T + 1, B, H), dtype=dt)  # cs[0] is c_{-1}
        tcs = np.empty((T, B, H), dtype=dt)  # tanh(c_t), kept for backward
        hs[0], cs[0] = state0[0], state0[1]
        rec = np.empty((B, GH), dtype=dt)  # recurrent term of one step
        ig = np.empty((B, H), dtype=dt)
        # per-step views, made once: (B, 4H) gates, their sigmoid block and each gate
        a_, h_, c_, tc_ = list(gates), list(hs), list(cs), list(tcs)
        sig_ = list(gates[:, :, : G * H])
        o_, i_, f_, g_ = (list(gates[:, :, k * H : (k + 1) * H]) for k in (O, I, F, G))
        for t in range(T):
            a = a_[t]
            np.dot(h_[t], WhT, out=rec)
            a += rec
            np.tanh(a, out=a)  # tanh(a/2) on o, i, f; tanh(a) on g
            s = sig_[t]
            s *= 0.5
            s += 0.5  # now sigmoid(a) on o, i, f
            c = c_[t + 1]
            np.multiply(f_[t], c_[t], out=c)  # c_t = f * c_{t-1} + i * g
            np.multiply(i_[t], g_[t], out=ig)
            c += ig
            np.tanh(c, out=tc_[t])
            np.multiply(o_[t], tc_[t], out=h_[t + 1])  # h_t = o * tanh(c_t)
        final = np.stack((hs[T], cs[T]))  # (2, B, H)
        return hs[1:], (hs, cs, tcs, gates), final

    def backward(self, dhs, cache, Wh):
        hs, cs, tcs, gates = cache
        T, B, H = dhs.shape
        dt = dhs.dtype
        g4 = gates.reshape(T, B, 4, H)
        o, i, f, g = g4[:, :, O], g4[:, :, I], g4[:, :, F], g4[:, :, G]
        # Everything that does not depend on the incoming gradient, for all steps at once:
        #   da_o = dh * tanh(c) * o(1-o)            K[o]
        #   dc   = dh * o (1 - tanh(c)^2) + dc_{t+1} * f_{t+1}     A = o (1 - tanh(c)^2)
        #   da_i = dc * g * i(1-i)                   K[i]
        #   da_f = dc * c_{t-1} * f(1-f)             K[f]
        #   da_g = dc * i * (1 - g^2)                K[g]
        # K then becomes the gate gradients dxproj in place, step by step.
        K = np.empty((T, B, 4, H), dtype=dt)
        sig = K[:, :, O : F + 1]  # o, i, f: s(1-s) in two passes over the contiguous sigmoid block
        np.subtract(1, g4[:, :, O : F + 1], out=sig)
        sig *= g4[:, :, O : F + 1]
        K[:, :, O] *= tcs
        K[:, :, I] *= g
        K[:, :, F] *= cs[:-1]
        kg = K[:, :, G]
        np.multiply(g, g, out=kg)
        np.subtract(1, kg, out=kg)
        kg *= i
        A = np.multiply(tcs, tcs)
        np.subtract(1, A, out=A)
        A *= o

        dhnext = np.zeros((B, H), dtype=dt)
        dc = np.empty((B, H), dtype=dt)
        dc_carry = np.zeros((B, H), dtype=dt)  # dc_{t+1} * f_{t+1}
        dcb = dc[:, None, :]  # (B, 1, H): broadcasts over the i, f, g blocks
        # per-step views, made once
        dh_, a_, f_ = list(dhs), list(A), list(f)
        k_, ko_, kifg_ = list(K.reshape(T, B, 4 * H)), list(K[:, :, O]), list(K[:, :, I:])
        for t in range(T - 1, -1, -1):
            dh = dh_[t]
            dh += dhnext  # from the output and from the next step
            ko_[t] *= dh
            np.multiply(dh, a_[t], out=dc)
            dc += dc_carry
            kifg_[t] *= dcb  # i, f, g at once
            if t:
                np.multiply(dc, f_[t], out=dc_carry)
                np.dot(k_[t], Wh, out=dhnext)  # (B, 4H) @ (4H, H)
        dxproj = K.reshape(T, B, 4 * H)
        # all steps in one matmul: dWh = sum_t da_t^T h_{t-1}
        dWh = dxproj.reshape(-1, 4 * H).T @ hs[:-1].reshape(-1, H)
        return dxproj, dWh

    def step(self, xproj, Wh, state):
        H = self.hidden_size
        a = xproj + state[0] @ Wh.T  # (B, 4H)
        s = a[:, : G * H]
        s *= 0.5
        np.tanh(a, out=a)
        s *= 0.5
        s += 0.5
        o, i, f, g = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c = f * state[1] + i * g
        return np.stack((o * np.tanh(c), c))
