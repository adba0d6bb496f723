"""Guess what a short message asks the bot to do from labelled examples, or decline to guess.

Nearest neighbours over TF-IDF vectors of character n-grams (typos and word endings:
"ablar" is close to "hablar") and words (with texting shorthand spelled out). Each label
scores by its closest example and by the centre of its examples; the best label wins only when
it scores high enough and leads the closest `none` example (a question that only looks like a
request) by a margin. Anything else is left to be answered as a question.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from content.shorthand import expand
from content.text import LANGUAGES, fold

__all__ = ["MAX_WORDS", "NONE", "Guess", "IntentClassifier"]

NONE = "none"  # the label of examples that are questions or stories, not requests
MAX_WORDS = 15  # a longer message is a question or a story
CHAR_SIZES = (2, 3, 4)  # single letters cost 4x the time and gain one dev row in 178
# A label's score: this share from its nearest example, the rest from the centre of all its
# examples (which carries the words they share: "datos", "cita", "tips"). `none` examples are
# too varied to have a centre; they count by the nearest one only.
NEAREST_SHARE = 0.5
# Chosen by leave-one-out on the examples (tests/eval/score_intents.py --examples) and checked
# on the dev set: a guess needs this similarity and this lead over the nearest `none` example.
MIN_SIMILARITY = 0.2
NONE_MARGIN = 0.05
RUNNER_MARGIN = 0.0

Vector = dict[str, float]


@dataclass(frozen=True)
class Guess:
    """The label guessed for a message, its score, and its lead."""

    label: str
    similarity: float
    lead: float  # over the closest `none` example or runner-up label, whichever is closer


def _features(text: str) -> Counter[str]:
    words = fold(text).split()
    for lang in LANGUAGES:
        words = expand(words, lang)
    features: Counter[str] = Counter()
    for word in words:
        padded = f" {word} "
        for size in CHAR_SIZES:
            features.update(f"c{padded[i : i + size]}" for i in range(len(padded) - size + 1))
        features[f"w{word}"] += 1
    features.update(f"b{a}_{b}" for a, b in itertools.pairwise(words))
    return features


class IntentClassifier:
    """Labelled examples, ready to be compared with messages."""

    def __init__(self, examples: Iterable[tuple[str, str]]) -> None:
        rows = [(text, label) for text, label in examples if fold(text)]
        self._labels = [label for _, label in rows]
        counted = [_features(text) for text, _ in rows]
        df = Counter(feature for features in counted for feature in features)
        n = len(rows)
        self._idf = {f: math.log((n + 1) / (d + 1)) + 1.0 for f, d in df.items()}
        self._vectors = [self._vector(features) for features in counted]
        self._centroids: dict[str, Vector] = {}
        for label in set(self._labels):
            total: dict[str, float] = defaultdict(float)
            for vector, own in zip(self._vectors, self._labels, strict=True):
                if own == label:
                    for feature, weight in vector.items():
                        total[feature] += weight
            norm = math.sqrt(sum(v * v for v in total.values())) or 1.0
            self._centroids[label] = {f: v / norm for f, v in total.items()}
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, vector in enumerate(self._vectors):
            for feature, weight in vector.items():
                self._postings[feature].append((i, weight))

    @classmethod
    def from_labels(cls, by_label: Mapping[str, Iterable[str]]) -> IntentClassifier:
        """Build from {label: examples}."""
        return cls((text, label) for label, texts in by_label.items() for text in texts)

    def _vector(self, features: Counter[str]) -> Vector:
        vector = {f: (1.0 + math.log(c)) * self._idf.get(f, 0.0) for f, c in features.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        return {f: v / norm for f, v in vector.items() if v}

    def closest(self, text: str, *, skip: int | None = None) -> dict[str, float]:
        """Return each label's score for the message; `skip` leaves one example out."""
        dots: dict[int, float] = defaultdict(float)
        query = self._vector(_features(text))
        for feature, weight in query.items():
            for i, example_weight in self._postings.get(feature, ()):
                dots[i] += weight * example_weight
        best: dict[str, float] = {}
        for i, dot in dots.items():
            if i != skip and dot > best.get(self._labels[i], 0.0):
                best[self._labels[i]] = dot
        for label, centroid in self._centroids.items():
            if label != NONE:
                centre = sum(w * centroid.get(f, 0.0) for f, w in query.items())
                best[label] = NEAREST_SHARE * best.get(label, 0.0) + (1 - NEAREST_SHARE) * centre
        return best

    def guess(self, text: str, *, skip: int | None = None) -> Guess | None:
        """Return the label a short message asks for, or None when it is not clearly one."""
        if len(fold(text).split()) > MAX_WORDS:
            return None
        best = self.closest(text, skip=skip)
        ranked = sorted(
            ((score, label) for label, score in best.items() if label != NONE), reverse=True
        )
        if not ranked:
            return None
        similarity, label = ranked[0]
        runner = ranked[1][0] if len(ranked) > 1 else 0.0
        over_none, over_runner = similarity - best.get(NONE, 0.0), similarity - runner
        if similarity < MIN_SIMILARITY or over_none < NONE_MARGIN or over_runner < RUNNER_MARGIN:
            return None
        return Guess(label, similarity, min(over_none, over_runner))

    @property
    def labels(self) -> tuple[str, ...]:
        """Return each example's label, in the order the examples were given."""
        return tuple(self._labels)
