"""The presets are what README.md and docs/presets.md say they are.

`DOCUMENTED` holds every preset setting those pages state, each beside the line stating it. One
test per preset compares the preset with it; another checks that the pages' preset tables still
show those numbers. Changing a preset (say the lstm's hidden size from 256 to 128) fails the
first until the docs and this file follow; editing the tables alone fails the second.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rnn_tui.engine import PRESETS, Config

REPO_ROOT = Path(__file__).resolve().parents[1]

# the recipe the small, lstm and gru presets share: docs/presets.md, the presets table ("Adam
# 8e-3, cosine to 5e-5 over the budget", "global norm 5", "float32") and the paragraph below it
# ("init_scale 0.08 (randn x 0.08), dropout 0.25 from epoch 4 (none before), 50 steps of linear
# warm-up", "Validation runs every 200 steps on the first 20,000 validation characters");
# README.md, the presets table ("2×256, batch 16 × 64, Adam 8e-3 with cosine decay over the
# budget, global-norm clip, dropout 0.25 from epoch 4, float32")
GATED_RECIPE = dict(
    num_layers=2,
    hidden_size=256,
    batch_size=16,
    seq_length=64,
    optimizer="adam",
    learning_rate=8e-3,
    schedule="cosine",
    min_lr=5e-5,
    warmup_steps=50,
    total_steps=0,
    beta2=0.999,
    clip_mode="norm",
    clip=5.0,
    dtype="float32",
    init_scale=0.08,
    dropout=0.25,
    dropout_from_epoch=4.0,
    val_every=200,
    val_max_chars=20_000,
)

DOCUMENTED: dict[str, dict] = {
    # README.md "The classic model" ("a vanilla tanh RNN with 100 hidden units, 25-step truncated
    # backpropagation through time, Adagrad at learning rate 0.1, every gradient entry clipped to
    # ±5, weights drawn as `randn * 0.01`", "With batch size 1"); both presets tables ("float64");
    # docs/presets.md: "the video's model, exactly (`Config()`)"
    "classic": dict(
        cell="rnn",
        num_layers=1,
        hidden_size=100,
        batch_size=1,
        seq_length=25,
        optimizer="adagrad",
        learning_rate=0.1,
        clip_mode="value",
        clip=5.0,
        dtype="float64",
        init_scale=0.01,
    ),
    # docs/presets.md presets table: "gru | 1 x 256 | 32 x 64 | Adam 7e-3, cosine to 5e-5 over
    # the budget"; README.md presets table: "GRU 1×256, batch 32 × 64, Adam 7e-3, float32"
    "small": dict(GATED_RECIPE, cell="gru", num_layers=1, batch_size=32, learning_rate=7e-3),
    # "LSTM 2×256, ..., weight decay 0.0125" (README), "lstm", "weight decay 0.0125" (docs)
    "lstm": dict(GATED_RECIPE, cell="lstm", weight_decay=0.0125),
    # "GRU 2×256, the lstm's recipe with batch 32 × 64 and beta2 0.99" (README); docs/presets.md:
    # "32 x 64", "the lstm's recipe with GRU cells, batch 32, beta2 0.99"
    "gru": dict(GATED_RECIPE, cell="gru", batch_size=32, beta2=0.99, weight_decay=0.0),
}


def table_row(page: str, heading: str, name: str) -> str:
    """The row for preset `name` in the table under `heading` of `page` (up to the next heading)."""
    lines = (REPO_ROOT / page).read_text(encoding="utf-8").splitlines()
    assert heading in lines, f"{page} has no heading {heading!r}"
    section = lines[lines.index(heading) + 1 :]
    section = section[: next((i for i, x in enumerate(section) if x.startswith("#")), None)]
    rows = [line for line in section if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, f"{page}: expected one row for `{name}` under {heading!r}, found {rows}"
    return rows[0]


def test_every_preset_is_documented():
    assert set(PRESETS) == set(DOCUMENTED)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_preset_is_as_documented(name):
    actual = PRESETS[name]
    differing = {
        field: (getattr(actual, field), value)
        for field, value in DOCUMENTED[name].items()
        if getattr(actual, field) != value
    }
    assert not differing, f"preset {name}: (actual, documented) {differing}"


def test_classic_is_the_default_config():
    assert PRESETS["classic"] == Config()


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_the_presets_tables_show_the_documented_numbers(name):
    values = DOCUMENTED[name]
    layers, hidden = values["num_layers"], values["hidden_size"]
    batch, window = values["batch_size"], values["seq_length"]
    docs = table_row("docs/presets.md", "## The presets", name)
    cells = [cell.strip() for cell in docs.strip("|").split("|")]
    assert cells[1].split()[0] == values["cell"], docs
    assert cells[2:4] == [f"{layers} x {hidden}", f"{batch} x {window}"], docs
    assert cells[6] == values["dtype"], docs
    clip = f"{values['clip']:g}"
    assert cells[5] == (
        f"value ±{clip}" if values["clip_mode"] == "value" else f"global norm {clip}"
    )
    optimiser = {"adagrad": "Adagrad", "adam": "Adam"}[values["optimizer"]]
    assert cells[4].startswith(optimiser + " "), docs
    assert float(cells[4].split()[1].rstrip(",")) == values["learning_rate"], docs
    if values.get("schedule") == "cosine":
        stated = re.search(r"cosine to ([\d.e-]+) over (the budget|([\d,]+) steps)", cells[4])
        assert stated, docs
        assert float(stated[1]) == values["min_lr"], docs
        steps = 0 if stated[2] == "the budget" else int(stated[3].replace(",", ""))
        assert steps == values["total_steps"], docs

    readme = table_row("README.md", "### Presets", name)
    assert f"{layers}×{hidden}" in readme, readme
    if "same recipe" not in readme:  # the gru row refers to the lstm row for the rest
        assert f"batch {batch} × {window}" in readme, readme
        assert values["dtype"] in readme, readme
        assert optimiser in readme, readme
    if values.get("weight_decay"):
        decay = f"weight decay {values['weight_decay']:g}"
        assert decay in readme and decay in docs, (readme, docs)
    if values.get("dropout"):
        late = f"dropout {values['dropout']:g} from epoch {values['dropout_from_epoch']:g}"
        assert late in readme, readme
        assert late in (REPO_ROOT / "docs/presets.md").read_text(encoding="utf-8")
