"""Rank answers for a patient's question: stems, bigrams, typo repair, TF-IDF and keyness."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein
from wordfreq import get_frequency_dict

from content.shorthand import expand
from content.stopwords import STOPWORDS
from content.store import Answer
from content.text import fold, stem, tokens

__all__ = ["FaqIndex", "Match", "general_frequencies", "is_confident"]

MAX_QUERY_CHARS = 1000
MIN_TYPO_LENGTH = 4
# A word of the answers is read as a typo of a close word they use TYPO_RATIO times as often.
COMMON_COUNT, TYPO_RATIO = 10, 10
MIN_KNOWN_TYPO_LENGTH = 7  # shorter rare words are more often real ones ("snore", "medito")
# A word this common in everyday language is a real word, not a typo to repair.
REAL_WORD_FREQUENCY = 1e-6
# Floor for words too rare to be in the general word list (about Zipf 2).
RARE_FREQUENCY = 1e-7
# How much each part of an answer counts towards the topic's profile.
TITLE_WEIGHT, QUESTION_WEIGHT, KEYWORD_WEIGHT, BODY_WEIGHT = 2.0, 1.0, 2.0, 0.25
EXAMPLE_SHARE = 0.6  # the rest comes from the whole-topic profile
# Words shared with everyday talk still count a little towards a topic's share of the question.
KEY_FLOOR = 0.2
COVER_WEIGHT = 0.5  # how much a topic's share of the question's clinic words counts in ranking
# Bigrams ("how_long", "is_that") carry intent but are mostly function words shared across
# topics; at full weight they drown out the content words, so they count for half.
BIGRAM_WEIGHT = 0.5
# Keyness (log10 of domain over general frequency) is clipped so one word cannot dominate.
KEYNESS_CAP = 2.0
UNKNOWN_KEYNESS = -KEYNESS_CAP

Vector = dict[str, float]


@dataclass(frozen=True)
class Match:
    """A topic, how well it fits the question (0 to 1), and how much of the question is known.

    `coverage` is the share of the question's content words that belong to the clinic's
    vocabulary. `margin` is the score lead over the next topic. `anchor` is the keyness of the
    most clinic-specific question word the topic shares: log10 of how much more often it
    appears in the answers than in everyday language ("acupuncture" high, "show" near 0).
    Matches come ordered by `rank`; `score` decides whether one is confident.
    """

    topic: str
    score: float
    coverage: float
    margin: float = 0.0
    anchor: float = 0.0
    rank: float = 0.0  # the score weighed by the share of the question's telling words


def _normalise(
    weights: Counter[str] | dict[str, float], idf: dict[str, float], unknown: float
) -> Vector:
    vector = {
        t: (1.0 + math.log(w)) * idf.get(t, unknown) * (BIGRAM_WEIGHT if "_" in t else 1.0)
        for t, w in weights.items()
        if w > 0
    }
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {t: v / norm for t, v in vector.items()}


@lru_cache(maxsize=4)
def general_frequencies(lang: str) -> tuple[dict[str, float], dict[str, float]]:
    """Return everyday-language frequencies of folded words and of their stems."""
    words: dict[str, float] = defaultdict(float)
    for word, frequency in get_frequency_dict(lang, "small").items():
        key = fold(word)
        if key and " " not in key:
            words[key] += frequency
    stems: dict[str, float] = defaultdict(float)
    for word, frequency in words.items():
        stems[stem(word, lang)] += frequency
    return dict(words), dict(stems)


class FaqIndex:
    """Answers of one language, ready to be ranked against questions."""

    def __init__(self, answers: Iterable[Answer], lang: str) -> None:
        self.lang = lang
        self._stop = STOPWORDS.get(lang, frozenset())
        self._general, general_stems = general_frequencies(lang)
        answers = list(answers)
        words = [w for a in answers for text in _texts(a) for w in tokens(text)]
        self._known = set(words)
        # A misspelling written once in an example ("acupunture") is repaired like a patient's,
        # towards a word the answers use often; otherwise it would tie the typo to one topic.
        self._counts = Counter(words)
        self._keywords = {w for a in answers for k in a.keywords for w in tokens(k)}
        self._common = tuple(
            sorted(w for w, n in self._counts.items() if n >= COMMON_COUNT and len(w) >= 4)
        )
        # Keyness is per stem, so "saturdays" counts as the answers' "saturday".
        counts = Counter(stem(w, lang) for w in words)
        total = sum(counts.values()) or 1
        self._keyness = {
            s: _clip(math.log10((n / total) / general_stems.get(s, RARE_FREQUENCY)))
            for s, n in counts.items()
        }
        # Typos are repaired only towards words patients use for topics, not body prose.
        topical = {w for a in answers for text in _texts(a, body=False) for w in tokens(text)}
        self._choices = tuple(sorted(w for w in topical if len(w) >= MIN_TYPO_LENGTH))
        profiles: dict[str, dict[str, float]] = {}
        examples: list[tuple[str, Counter[str]]] = []
        for answer in answers:
            profile: dict[str, float] = defaultdict(float)
            parts = [(answer.title, TITLE_WEIGHT)]
            parts += [(q, QUESTION_WEIGHT) for q in answer.questions]
            parts += [(k, KEYWORD_WEIGHT) for k in answer.keywords]
            for text, weight in parts:
                terms = Counter(self.terms(text))
                examples.append((answer.id, terms))
                for term, count in terms.items():
                    profile[term] += weight * count
            for term in self.terms(answer.body, bigrams=False):
                profile[term] += BODY_WEIGHT
            profiles[answer.id] = profile
        n_topics = len(profiles)
        df = Counter(term for profile in profiles.values() for term in profile)
        self._idf = {t: math.log((n_topics + 1) / (n + 1)) + 1.0 for t, n in df.items()}
        self._unknown = math.log(n_topics + 1) + 1.0
        self._profiles = {t: _normalise(p, self._idf, self._unknown) for t, p in profiles.items()}
        self._examples = [(t, _normalise(c, self._idf, self._unknown)) for t, c in examples]
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, (_, vector) in enumerate(self._examples):
            for term, weight in vector.items():
                self._postings[term].append((i, weight))

    def _repair(self, word: str) -> str:
        if (
            len(word) < MIN_TYPO_LENGTH
            or not word.isalpha()
            or self._general.get(word, 0.0) >= REAL_WORD_FREQUENCY
        ):
            return word
        if word in self._known:
            # Keywords are synonyms the clinic chose ("medicade"), and everyday words are real.
            if word in self._keywords or len(word) < MIN_KNOWN_TYPO_LENGTH:
                return word
            common = _closest(word, self._common)
            if common is None or self._counts[common] < TYPO_RATIO * self._counts[word]:
                return word
            return common
        return _closest(word, self._choices) or word

    def _all_words(self, text: str) -> list[str]:
        return [self._repair(w) for w in expand(tokens(text[:MAX_QUERY_CHARS]), self.lang)]

    def _words(self, text: str) -> list[str]:
        return [w for w in self._all_words(text) if w not in self._stop]

    def _stems(self, words: list[str], *, bigrams: bool = True) -> list[str]:
        # Bigrams keep function words, which carry intent ("how long", "how much", "what is").
        stems = [stem(w, self.lang) for w in words]
        content = [s for s, w in zip(stems, words, strict=True) if w not in self._stop]
        if not bigrams:
            return content
        return content + [f"{a}_{b}" for a, b in itertools.pairwise(stems)]

    def terms(self, text: str, *, bigrams: bool = True) -> list[str]:
        """Return the stems of the content words in text, and the bigrams of all its words."""
        return self._stems(self._all_words(text), bigrams=bigrams)

    def keyness(self, term: str) -> float:
        """Return how much more a stem belongs to the answers than to everyday talk."""
        return self._keyness.get(term, UNKNOWN_KEYNESS)

    def search(self, text: str, limit: int = 3) -> list[Match]:
        """Return the best-fitting topics, best first."""
        all_words = self._all_words(text)
        words = [w for w in all_words if w not in self._stop]
        # Numbers say nothing about being on topic ("15 min late", "80 dollars").
        content = [stem(w, self.lang) for w in words if not w.isdigit()]
        coverage = sum(s in self._keyness for s in content) / len(content) if content else 0.0
        known = Counter(t for t in self._stems(all_words) if t in self._idf)
        query = _normalise(known, self._idf, self._unknown)
        best_example: dict[str, float] = {}
        dots: dict[int, float] = defaultdict(float)
        for term, weight in query.items():
            for i, example_weight in self._postings.get(term, ()):
                dots[i] += weight * example_weight
        for i, dot in dots.items():
            topic = self._examples[i][0]
            best_example[topic] = max(best_example.get(topic, 0.0), dot)
        # The question's words, by how rare they are across topics and how clinic-specific: a
        # topic that lacks the telling one ("medication") ranks below one that has it, however
        # many common words ("do i need to change") the other shares.
        weights = {
            s: self._idf[s] * max(self.keyness(s), KEY_FLOOR) for s in content if s in self._idf
        }
        total = sum(weights.values())
        scored = []
        for topic, example in best_example.items():
            profile = self._profiles[topic]
            profile_dot = sum(w * profile.get(t, 0.0) for t, w in query.items())
            score = EXAMPLE_SHARE * example + (1 - EXAMPLE_SHARE) * profile_dot
            covered = sum(w for s, w in weights.items() if s in profile) / total if total else 1.0
            scored.append((score * (1 - COVER_WEIGHT + COVER_WEIGHT * covered), score, topic))
        scored.sort(reverse=True)
        matches = []
        for place, (rank, score, topic) in enumerate(scored[:limit]):
            following = scored[place + 1][1] if place + 1 < len(scored) else 0.0
            profile = self._profiles[topic]
            anchor = max((self.keyness(s) for s in content if s in profile), default=-KEYNESS_CAP)
            matches.append(Match(topic, score, coverage, score - following, anchor, rank))
        return matches


def _clip(value: float) -> float:
    return max(-KEYNESS_CAP, min(KEYNESS_CAP, value))


def _texts(answer: Answer, *, body: bool = True) -> list[str]:
    texts = [answer.title, *answer.questions, *answer.keywords]
    return [*texts, answer.body] if body else texts


@lru_cache(maxsize=8192)
def _closest(word: str, choices: tuple[str, ...]) -> str | None:
    # One edit for short words, two for long ones: farther "repairs" change the meaning.
    allowed = 1 if len(word) < 8 else 2
    found = process.extractOne(
        word, choices, scorer=DamerauLevenshtein.distance, score_cutoff=allowed
    )
    return found[0] if found else None


# Set so the same share of held-out example questions clears it as before bigrams were
# halved (halving them raises scores a little).
MIN_SCORE = 0.30
# A question must be mostly clinic vocabulary; a strongly clinic-specific word shared with the
# topic ("cupping", "pacemaker") earns leeway for the odd unknown word, while generic matches
# ("show", "week") do not, so "recommend a show on netflix" falls back.
ANCHOR_LEEWAY = 0.25
MIN_DOMAIN_EVIDENCE = 0.9


# A match that shares no clinic-specific word with the question ("quiero hablar con una
# persona" and the practitioners' page share only "persona") needs a strong score; one that
# shares a strongly clinic-specific word and clearly leads the next topic needs less.
LOW_ANCHOR, STRONG_SCORE = 0.35, 0.55
HIGH_ANCHOR, RELAXED_SCORE, CLEAR_MARGIN = 1.5, 0.22, 0.03


def is_confident(match: Match) -> bool:
    """Say whether a match is good enough to answer with, rather than fall back."""
    evidence = match.coverage + ANCHOR_LEEWAY * match.anchor
    if evidence < MIN_DOMAIN_EVIDENCE:
        return False
    if match.anchor < LOW_ANCHOR:
        return match.score >= STRONG_SCORE
    if match.anchor >= HIGH_ANCHOR and match.margin >= CLEAR_MARGIN:
        return match.score >= RELAXED_SCORE
    return match.score >= MIN_SCORE
