"""LSTMCell: the long short-term memory recurrence over precomputed input projections.

    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o)      a = x Wx^T + h_{t-1} Wh^T + b
    g = tanh(a_g)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

The G = 4 gate blocks of Wx, Wh and b are stored in the order (o, i, f, g): the three sigmoid gates
are contiguous, so one in-place pass squashes them, and (i, f, g), the gates that meet dc in the
backward pass, are contiguous too, so one broadcast multiply gives their gradients. The forget-gate
bias starts at 1 (Gers et al. 2000; Jozefowicz et al. 2015) so memory is kept early in training.

sigmoid(a) = (1 + tanh(a / 2)) / 2: the halving is folded into the sigmoid rows of the weights
(Wx and b through `input_scale`, by the model; Wh here), so each step runs a single tanh over all
four gates. State is (2, B, H): slot 0 is h, slot 1 is c.

The forward loop also computes, while a step is still in cache, every factor of the backward pass
that does not depend on the incoming gradient, so the backward loop is six elementwise calls and
one matmul per step.
"""

from __future__ import annotations

import numpy as np

from .cells import Cell, scaled_transpose, sigmoid_half_scale

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

    def input_scale(self, dtype: np.dtype) -> np.ndarray:
        """0.5 on the sigmoid gates o, i, f (see the module docstring)."""
        return sigmoid_half_scale(self.hidden_size, 4, G, dtype)

    def forward(self, xproj, Wh, state0, need_grads=True):
        _, T, B, H = xproj.shape
        dt = xproj.dtype
        WhT = scaled_transpose(Wh, self.input_scale(dt))  # (H, 4H)
        gates = np.empty((4, B, H), dtype=dt)  # the step's activations o, i, f, g
        hs = np.empty((T + 1, B, H), dtype=dt)  # hs[0] is h_{-1}
        hs[0] = state0[0]
        c_prev, c = state0[1].copy(), np.empty((B, H), dtype=dt)
        # What backward needs (da_o = dh K[o], da_ifg = dc K[i,f,g], dc = dh A + dc_{t+1} f_{t+1}):
        #   K[o] = tanh(c) o(1-o)   K[i] = g i(1-i)   K[f] = c_{t-1} f(1-f)   K[g] = i (1-g^2)
        #   A = o (1 - tanh(c)^2), and the forget gates f.
        # K takes the place of the input projections: step t's are read before its K is written.
        K = xproj
        A = np.empty((T, B, H), dtype=dt) if need_grads else None
        fs = np.empty((T, B, H), dtype=dt) if need_grads else None
        rec = np.empty((B, 4 * H), dtype=dt)  # recurrent term of one step
        rec_gates = rec.reshape(B, 4, H).transpose(1, 0, 2)  # the same as (4, B, H)
        ig = np.empty((B, H), dtype=dt)
        tc = np.empty((B, H), dtype=dt)  # tanh(c_t)
        mul, add, sub = np.multiply, np.add, np.subtract
        tanh, dot, copyto = np.tanh, np.dot, np.copyto
        # per-step views, made once
        x_, h_ = list(xproj.swapaxes(0, 1)), list(hs)
        s, o, i, f, g = gates[:G], *gates
        if need_grads:
            ksig_, A_, f_ = list(K[:G].swapaxes(0, 1)), list(A), list(fs)
            ko_, ki_, kf_, kg_ = (list(K[k]) for k in (O, I, F, G))
        for t in range(T):
            dot(h_[t], WhT, out=rec)
            add(x_[t], rec_gates, out=gates)
            tanh(gates, out=gates)  # tanh(a/2) on o, i, f; tanh(a) on g
            mul(s, 0.5, out=s)
            add(s, 0.5, out=s)  # now sigmoid(a) on o, i, f
            mul(f, c_prev, out=c)  # c_t = f * c_{t-1} + i * g
            mul(i, g, out=ig)
            add(c, ig, out=c)
            tanh(c, out=tc)
            mul(o, tc, out=h_[t + 1])  # h_t = o * tanh(c_t)
            if need_grads:
                copyto(f_[t], f)
                ks = ksig_[t]  # s(1-s) on o, i, f, then the factors above
                sub(1, s, out=ks)
                mul(ks, s, out=ks)
                mul(ko_[t], tc, out=ko_[t])
                mul(ki_[t], g, out=ki_[t])
                mul(kf_[t], c_prev, out=kf_[t])
                kg = kg_[t]
                mul(g, g, out=kg)
                sub(1, kg, out=kg)
                mul(kg, i, out=kg)
                At = A_[t]
                mul(tc, tc, out=At)
                sub(1, At, out=At)
                mul(At, o, out=At)
            c_prev, c = c, c_prev
        final = np.stack((hs[T], c_prev))  # (2, B, H)
        return hs[1:], (hs, K, A, fs) if need_grads else None, final

    def backward(self, dhs, cache, Wh):
        hs, K, A, f = cache
        T, B, H = dhs.shape
        dt = dhs.dtype
        dxproj = np.empty((T, B, 4 * H), dtype=dt)
        dgates = dxproj.reshape(T, B, 4, H).transpose(0, 2, 1, 3)  # the same as (T, 4, B, H)
        dhnext = np.zeros((B, H), dtype=dt)
        dc = np.empty((B, H), dtype=dt)
        dc_carry = np.zeros((B, H), dtype=dt)  # dc_{t+1} * f_{t+1}
        mul, add, dot = np.multiply, np.add, np.dot
        # per-step views, made once
        dh_, A_, f_, dx_ = list(dhs), list(A), list(f), list(dxproj)
        ko_, kifg_ = list(K[O]), list(K[I:].swapaxes(0, 1))
        do_, difg_ = list(dgates[:, O]), list(dgates[:, I:])
        for t in range(T - 1, -1, -1):
            dh = dh_[t]
            add(dh, dhnext, out=dh)  # from the output and from the next step
            mul(ko_[t], dh, out=do_[t])
            mul(dh, A_[t], out=dc)
            add(dc, dc_carry, out=dc)
            mul(kifg_[t], dc, out=difg_[t])  # i, f, g at once
            if t:
                mul(dc, f_[t], out=dc_carry)
                dot(dx_[t], Wh, out=dhnext)  # (B, 4H) @ (4H, H)
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

    def trace(self, xproj, Wh, state0):
        _, T, B, H = xproj.shape
        dt = xproj.dtype
        WhT = scaled_transpose(Wh, self.input_scale(dt))  # (H, 4H), halved like xproj's o, i, f
        names = ("h", "c", "i", "f", "o", "g")
        out = {name: np.empty((T, B, H), dtype=dt) for name in names}
        h, c = state0[0], state0[1]  # (B, H) each
        for t in range(T):
            # pre-activations (4, B, H): a / 2 on the sigmoid gates o, i, f, a itself on g
            a = xproj[:, t] + (h @ WhT).reshape(B, 4, H).transpose(1, 0, 2)
            o, i, f = np.tanh(a[:G]) * 0.5 + 0.5  # sigmoid(a) = (1 + tanh(a / 2)) / 2
            g = np.tanh(a[G])
            c = f * c + i * g
            h = o * np.tanh(c)
            for name, value in zip(names, (h, c, i, f, o, g), strict=True):
                out[name][t] = value
        return out, np.stack((h, c))
