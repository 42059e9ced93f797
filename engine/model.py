"""CharModel: embedding lookup, stacked recurrent cells and the softmax head, with full BPTT.

The classic min-char-rnn `lossFun(inputs, targets, hprev)` is `CharModel.loss_and_grads` with one
layer of `TanhCell` and batch size 1: loss is the cross-entropy summed over the window (averaged
over the B streams), gradients are of that loss. Parameters are a name-keyed dict; gradients use
the same names with a `d` prefix. Arrays are time-major: inputs (T, B), hidden (T, B, H).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cells import Cell, make_cell
from .config import Config
from .flat import flat_views

ONE_HOT_MAX_VOCAB = 256  # above this the one-hot matmul for dWxh costs more than a scatter-add


@dataclass
class ForwardResult:
    """What one window's forward/backward gives back."""

    loss: float  # cross-entropy summed over T, averaged over B (nats)
    grads: dict[str, np.ndarray]  # "d" + parameter name
    state: np.ndarray  # (L, S, B, H) state after the last step
    hidden: np.ndarray  # (T, B, H) last layer's hidden outputs


def gate_major_lookup(
    Wx: np.ndarray, b: np.ndarray, ids: np.ndarray, scale: np.ndarray | None, gates: int
) -> np.ndarray:
    """Input projections of one-hot ids with the bias, as a cell takes them: (G, *ids.shape, H).

    With at least as many ids as vocabulary entries, one gather from a (G, V, H) table of
    (Wx^T + b) * scale, so neither the bias nor the scale costs a pass over the larger result;
    with fewer (the classic window: 25 ids, ~80 characters), the rows are gathered first.
    """
    V = Wx.shape[1]
    if ids.size >= V:
        GHV = Wx.reshape(gates, -1, V)  # (G, H, V)
        table = np.empty((gates, V, GHV.shape[1]), dtype=Wx.dtype)
        np.add(GHV.transpose(0, 2, 1), b.reshape(gates, 1, -1), out=table)  # (G, V, H)
        if scale is not None:
            table *= scale.reshape(gates, 1, -1)
        return table.take(ids, axis=1)
    rows = Wx.T[ids] + b  # (*ids.shape, G*H)
    if scale is not None:
        rows *= scale
    return np.ascontiguousarray(np.moveaxis(rows.reshape(*ids.shape, gates, -1), -2, 0))


def gate_major_project(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, scale: np.ndarray | None, gates: int
) -> np.ndarray:
    """(x @ W.T + b) * scale for a (T, B, I) stack, as a cell takes it: (G, T, B, H).

    One (T*B, I) @ (I, H) product per gate block (numpy's batched matmul); a 3-D stack against W
    would run T small GEMMs instead (3x slower for the lstm preset's second layer).
    """
    T, B, inputs = x.shape
    GIH = W.reshape(gates, -1, inputs).transpose(0, 2, 1)  # (G, I, H) view
    if scale is None:
        WT = np.ascontiguousarray(GIH)
    else:  # scaled and made contiguous in one pass
        WT = np.multiply(GIH, scale.reshape(gates, 1, -1), out=np.empty(GIH.shape, W.dtype))
        b = b * scale
    out = np.matmul(x.reshape(T * B, inputs), WT)  # (G, T*B, H)
    out += b.reshape(gates, 1, -1)
    return out.reshape(gates, T, B, -1)


def shift_for_exp(logits: np.ndarray) -> None:
    """Make exp(logits) safe in place: subtract each row's max only when the values need it.

    Softmax is unchanged by a per-row shift; the row max costs a slow short-axis reduction, while
    two whole-array reductions show that no exp can overflow and no row can underflow to zero
    (|logit| <= EXP_SAFE), which is what almost every window of training looks like.
    """
    limit = EXP_SAFE[logits.dtype.char]
    if not (logits.max() <= limit and logits.min() >= -limit):  # also taken for NaN
        logits -= logits.max(axis=1, keepdims=True)


# exp(70) ~ 2.5e30 summed over even 1e7 columns stays below float32's max (3.4e38), and exp(-70)
# is still a normal float32; likewise exp(+-600) for float64 (max 1.8e308)
EXP_SAFE = {"f": 70.0, "d": 600.0}


class CharModel:
    """A character-level language model: ids -> stacked recurrent cells -> logits over the vocab."""

    def __init__(self, config: Config, vocab_size: int):
        self.config = config
        self.vocab_size = vocab_size
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        self.dtype = np.dtype(config.dtype)
        self.cells: list[Cell] = [
            make_cell(config.cell, config.hidden_size) for _ in range(config.num_layers)
        ]
        self.state_slots = self.cells[0].state_slots
        self._eye: np.ndarray | None = None  # (V, V) one-hot rows, made on first use

    # -- parameters -------------------------------------------------------------------------

    def layer_names(self, layer: int) -> tuple[str, str, str]:
        """Input weight, recurrent weight and bias names of a layer ('Wxh' or 'l1.Wxh' ...)."""
        base = self.cells[layer].names
        if self.num_layers == 1:
            return base
        return tuple(f"l{layer}.{n}" for n in base)  # type: ignore[return-value]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape for every parameter, in initialisation order."""
        H, V = self.hidden_size, self.vocab_size
        shapes: dict[str, tuple[int, ...]] = {}
        for layer, cell in enumerate(self.cells):
            wx, wh, _ = self.layer_names(layer)
            inputs = V if layer == 0 else H
            shapes[wx] = (cell.gates * H, inputs)
            shapes[wh] = (cell.gates * H, H)
        shapes["Why"] = (V, H)
        for layer, cell in enumerate(self.cells):
            shapes[self.layer_names(layer)[2]] = (cell.gates * H,)
        shapes["by"] = (V,)
        return shapes

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """randn * init_scale weights, zero biases, drawn in the video's order (Wxh, Whh, Why).

        The arrays are views into one flat buffer (see engine.flat), in param_shapes() order.
        """
        scale, dt = self.config.init_scale, self.dtype
        _, params = flat_views(self.param_shapes(), dt)
        for layer, cell in enumerate(self.cells):
            wx, wh, _ = self.layer_names(layer)
            params[wx][...] = rng.standard_normal(params[wx].shape) * scale
            params[wh][...] = cell.init_recurrent(rng, scale, dt)
        params["Why"][...] = rng.standard_normal((self.vocab_size, self.hidden_size)) * scale
        for layer, cell in enumerate(self.cells):
            params[self.layer_names(layer)[2]][...] = cell.init_bias(dt)
        return params

    def new_grads(self) -> dict[str, np.ndarray]:
        """Zeroed gradient arrays ('d' + name) as views of one flat buffer, for `grads_out`."""
        return flat_views({"d" + n: s for n, s in self.param_shapes().items()}, self.dtype)[1]

    def param_count(self) -> int:
        """Total number of scalar parameters."""
        return int(sum(np.prod(s) for s in self.param_shapes().values()))

    def initial_state(self, batch_size: int) -> np.ndarray:
        """Zero state (L, S, B, H)."""
        return np.zeros(
            (self.num_layers, self.state_slots, batch_size, self.hidden_size), dtype=self.dtype
        )

    # -- training ---------------------------------------------------------------------------

    def _input_projection(
        self,
        layer: int,
        params: dict[str, np.ndarray],
        inputs: np.ndarray,
        layer_in: np.ndarray | None,
    ) -> np.ndarray:
        """A layer's input projections for a window, as its cell takes them (gate-major, scaled,
        with the bias): a lookup of the ids for the first layer (no one-hot matmul), one product
        with the layer below's outputs for the others."""
        cell = self.cells[layer]
        wx, _, b = self.layer_names(layer)
        scale = cell.input_scale(self.dtype)
        if layer == 0:
            return gate_major_lookup(params[wx], params[b], inputs, scale, cell.gates)
        return gate_major_project(layer_in, params[wx], params[b], scale, cell.gates)

    def loss_and_grads(
        self,
        params: dict[str, np.ndarray],
        inputs: np.ndarray,
        targets: np.ndarray,
        state: np.ndarray,
        dropout_rng: np.random.Generator | None = None,
        grads_out: dict[str, np.ndarray] | None = None,
        reach_out: np.ndarray | None = None,
    ) -> ForwardResult:
        """Forward and full backward over one window: inputs, targets (T, B) ids; state (L, S, B, H).

        With `grads_out` (from new_grads) the gradients are written into those arrays and returned.
        With `reach_out` (L, T), each layer whose cell `reports_reach` writes its row: the norm
        of dL/dh_t at every step t of the window (other rows are left as they are).
        """
        T, B = inputs.shape
        H = self.hidden_size
        p = self.config.dropout if dropout_rng is not None else 0.0
        caches = []
        new_state = np.empty_like(state)
        layer_in: np.ndarray | None = None  # (T, B, H) input of layers above the first
        masks: list[np.ndarray | None] = []
        for layer, cell in enumerate(self.cells):
            mask = None
            if layer > 0 and p > 0.0:
                # inverted dropout on the connection between layers
                mask = (dropout_rng.random(layer_in.shape) >= p).astype(self.dtype) / (1.0 - p)
                layer_in = layer_in * mask
            xproj = self._input_projection(layer, params, inputs, layer_in)
            wh = self.layer_names(layer)[1]
            hs, cache, new_state[layer] = cell.forward(xproj, params[wh], state[layer])
            caches.append((cache, layer_in))
            masks.append(mask)
            layer_in = hs
        top = layer_in  # (T, B, H)
        head_mask = None
        if p > 0.0:
            # and on the connection into the head (Zaremba et al. 2014: every non-recurrent one)
            head_mask = (dropout_rng.random(top.shape) >= p).astype(self.dtype) / (1.0 - p)
            top = top * head_mask

        # softmax head for all steps in one matmul
        N = T * B
        logits = top.reshape(N, H) @ params["Why"].T  # (T*B, V)
        logits += params["by"]
        rows = np.arange(N)
        flat_targets = targets.reshape(-1)
        shift_for_exp(logits)
        picked = logits[rows, flat_targets]
        np.exp(logits, out=logits)
        sums = logits @ np.ones(logits.shape[1], logits.dtype)  # row sums as one gemv
        # -log softmax at the targets: log(sum exp) - logit, summed, averaged over B
        loss = float(np.log(sums).sum() - picked.sum()) / B

        # backward: dL/dlogits = (p - onehot(target)) / B for the batch mean; one pass normalises
        # and scales (B = 1 divides as the video does; 1/(B*sum) cannot overflow like B*sum)
        if B > 1:
            logits *= ((1.0 / B) / sums)[:, None]
        else:
            logits /= sums[:, None]
        dy = logits  # (T*B, V)
        dy[rows, flat_targets] -= 1.0 / B
        ones = np.ones(N, dy.dtype)  # column sums (bias gradients) as gemv, faster than sum(axis=0)
        # gradients go straight into grads_out's arrays when given (no copies), else new ones
        grads = grads_out if grads_out is not None else self.new_grads()
        np.matmul(dy.T, top.reshape(-1, H), out=grads["dWhy"])  # (V, H)
        np.dot(ones, dy, out=grads["dby"])  # (V,)
        dhs = (dy @ params["Why"]).reshape(T, B, H)  # (T, B, H) gradient into the top layer
        if head_mask is not None:
            dhs *= head_mask
        for layer in range(self.num_layers - 1, -1, -1):
            cell = self.cells[layer]
            wx, wh, b = self.layer_names(layer)
            cache, layer_input = caches[layer]
            if reach_out is not None and cell.reports_reach:
                dxproj, dWh = cell.backward(dhs, cache, params[wh], reach=reach_out[layer])
            else:
                dxproj, dWh = cell.backward(dhs, cache, params[wh])
            np.copyto(grads["d" + wh], dWh)
            flat = dxproj.reshape(-1, dxproj.shape[2])  # (T*B, G*H)
            np.dot(ones, flat, out=grads["d" + b])
            if layer == 0:
                dWx = grads["d" + wx]  # (G*H, V)
                ids = inputs.reshape(-1)
                if self.vocab_size <= ONE_HOT_MAX_VOCAB:
                    # dWx = dxproj^T @ onehot(inputs): one matmul beats np.add.at's scatter
                    if self._eye is None:
                        self._eye = np.eye(self.vocab_size, dtype=self.dtype)
                    np.matmul(flat.T, self._eye[ids], out=dWx)
                else:
                    # large vocabularies: scatter-add rows into the columns the inputs selected
                    dWx.fill(0.0)
                    np.add.at(dWx.T, ids, flat)
            else:
                np.matmul(flat.T, layer_input.reshape(-1, H), out=grads["d" + wx])
                dhs = (flat @ params[wx]).reshape(T, B, H)
                if masks[layer] is not None:
                    dhs *= masks[layer]
        return ForwardResult(loss=loss, grads=grads, state=new_state, hidden=layer_in)

    def loss(
        self,
        params: dict[str, np.ndarray],
        inputs: np.ndarray,
        targets: np.ndarray,
        state: np.ndarray,
    ) -> tuple[float, np.ndarray]:
        """Forward only (no dropout): summed cross-entropy over all (T, B) and the final state."""
        T, B = inputs.shape
        layer_in = None
        new_state = np.empty_like(state)
        for layer, cell in enumerate(self.cells):
            xproj = self._input_projection(layer, params, inputs, layer_in)
            wh = self.layer_names(layer)[1]
            layer_in, _, new_state[layer] = cell.forward(
                xproj, params[wh], state[layer], need_grads=False
            )
        logits = layer_in.reshape(T * B, -1) @ params["Why"].T + params["by"]
        logits = logits.astype(np.float64, copy=False)
        shift_for_exp(logits)
        picked = logits[np.arange(T * B), targets.reshape(-1)]
        lse = np.log(np.exp(logits) @ np.ones(logits.shape[1]))
        return float((lse - picked).sum()), new_state

    # -- generation -------------------------------------------------------------------------

    def step(
        self, params: dict[str, np.ndarray], ids: np.ndarray, state: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One step for B streams: ids (B,) -> logits (B, V), new state (L, S, B, H)."""
        new_state = np.empty_like(state)
        x = None
        for layer, cell in enumerate(self.cells):
            wx, wh, b = self.layer_names(layer)
            xproj = params[wx].T[ids] if layer == 0 else x @ params[wx].T  # new arrays
            xproj += params[b]
            new_state[layer] = cell.step(xproj, params[wh], state[layer])
            x = new_state[layer, 0]
        return x @ params["Why"].T + params["by"], new_state
