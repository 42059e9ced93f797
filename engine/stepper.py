"""StepSampler: generate one character at a time, seeing the model's candidates before each choice.

The state machine behind a step-through sampling screen. After the prime it holds the model's
logits for the next character; the user then draws from the distribution (exactly as
`engine.sampler.pick` does, so an all-draw session reproduces `generate` character for
character), picks a ranked candidate, or forces any vocabulary character, and can undo steps.
Temperature and top-k only reshape the distribution shown and drawn from; they never touch the
hidden state, so changing them updates the candidates at once.

Undo rewinds everything a step changed: the hidden state, the text, the logits and the random
generator (its bit-generator state is restored). So "draw, undo, draw" repeats the same
character, and a session that undoes back to a point and then draws continues the same random
stream `generate` would have used from there. Picked and forced steps consume no random numbers.

Like `generate`, the sampler advances the generator it is given and never modifies `params` or
a passed-in `state` (it copies the state; parameters are only read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from .model import CharModel
from .sampler import check_prime, pick
from .vocab import Vocab, VocabError

How = Literal["drawn", "picked", "forced"]


class Candidate(NamedTuple):
    """One possible next character, ranked by the model's logit."""

    id: int
    char: str
    prob: float  # under the current temperature and top-k (0 when top-k excludes it)


@dataclass(frozen=True)
class StepRecord:
    """What one generated character was and how likely the model found it."""

    char: str
    id: int
    prob: float  # p(char) under the model itself: temperature 1, no top-k
    prob_at_temperature: float  # p(char) under the settings it was chosen with (0 if forced out)
    temperature: float  # the temperature in force when it was chosen
    surprise: float  # -ln prob in nats: the model's loss on this character
    how: How  # drawn from the distribution, picked by rank, or forced by the user


@dataclass(frozen=True)
class _Undo:
    """Everything one step replaced; restoring it undoes the step exactly."""

    logits: np.ndarray  # (V,) float64
    state: np.ndarray  # (L, S, 1, H)
    rng_state: dict


def check_temperature(temperature: float) -> float:
    """The temperature as a float; ValueError unless it is a finite number above zero."""
    value = float(temperature)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"temperature must be a finite number above 0, not {temperature!r}")
    return value


def check_top_k(top_k: int) -> int:
    """top-k as an int; ValueError when negative (0 means no limit)."""
    value = int(top_k)
    if value != top_k or value < 0:
        raise ValueError(f"top-k must be a whole number of at least 0 (0: no limit), not {top_k!r}")
    return value


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """ln softmax(logits) (V,), stable: a forced, very unlikely character gets a finite loss."""
    z = logits - logits.max()
    return z - np.log(np.exp(z).sum())


def sampling_distribution(logits: np.ndarray, temperature: float, top_k: int) -> np.ndarray:
    """The distribution `pick` draws from: softmax(logits / T) restricted to the top k (V,)."""
    z = logits / temperature
    if 0 < top_k < z.size:
        # the same cut-off as pick: ties with the k-th largest are kept
        cutoff = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cutoff, z, -np.inf)
    p = np.exp(z - z.max())
    return p / p.sum()


class StepSampler:
    """Step-through sampling from `model` after `prime`, with ranked candidates and undo."""

    def __init__(
        self,
        model: CharModel,
        params: dict[str, np.ndarray],
        vocab: Vocab,
        prime: str,
        rng: np.random.Generator,
        temperature: float = 1.0,
        top_k: int = 0,
        state: np.ndarray | None = None,
    ) -> None:
        check_prime(prime, vocab)
        if len(vocab) != model.vocab_size:
            raise ValueError(
                f"the vocabulary has {len(vocab)} characters but the model expects "
                f"{model.vocab_size}"
            )
        self.model = model
        self.params = params
        self.vocab = vocab
        self.prime = prime
        self.rng = rng
        self._temperature = check_temperature(temperature)
        self._top_k = check_top_k(top_k)
        expected = model.initial_state(1).shape
        if state is not None and np.shape(state) != expected:
            raise ValueError(f"state must have shape {expected}, not {np.shape(state)}")
        h = model.initial_state(1) if state is None else np.array(state, copy=True)

        # Feed the prime as generate does. Each step's logits also score the prime character
        # that follows, so the whole text can be coloured by surprise (the first has no score).
        ids = vocab.encode(prime).astype(np.intp)
        prime_surprise = np.full(len(ids), np.nan)  # (len(prime),)
        for t in range(len(ids)):
            logits, h = model.step(params, ids[t : t + 1], h)  # (1, V), (L, S, 1, H)
            if t + 1 < len(ids):
                prime_surprise[t + 1] = -log_softmax(logits[0].astype(np.float64))[ids[t + 1]]
        # After the loop `logits` predict the first generated character and `h` is the state
        # after the whole prime: generate computes exactly this at its first sampling step.
        self._logits = logits[0].astype(np.float64)  # (V,)
        self._state = h  # (L, S, 1, H): after feeding all of self.text
        self._prime_surprise = prime_surprise
        self._chars: list[str] = []
        self._steps: list[StepRecord] = []
        self._undo: list[_Undo] = []

    # -- settings -----------------------------------------------------------------------------

    @property
    def temperature(self) -> float:
        """Temperature of the distribution drawn from and shown (> 0)."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = check_temperature(value)

    @property
    def top_k(self) -> int:
        """Only the k most likely characters can be drawn (0: no limit)."""
        return self._top_k

    @top_k.setter
    def top_k(self, value: int) -> None:
        self._top_k = check_top_k(value)

    # -- what the screen shows ----------------------------------------------------------------

    @property
    def text(self) -> str:
        """The prime followed by everything generated so far."""
        return self.prime + "".join(self._chars)

    @property
    def generated(self) -> str:
        """The generated characters only."""
        return "".join(self._chars)

    @property
    def steps(self) -> list[StepRecord]:
        """One record per generated character, oldest first (a copy of the list)."""
        return list(self._steps)

    @property
    def can_undo(self) -> bool:
        """Whether a generated step remains to undo (the prime cannot be undone)."""
        return bool(self._undo)

    @property
    def state(self) -> np.ndarray:
        """A copy of the hidden state after feeding all of `text` (L, S, 1, H)."""
        return self._state.copy()

    @property
    def logits(self) -> np.ndarray:
        """A copy of the model's logits for the next character (V,) float64."""
        return self._logits.copy()

    def surprise(self) -> np.ndarray:
        """Per character of `text`, the model's loss on it in nats (N,); NaN for the first.

        Prime characters are scored as they were fed (teacher forcing), generated ones at T = 1
        whatever temperature they were drawn at: the same numbers as `steps[i].surprise`.
        """
        generated = np.array([s.surprise for s in self._steps], dtype=np.float64)
        return np.concatenate([self._prime_surprise, generated])

    def distribution(self) -> np.ndarray:
        """Probabilities of the next character at the current temperature and top-k (V,)."""
        return sampling_distribution(self._logits, self._temperature, self._top_k)

    def candidates(self, k: int = 10) -> list[Candidate]:
        """The k characters with the highest logits, most likely first, with their probabilities.

        The ranking is by logit, so it does not change with temperature or top-k (only the
        probabilities do); ties go to the lower id. Characters top-k excludes show prob 0.
        """
        p = self.distribution()
        order = np.argsort(-self._logits, kind="stable")[: max(0, int(k))]
        return [Candidate(int(i), self.vocab.chars[i], float(p[i])) for i in order]

    # -- moves --------------------------------------------------------------------------------

    def draw(self) -> str:
        """Draw the next character from the distribution, using the generator as `pick` does."""
        rng_state = self.rng.bit_generator.state
        ix = pick(self._logits, self.rng, temperature=self._temperature, top_k=self._top_k)
        return self._advance(ix, "drawn", rng_state)

    def choose(self, rank: int) -> str:
        """Take the candidate of this 1-based rank (as `candidates` orders them)."""
        size = self._logits.size
        if not 1 <= rank <= size:
            raise ValueError(f"candidate rank must be between 1 and {size}, not {rank}")
        ix = int(np.argsort(-self._logits, kind="stable")[rank - 1])
        return self._advance(ix, "picked", self.rng.bit_generator.state)

    def force(self, char: str) -> str:
        """Take `char` whatever the model thinks of it; VocabError if it is not in the vocabulary."""
        if not isinstance(char, str) or len(char) != 1:
            raise VocabError(
                f"force takes one character from the vocabulary, not {char!r}; "
                f"choose from: {self.vocab.printable()}"
            )
        if char not in self.vocab:
            raise VocabError(
                f"{self.vocab.describe_missing([char])}; choose from: {self.vocab.printable()}"
            )
        return self._advance(self.vocab.index[char], "forced", self.rng.bit_generator.state)

    def undo(self) -> bool:
        """Undo the last step: state, text, logits and random generator as they were before it.

        Returns False (and changes nothing) when only the prime is left. Temperature and top-k
        are settings, not history: they stay as they are now.
        """
        if not self._undo:
            return False
        previous = self._undo.pop()
        self._steps.pop()
        self._chars.pop()
        self._logits, self._state = previous.logits, previous.state
        self.rng.bit_generator.state = previous.rng_state
        return True

    def _advance(self, ix: int, how: How, rng_state: dict) -> str:
        """Record the choice of id `ix`, then feed it to the model for the next logits."""
        loss = float(-log_softmax(self._logits)[ix])
        p_now = float(self.distribution()[ix])
        char = self.vocab.chars[ix]
        self._steps.append(
            StepRecord(
                char=char,
                id=ix,
                prob=math.exp(-loss),
                prob_at_temperature=p_now,
                temperature=self._temperature,
                surprise=loss,
                how=how,
            )
        )
        self._chars.append(char)
        # model.step returns new arrays, so the old ones can be kept for undo without copying
        self._undo.append(_Undo(self._logits, self._state, rng_state))
        logits, self._state = self.model.step(self.params, np.array([ix]), self._state)
        self._logits = logits[0].astype(np.float64)
        return char
