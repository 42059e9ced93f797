"""The engine's batch-1 classic model reproduces the plain per-sample min-char-rnn algorithm.

Two yardsticks. `reference_classic` is the video's code written out here (column vectors, one-hot
inputs, a data pointer); ../shared/golden/classic-kafka.npz holds the values an independent
implementation computed (its README says how), so a misunderstanding shared by the engine and the
reference written beside it is caught too. The engine is batched, time-major and vectorised. From
the same state they must give the same loss, clipped gradients and next hidden state (to 1e-10
relative); from the same initial weights the same first 10 training losses (to 1e-10); and over
2,000 iterations on kafka.txt the same level of loss (Adagrad at lr 0.1 is chaotic, so after a
dozen iterations only averages are comparable).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import reference_classic as ref
from rnn_tui.engine import Config, Trainer
from rnn_tui.engine.optim import clip_by_value

CLASSIC = Config(
    val_fraction=0.0
)  # the video's model; val_fraction 0 so it trains on the whole text
GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden" / "classic-kafka.npz"
GOLDEN_LAST500_NATS_PER_CHAR = 2.2858  # ../shared/golden/README.md: mean of losses[-500:] / 25
ITERATIONS = 2000
# Long-run tolerance: the engine's classic run with its initial weights perturbed by 1e-12
# (relative) six times gave last-500 means from 2.249 to 2.321 nats/char (2026-12-02), up to
# 1.6% from the golden 2.2858: rounding alone moves a chaotic run that far, so 3% it is.
LONG_RUN_RTOL = 0.03


def to_reference(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Engine parameters (1-D biases) as the reference's column-vector parameters (copies)."""
    return {
        k: (v.reshape(-1, 1) if v.ndim == 1 else v).astype(np.float64, copy=True)
        for k, v in params.items()
    }


def to_engine(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference parameters (column-vector biases) as engine parameters (copies)."""
    return {k: (v[:, 0] if k in ("bh", "by") else v).copy() for k, v in params.items()}


def scale_relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual - expected| / max |expected| (0 when both are all zero)."""
    actual = np.asarray(actual, dtype=np.float64).reshape(expected.shape)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    diff = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    return 0.0 if diff == 0.0 else diff / max(scale, 1e-300)


def random_classic_params(
    rng: np.random.Generator, H: int, V: int, scale: float
) -> dict[str, np.ndarray]:
    """Reference-shaped random parameters, biases included.

    The recurrent matrix stays contractive (spectral radius < 1) so the window's recurrence is
    well conditioned: with a chaotic Whh two correct implementations that merely sum in another
    order would differ by far more than 1e-10. The other weights go up to scale 2, which makes
    the softmax confident and the gradients large enough that clipping at 5 matters.
    """
    return {
        "Wxh": rng.standard_normal((H, V)) * scale,
        "Whh": rng.standard_normal((H, H)) * min(scale, 0.08),
        "Why": rng.standard_normal((V, H)) * scale,
        "bh": rng.standard_normal((H, 1)) * scale,
        "by": rng.standard_normal((V, 1)) * scale,
    }


@pytest.fixture(scope="module")
def classic_trainer_factory(kafka_text):
    """Build classic trainers on kafka.txt (all share the same vocabulary and ids)."""

    def build(**changes) -> Trainer:
        return Trainer(CLASSIC.replace(**changes) if changes else CLASSIC, kafka_text)

    return build


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    """The independent implementation's values (skips when ../shared/golden is absent)."""
    if not GOLDEN.is_file():
        pytest.skip(
            f"golden values {GOLDEN} are absent (expected ../shared/golden beside the repository); "
            "the engine is still compared with tests/reference_classic.py"
        )
    with np.load(GOLDEN, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


@pytest.fixture(scope="module")
def engine_losses(classic_trainer_factory) -> list[float]:
    """The engine's 2,000 classic iterations (Trainer.step, B = 1), as window sums like the
    reference (about 1.3 s on an idle 2-core machine)."""
    trainer = classic_trainer_factory()
    return [trainer.train_step() * trainer.config.seq_length for _ in range(ITERATIONS)]


def test_classic_config_is_the_video_model():
    assert (CLASSIC.cell, CLASSIC.hidden_size, CLASSIC.num_layers, CLASSIC.batch_size) == (
        "rnn",
        100,
        1,
        1,
    )
    assert (CLASSIC.seq_length, CLASSIC.learning_rate, CLASSIC.optimizer) == (25, 0.1, "adagrad")
    assert (CLASSIC.clip, CLASSIC.clip_mode, CLASSIC.init_scale, CLASSIC.dtype) == (
        5.0,
        "value",
        0.01,
        "float64",
    )


def test_trainer_draws_the_reference_initial_weights_in_video_order(classic_trainer_factory):
    trainer = classic_trainer_factory()
    V, H = len(trainer.vocab), CLASSIC.hidden_size
    expected = ref.init_params(V, H, seed=0)
    assert set(trainer.params) == set(ref.PARAM_NAMES)
    for name in ref.PARAM_NAMES:
        got = to_reference(trainer.params)[name]
        assert got.shape == expected[name].shape, name
        assert np.array_equal(got, expected[name]), (
            f"{name} differs from default_rng(0) drawn as Wxh, Whh, Why"
        )
    other = classic_trainer_factory(seed=1)
    assert not np.array_equal(other.params["Wxh"], trainer.params["Wxh"])


def test_one_window_matches_reference_loss_gradients_and_next_state(classic_trainer_factory):
    """20 random states, each with a window from the engine's streams, compared to lossFun."""
    trainer = classic_trainer_factory()
    model, streams = trainer.model, trainer.streams
    V, H, T = len(trainer.vocab), CLASSIC.hidden_size, CLASSIC.seq_length
    rng = np.random.default_rng(2024)
    segment = streams.segment
    last_offset = ((segment - T - 2) // T) * T  # the last window before the stream wraps
    # random offsets (no wrap), the start, the last window before the wrap, the wrap after it, and
    # an offset whose window would end exactly on the last character (the classic `>=` resets it)
    offsets = [int(o) for o in rng.integers(0, segment - T - 1, size=16)]
    offsets += [0, last_offset, last_offset + T, segment - T - 1]
    scales = [0.01, 0.1, 0.3, 1.0, 2.0]
    clipped_states = 0
    saw_wrap = False
    for i, offset in enumerate(offsets):
        params = random_classic_params(rng, H, V, scales[i % len(scales)])
        hprev = np.tanh(rng.standard_normal((H, 1)))

        # engine: the streams decide the window and whether the state resets
        streams.load_state_dict({"offset": offset, "epoch": 0, "started": 1})
        inputs, targets, wrapped = streams.next_window()  # (T, 1) each
        state = np.zeros((1, 1, 1, H)) if wrapped else hprev.reshape(1, 1, 1, H).copy()
        result = model.loss_and_grads(to_engine(params), inputs, targets, state)

        # reference: its own data pointer and reset rule
        run = ref.ClassicRun(trainer.train_ids, V, params=params)
        run.p, run.n, run.hprev = offset, 1, hprev.copy()
        ref_inputs, ref_targets = run.window()
        assert list(inputs[:, 0]) == ref_inputs and list(targets[:, 0]) == ref_targets, (
            f"window {i}"
        )
        assert wrapped == (offset in (last_offset + T, segment - T - 1))
        saw_wrap |= wrapped
        assert list(targets[:-1, 0]) == list(inputs[1:, 0])
        loss, grads, hnext = ref.loss_fun(ref_inputs, ref_targets, run.hprev, params)

        assert result.loss == pytest.approx(loss, rel=1e-10, abs=0), f"loss, state {i}"
        assert scale_relative_error(result.state, hnext) < 1e-10, f"next hidden state, state {i}"
        assert scale_relative_error(result.hidden[-1], hnext) < 1e-10
        assert set(result.grads) == set(grads)
        for name, g in grads.items():
            assert result.grads[name].shape == (
                (g.shape[0],) if name in ("dbh", "dby") else g.shape
            )
            err = scale_relative_error(result.grads[name], g)
            assert err < 1e-10, f"{name} before clipping, state {i}: {err:.2e}"
        fraction = clip_by_value(result.grads, CLASSIC.clip)
        ref.clip(grads, 5.0)
        clipped_states += fraction > 0
        for name, g in grads.items():
            err = scale_relative_error(result.grads[name], g)
            assert err < 1e-10, f"{name} after clipping, state {i}: {err:.2e}"
            assert np.max(np.abs(result.grads[name])) <= CLASSIC.clip
    assert saw_wrap, "no window exercised the wrap-and-reset path"
    assert clipped_states >= 3, (
        "too few states exercised clipping to make the clipped comparison count"
    )


def test_training_steps_across_the_wrap_match_reference(classic_trainer_factory):
    """Trainer.train_step() itself (reset, clip, Adagrad) from the same mid-training state, across a wrap."""
    trainer = classic_trainer_factory()
    V, H, T = len(trainer.vocab), CLASSIC.hidden_size, CLASSIC.seq_length
    rng = np.random.default_rng(5)
    params = random_classic_params(rng, H, V, 0.3)
    for name, value in to_engine(params).items():
        trainer.params[name][...] = value
    mems = {k: np.abs(rng.standard_normal(v.shape)) for k, v in params.items()}
    for name, value in to_engine(mems).items():
        trainer.optimizer.state["mem"][name][...] = value
    hprev = np.tanh(rng.standard_normal((H, 1)))
    trainer.hidden_state[...] = hprev.reshape(1, 1, 1, H)
    offset = ((trainer.streams.segment - T - 2) // T) * T - 2 * T  # three windows before the wrap
    trainer.streams.load_state_dict({"offset": offset, "epoch": 0, "started": 1})

    run = ref.ClassicRun(trainer.train_ids, V, params={k: v.copy() for k, v in params.items()})
    run.mems = {k: v.copy() for k, v in mems.items()}
    run.p, run.n, run.hprev = offset, 1, hprev.copy()

    for i in range(6):
        engine_loss = trainer.train_step() * T
        reference_loss = run.step()
        assert engine_loss == pytest.approx(reference_loss, rel=1e-10, abs=0), f"iteration {i}"
        assert scale_relative_error(trainer.hidden_state, run.hprev) < 1e-10, (
            f"hidden state after iteration {i}"
        )
        for name in ref.PARAM_NAMES:
            assert (
                scale_relative_error(to_reference(trainer.params)[name], run.params[name]) < 1e-10
            ), name
    assert trainer.streams.epoch == 1, "the steps should have crossed the end of the text"
    assert run.p == trainer.streams.offset


def test_first_training_losses_match_reference(classic_trainer_factory):
    trainer = classic_trainer_factory()
    iterations = 30
    reference = np.array(ref.train(trainer.train_ids, len(trainer.vocab), iterations, seed=0))
    engine = np.array([trainer.train_step() * trainer.config.seq_length for _ in range(iterations)])
    rel = np.abs(engine - reference) / np.abs(reference)
    agree = int(np.argmax(rel > 1e-9)) if np.any(rel > 1e-9) else len(rel)
    assert agree >= 10, f"losses agree to 1e-9 for only {agree} iterations: {rel[:12]}"
    np.testing.assert_allclose(engine[:10], reference[:10], rtol=1e-9, atol=0)
    # the first loss is from near-uniform predictions: about 25 * ln(V)
    assert reference[0] == pytest.approx(25 * np.log(len(trainer.vocab)), rel=1e-3)


def test_golden_setup_is_the_engines_vocabulary_and_initial_weights(
    classic_trainer_factory, golden, kafka_text
):
    trainer = classic_trainer_factory()
    assert list(trainer.vocab.chars) == json.loads(str(golden["vocab_json"]))
    assert len(trainer.train_ids) == len(kafka_text)  # val_fraction 0: the whole of kafka.txt
    assert int(golden["state0_pos"]) == 0 and not golden["state0_hprev"].any()
    for name in ref.PARAM_NAMES:  # the state before iteration 0 is the seed-0 initial weights
        assert np.array_equal(to_reference(trainer.params)[name], golden[f"state0_{name}"]), name


@pytest.mark.parametrize("state", ["state0", "state100"])
def test_one_window_from_a_golden_state_matches_loss_clipped_gradients_and_next_state(
    classic_trainer_factory, golden, state
):
    trainer = classic_trainer_factory()
    model, streams = trainer.model, trainer.streams
    H = CLASSIC.hidden_size
    params = {name: golden[f"{state}_{name}"] for name in ref.PARAM_NAMES}
    streams.load_state_dict({"offset": int(golden[f"{state}_pos"]), "epoch": 0, "started": 1})
    inputs, targets, wrapped = streams.next_window()
    assert not wrapped
    hprev = golden[f"{state}_hprev"].reshape(1, 1, 1, H).copy()
    result = model.loss_and_grads(to_engine(params), inputs, targets, hprev)
    clip_by_value(result.grads, CLASSIC.clip)

    assert result.loss == pytest.approx(float(golden[f"{state}_loss"]), rel=1e-10, abs=0)
    assert scale_relative_error(result.state, golden[f"{state}_hnext"]) < 1e-10
    for name in ref.PARAM_NAMES:
        expected = golden[f"{state}_d{name}"]
        err = scale_relative_error(result.grads["d" + name], expected)
        assert err < 1e-10, f"clipped d{name} from {state}: {err:.2e}"
    # (no entry reaches the clip limit in these two states; the random states of
    # test_one_window_matches_reference_loss_gradients_and_next_state exercise clipping)


def test_first_ten_training_losses_match_golden(classic_trainer_factory, golden):
    trainer = classic_trainer_factory()
    engine = np.array([trainer.train_step() * trainer.config.seq_length for _ in range(10)])
    np.testing.assert_allclose(engine, golden["losses"][:10], rtol=1e-10, atol=0)
    # the reference written in tests/ is the golden algorithm, operation for operation: the same
    # first ten losses (as the golden README says, later ones drift with the machine's rounding:
    # on an AMD EPYC's OpenBLAS kernels losses 11-30 differ from the golden by up to 1.5e-5)
    reference = ref.train(trainer.train_ids, len(trainer.vocab), 10, seed=0)
    np.testing.assert_allclose(reference, golden["losses"][:10], rtol=1e-10, atol=0)


@pytest.mark.slow  # 2,000 classic iterations: ~1.3 s on an idle 2-core machine, 3-5 s when busy
def test_long_run_loss_level_matches_golden(engine_losses, golden):
    golden_mean = float(np.mean(golden["losses"][-500:])) / 25
    assert golden_mean == pytest.approx(GOLDEN_LAST500_NATS_PER_CHAR, abs=5e-5)
    engine_mean = float(np.mean(engine_losses[-500:])) / 25
    assert engine_mean == pytest.approx(golden_mean, rel=LONG_RUN_RTOL)
    # and it learned something: well below the uniform ln(80) = 4.38 nats/char
    assert engine_mean < 0.6 * np.log(80)
