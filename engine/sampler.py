"""Sampling text from the model: a seed character or prime string, temperature, greedy or top-k.

Sampling works on its own copy of a state and its own RNG, so it never disturbs training.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .model import CharModel
from .vocab import Vocab, VocabError


def check_prime(prime: str, vocab: Vocab) -> None:
    """VocabError listing the vocabulary when the prime is empty or has unknown characters."""
    if not prime:
        raise VocabError(
            f"the seed must be at least one character from the vocabulary: {vocab.printable()}"
        )
    missing = sorted(set(prime) - set(vocab.chars))
    if missing:
        raise VocabError(f"{vocab.describe_missing(missing)}; choose from: {vocab.printable()}")


def generate(
    model: CharModel,
    params: dict[str, np.ndarray],
    vocab: Vocab,
    prime: str,
    length: int,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    greedy: bool = False,
    top_k: int = 0,
    state: np.ndarray | None = None,
) -> Iterator[str]:
    """Yield `length` characters that follow `prime` (the prime itself is not yielded).

    `state` (L, S, 1, H) is copied, never modified; None starts from zeros.
    """
    check_prime(prime, vocab)
    if temperature <= 0 and not greedy:
        raise ValueError("temperature must be positive (or use greedy sampling)")
    h = model.initial_state(1) if state is None else np.array(state, copy=True)
    ids = vocab.encode(prime).astype(np.intp)
    for i in ids[:-1]:
        _, h = model.step(params, np.array([i]), h)
    ix = int(ids[-1])
    for _ in range(length):
        logits, h = model.step(params, np.array([ix]), h)
        ix = pick(
            logits[0].astype(np.float64), rng, temperature=temperature, greedy=greedy, top_k=top_k
        )
        yield vocab.chars[ix]


def pick(
    logits: np.ndarray,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    greedy: bool = False,
    top_k: int = 0,
) -> int:
    """Index drawn from softmax(logits / temperature), optionally limited to the top k; argmax if greedy."""
    if greedy:
        return int(np.argmax(logits))
    z = logits / temperature
    if 0 < top_k < z.size:
        cutoff = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cutoff, z, -np.inf)
    z = z - z.max()
    p = np.exp(z)
    cdf = np.cumsum(p)
    # inverse-CDF draw: one uniform number per character keeps the RNG stream easy to reason about
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), z.size - 1))


def sample_text(*args, **kwargs) -> str:
    """`generate` collected into a string."""
    return "".join(generate(*args, **kwargs))
