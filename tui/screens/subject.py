"""What the microscope looks into: a model with a parameter copy, and passages to probe it on.

A `ProbeSubject` is built either from a run's `WeightsCopied` event (the dashboard: copies made
by the training thread, so probing never races training) or from a checkpoint (`rnn-tui
inspect`). Its parameters are only ever read. A `Passage` is text of the model's vocabulary with
the text just before it (the state is warmed on that) and a name for the header.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from rnn_tui.engine import CharModel, Config, Vocab, VocabError
from rnn_tui.engine.events import PROBE_PASSAGE_CHARS, WeightsCopied
from rnn_tui.engine.probe import Trace

VIEW_CHARS = 2_000  # characters the neuron view traces and shows
FINDER_CHARS = PROBE_PASSAGE_CHARS  # characters the cell finder correlates over


@dataclass(frozen=True)
class Passage:
    """Text to probe (in the model's vocabulary), the text before it, and what it is."""

    text: str
    name: str  # "validation text", "latest sample", "file notes.txt", "typed text"
    warmup: str = ""  # the text just before `text`, fed first so the state is warm

    def view(self, chars: int = VIEW_CHARS) -> tuple[str, str | None]:
        """The part the neuron view shows, and the character after it (None at the end)."""
        shown = self.text[:chars]
        return shown, (self.text[chars] if len(self.text) > chars else None)


@dataclass(frozen=True, eq=False)
class ProbeSubject:
    """A model, a read-only parameter copy, its vocabulary and the passages it comes with."""

    model: CharModel
    params: Mapping[str, np.ndarray]
    vocab: Vocab
    step: int  # training steps the parameters had when copied
    passage: Passage  # the default: the validation text (up to FINDER_CHARS)
    sample: str = ""  # the latest sample, when one is known
    seed: int = 0  # the run's seed (the step-through sampler starts its stream from it)

    @classmethod
    def from_weights(cls, event: WeightsCopied, sample: str = "") -> ProbeSubject:
        """From a run's answer to RequestWeights (plain data, possibly from another process)."""
        config = Config.from_dict(dict(event.config))
        vocab = Vocab(event.vocab)
        passage = Passage(event.passage, "validation text", event.warmup)
        return cls(
            CharModel(config, len(vocab)),
            event.params,
            vocab,
            event.step,
            passage,
            sample=sample,
            seed=config.seed,
        )

    @property
    def describe(self) -> str:
        """One line: cell, size and step, e.g. 'lstm 2×256 · step 12,345'."""
        model = self.model
        return f"{model.cells[0].kind} {model.num_layers}×{model.hidden_size} · step {self.step:,}"

    def passage_of(self, text: str, name: str, warmup: str = "") -> Passage:
        """A passage of this model's vocabulary (VocabError naming what is missing, or if empty)."""
        if not text:
            raise VocabError(f"the {name} is empty; choose another passage")
        missing = sorted(set(text) - set(self.vocab.chars))
        if missing:
            raise VocabError(
                f"in the {name}, {self.vocab.describe_missing(missing)}; the model reads only "
                "the characters it was trained on"
            )
        return Passage(text, name, warmup)

    def encode(self, text: str) -> np.ndarray:
        """Character ids (intp) of text in the vocabulary."""
        return self.vocab.encode(text).astype(np.intp)


def join_traces(head: Trace, rest: Trace) -> Trace:
    """One Trace of a passage traced in two parts, `rest` from `head`'s final state (so the view
    can show the start of a passage while the rest is traced): every array concatenated,
    read-only, the final state the rest's."""
    if (head.cell, head.num_layers, head.hidden_size, head.names) != (
        rest.cell,
        rest.num_layers,
        rest.hidden_size,
        rest.names,
    ):
        raise ValueError("the two traces are of different models or signals")

    def joined(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.concatenate([a, b])
        out.setflags(write=False)
        return out

    return Trace(
        ids=joined(head.ids, rest.ids),
        cell=head.cell,
        num_layers=head.num_layers,
        hidden_size=head.hidden_size,
        names=head.names,
        signals=MappingProxyType({k: joined(v, rest.signals[k]) for k, v in head.signals.items()}),
        probs=joined(head.probs, rest.probs),
        loss=joined(head.loss, rest.loss),
        final_state=rest.final_state,
    )


class WeightsReceiver:
    """A screen that asked the run for a weights copy: the dashboard hands it every
    WeightsCopied, and it keeps the one whose tag it is waiting for."""

    def weights_copied(self, event: WeightsCopied) -> None:
        """A copy arrived (perhaps another screen's: compare tags)."""
        raise NotImplementedError
