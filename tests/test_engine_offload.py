"""The background process: the cell finder's search gives there what it gives in this process,
runs niced with one BLAS thread, reports progress, and a cancel or a crash leaves no child."""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np
import pytest
from test_engine_finder import quote_model, quote_rich_text

from rnn_tui.engine import CharModel, Config, Vocab
from rnn_tui.engine.finder import search_cells
from rnn_tui.engine.offload import (
    NICENESS,
    BackgroundProcessError,
    run_in_background_process,
)
from rnn_tui.engine.probe import ProbeCancelled


def where_it_ran(*, progress, should_abort) -> tuple[int, int, int]:
    """(pid, niceness, BLAS threads) of the process that runs this."""
    from threadpoolctl import threadpool_info

    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return os.getpid(), os.nice(0), max(blas)


def sleep_then_count(seconds: float, *, progress, should_abort) -> int:
    """Report progress, then sleep (the parent cancels it meanwhile)."""
    progress(0.5)
    time.sleep(seconds)
    return 1


def die_without_a_result(*, progress, should_abort) -> None:
    os._exit(3)


def test_search_cells_in_a_background_process_equals_the_search_here():
    text = quote_rich_text(3000)
    vocab = Vocab.from_text(text)
    model, params = quote_model(vocab)
    ids = vocab.encode(text)
    here = search_cells(model, params, text, ids, top=40)
    fractions: list[float] = []
    there = run_in_background_process(
        search_cells, model, params, text, ids, None, 40, progress=fractions.append
    )
    assert [(m.layer, m.signal, m.unit, m.feature) for m in there] == [
        (m.layer, m.signal, m.unit, m.feature) for m in here
    ]
    np.testing.assert_allclose([m.r for m in there], [m.r for m in here], atol=1e-12)
    assert (there[0].unit, there[0].feature) == (0, "in_quotes")  # the planted unit, found there
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_search_cells_of_a_trained_shape_model_matches_on_an_lstm_with_warm_up():
    text = quote_rich_text(2500, seed=3)
    vocab = Vocab.from_text(text)
    model = CharModel(
        Config(cell="lstm", hidden_size=12, num_layers=2, dtype="float64"), len(vocab)
    )
    params = model.init_params(np.random.default_rng(1))
    warm, passage = vocab.encode(text[:300]), text[300:]
    here = search_cells(model, params, passage, vocab.encode(passage), warm, top=None)
    there = run_in_background_process(
        search_cells, model, params, passage, vocab.encode(passage), warm, None
    )
    assert len(there) == len(here) == 2 * 2 * 12 * len(set(m.feature for m in here))
    assert sorted((m.layer, m.signal, m.unit, m.feature, round(m.r, 9)) for m in there) == sorted(
        (m.layer, m.signal, m.unit, m.feature, round(m.r, 9)) for m in here
    )


def test_the_child_is_another_process_niced_with_one_blas_thread():
    pid, niceness, threads = run_in_background_process(where_it_ran)
    assert pid != os.getpid()
    assert niceness == min(19, os.nice(0) + NICENESS)
    assert threads == 1


def test_cancelling_ends_the_child_and_raises_probe_cancelled():
    fractions: list[float] = []
    started = time.perf_counter()
    with pytest.raises(ProbeCancelled):
        run_in_background_process(
            sleep_then_count,
            60.0,
            progress=fractions.append,
            should_abort=lambda: bool(fractions),  # cancel as soon as the child reports
        )
    assert time.perf_counter() - started < 30  # not the child's 60 s
    assert fractions == [0.5]
    assert not multiprocessing.active_children()


def test_an_exception_in_the_child_is_raised_here():
    text = quote_rich_text(500)
    vocab = Vocab.from_text(text)
    model, params = quote_model(vocab)
    with pytest.raises(ValueError, match="characters, the trace"):
        run_in_background_process(search_cells, model, params, text[:-1], vocab.encode(text))
    assert not multiprocessing.active_children()


def test_a_child_that_dies_gives_one_clear_error():
    with pytest.raises(BackgroundProcessError, match="exit code 3"):
        run_in_background_process(die_without_a_result)
