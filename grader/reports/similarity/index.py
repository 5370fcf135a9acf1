"""Scoring every pair of a class through an inverted index of fingerprints, not pair by pair.

A fingerprint is a run of ``N_GRAM`` consecutive tokens of one unit of an exercise's canonical
code (:mod:`.normalise`; a unit shorter than that is one fingerprint). Those of the starter code
are taken out of every submission. Each fingerprint ``f`` of exercise ``q`` weighs

    w(f) = log((N + R + 1) / (df(f) + R * ref(f))) / log(N + R + 1)        (in [0, 1])

where ``N`` is the number of submissions with code for ``q``, ``df(f)`` how many of them have
``f``, ``ref(f)`` whether the reference solution has it, and ``R = REFERENCE_WEIGHT``: what any
correct solution shares (common in the class, or in the reference) weighs little, what only two
students wrote weighs nearly 1. For a pair (a, b):

    score_q(a, b) = shared_q / max(min(mass_q(a), mass_q(b)), MIN_EVIDENCE)

with ``shared_q`` the weight of the fingerprints both have and ``mass_q`` the weight of all of one
submission's: 1 when the smaller of the two is contained in the other, whatever the weights;
``MIN_EVIDENCE`` keeps a few shared fingerprints (a one-line answer that many write) from making a
pair. ``score_all`` is the same ratio summed over the exercises both have.

Pairs are found through the index: the posting list of each fingerprint held by 2 to ``cap``
submissions (a sparse product ``X W Xᵀ`` over those columns); a pair that shares only fingerprints
held by more than ``cap`` submissions shares only what many write, each weighing at most
``log((N + R + 1) / cap) / log(N + R + 1)``, and is not scored. Every candidate's scores are then
computed exactly, over all of its fingerprints.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from grader.reports.similarity.normalise import ExerciseCode

N_GRAM = 6
REFERENCE_WEIGHT = 2.0
MIN_EVIDENCE = 8.0
SEPARATOR = "\x1f"


def grams(code: ExerciseCode, n: int = N_GRAM) -> set[str]:
    """The fingerprints of one exercise's code: its units' runs of ``n`` tokens (``;`` ends a statement)."""
    out: set[str] = set()
    for unit in code.units:
        stream: list[str] = []
        for statement in unit:
            stream.extend(statement.tokens)
            stream.append(";")
        if not stream:
            continue
        if len(stream) <= n:
            out.add(SEPARATOR.join(stream))
            continue
        out.update(SEPARATOR.join(stream[i:i + n]) for i in range(len(stream) - n + 1))
    return out


def stable_hash(gram: str) -> int:
    """A fingerprint's hash that is the same in every process (the reference's are shipped as such)."""
    return int.from_bytes(hashlib.blake2b(gram.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big") >> 1


@dataclass
class Scores:
    """The scored pairs of a class: indices into the documents, their score per exercise and overall."""

    a: np.ndarray
    b: np.ndarray
    exercises: list[str]
    per_exercise: dict[str, np.ndarray] = field(default_factory=dict)  # nan where one of the two has no code
    overall: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.a)


def default_cap(n_docs: int) -> int:
    """How many submissions a fingerprint may have and still propose pairs."""
    return max(20, n_docs // 50)


def score_pairs(docs: Sequence[Mapping[str, ExerciseCode]], exercises: Iterable[str], *,
                starter: Mapping[str, ExerciseCode] | None = None, reference: frozenset[int] = frozenset(),
                n: int = N_GRAM, reference_weight: float = REFERENCE_WEIGHT, min_evidence: float = MIN_EVIDENCE,
                cap: int | None = None) -> Scores:
    """Score the pairs of ``docs`` (each: exercise -> its code) that share a rare fingerprint."""
    exercises = list(exercises)
    n_docs = len(docs)
    cap = default_cap(n_docs) if cap is None else cap
    removed: set[str] = set()
    for code in (starter or {}).values():
        removed |= grams(code, n)
    matrices: dict[str, tuple[sparse.csr_matrix, np.ndarray, np.ndarray]] = {}
    keys: list[np.ndarray] = []
    for q in exercises:
        vocab: dict[str, int] = {}
        indices: list[int] = []
        indptr = [0]
        for doc in docs:
            code = doc.get(q)
            if code is not None:
                for g in grams(code, n) - removed:
                    indices.append(vocab.setdefault(g, len(vocab)))
            indptr.append(len(indices))
        if not vocab:
            continue
        cols = np.asarray(indices, dtype=np.int64)
        x = sparse.csr_matrix((np.ones(len(cols)), cols, np.asarray(indptr)), shape=(n_docs, len(vocab)))
        df = np.bincount(cols, minlength=len(vocab)).astype(float)
        in_reference = np.fromiter((stable_hash(g) in reference for g in vocab), bool, len(vocab)) \
            if reference else np.zeros(len(vocab), bool)
        total = int(np.count_nonzero(np.diff(indptr))) + reference_weight + 1
        weight = np.clip(np.log(total / (df + reference_weight * in_reference)) / math.log(total), 0.0, 1.0)
        mass = np.asarray(x @ weight).ravel()
        matrices[q] = (x, weight, mass)
        rare = np.flatnonzero((df >= 2) & (df <= cap))
        if rare.size:
            xr = x[:, rare]
            product = sparse.triu(xr @ sparse.diags(weight[rare]) @ xr.T, k=1).tocoo()
            keys.append(product.row.astype(np.int64) * n_docs + product.col)
    pairs = np.unique(np.concatenate(keys)) if keys else np.zeros(0, np.int64)
    a, b = pairs // max(n_docs, 1), pairs % max(n_docs, 1)
    out = Scores(a, b, [q for q in exercises if q in matrices])
    shared_sum, base_sum = np.zeros(len(pairs)), np.zeros(len(pairs))
    for q in out.exercises:
        x, weight, mass = matrices[q]
        if len(pairs):
            shared = np.asarray(x[a].multiply(x[b]) @ weight).ravel()
        else:
            shared = np.zeros(0)
        both = (mass[a] > 0) & (mass[b] > 0)
        base = np.maximum(np.minimum(mass[a], mass[b]), min_evidence)
        out.per_exercise[q] = np.where(both, np.minimum(shared / base, 1.0), np.nan)
        shared_sum += np.where(both, shared, 0.0)
        base_sum += np.where(both, base, 0.0)
    out.overall = np.divide(shared_sum, base_sum, out=np.zeros(len(pairs)), where=base_sum > 0)
    return out
