"""Rank answers for a patient's question: stems, bigrams, typo repair, TF-IDF and keyness."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein
from wordfreq import get_frequency_dict

from content.search_lexicon import elsewhere, synonyms
from content.search_match import Match, is_confident
from content.search_morphology import diminutive_bases
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
BODY_DF = 0.5  # how much a mention in an answer's body alone counts towards document frequency
# Keyness (log10 of domain over general frequency) is clipped so one word cannot dominate.
KEYNESS_CAP = 2.0
UNKNOWN_KEYNESS = -KEYNESS_CAP

Vector = dict[str, float]
ELSEWHERE = ""  # the topic id under which off-topic requests are ranked


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

    def __init__(
        self,
        answers: Iterable[Answer],
        lang: str,
        families: Mapping[str, str] | None = None,
        off_topic: Iterable[str] | None = None,
    ) -> None:
        self.lang = lang
        # Words for one thing ("kids", "children") are read as the one the answers use.
        self._families = synonyms(lang) if families is None else families
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
        topical_terms: dict[str, set[str]] = {}
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
            topical_terms[answer.id] = set(profile)
            for term in self.terms(answer.body, bigrams=False, heads=False):
                profile[term] += BODY_WEIGHT
            profiles[answer.id] = profile
        # Requests for things the clinic does not do are ranked as one more topic.
        away: dict[str, float] = defaultdict(float)
        for text in elsewhere(lang) if off_topic is None else off_topic:
            terms = Counter(self.terms(text))
            examples.append((ELSEWHERE, terms))
            for term, count in terms.items():
                away[term] += QUESTION_WEIGHT * count
        if away:
            profiles[ELSEWHERE] = away
        n_topics = len(profiles)
        # A topic whose body only mentions a word ("electro" in the pacemaker answer) counts
        # part way towards the word's document frequency: the word still tells topics apart.
        df: dict[str, float] = defaultdict(float)
        for topic, profile in profiles.items():
            topical = topical_terms.get(topic) or set(profile)
            for term in profile:
                df[term] += 1.0 if term in topical else BODY_DF
        self._idf = {t: math.log((n_topics + 1) / (n + 1)) + 1.0 for t, n in df.items()}
        self._unknown = math.log(n_topics + 1) + 1.0
        self._profiles = {t: _normalise(p, self._idf, self._unknown) for t, p in profiles.items()}
        self._examples = [(t, _normalise(c, self._idf, self._unknown)) for t, c in examples]
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, (_, vector) in enumerate(self._examples):
            for term, weight in vector.items():
                self._postings[term].append((i, weight))
        # The same for whole-topic profiles: a question meets only the topics sharing a term.
        self._topic_postings: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for topic, vector in self._profiles.items():
            for term, weight in vector.items():
                self._topic_postings[term].append((topic, weight))

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
        family = self._families
        words = expand(tokens(text[:MAX_QUERY_CHARS]), self.lang)
        # A family word is never "repaired" into another word.
        return [w if w in family else self._base(w) for w in words]

    def _base(self, word: str) -> str:
        """Return a word the answers know: the word, its diminutive's base, or a typo's repair."""
        if word not in self._known and self.lang == "es":
            for base in diminutive_bases(word):
                if base in self._known or base in self._families:
                    return base
        return self._repair(word)

    def _words(self, text: str) -> list[str]:
        return [w for w in self._all_words(text) if w not in self._stop]

    def _stems(self, words: list[str], *, bigrams: bool = True, heads: bool = True) -> list[str]:
        # Bigrams keep function words, which carry intent ("how long", "how much", "what is").
        stems = [stem(w, self.lang) for w in words]
        content = [s for s, w in zip(stems, words, strict=True) if w not in self._stop]
        # A family word also stands for its family's head: "kids" counts as "children" too,
        # while keeping its own weight where the answers use it ("aseguranza").
        content += [
            stem(head, self.lang)
            for w in words
            if heads and (head := self._families.get(w, w)) != w and w not in self._stop
        ]
        if not bigrams:
            return content
        return content + [f"{a}_{b}" for a, b in itertools.pairwise(stems)]

    def terms(self, text: str, *, bigrams: bool = True, heads: bool = True) -> list[str]:
        """Return the stems of the content words in text, and the bigrams of all its words."""
        return self._stems(self._all_words(text), bigrams=bigrams, heads=heads)

    def keyness(self, term: str) -> float:
        """Return how much more a stem belongs to the answers than to everyday talk."""
        return self._keyness.get(term, UNKNOWN_KEYNESS)

    def search(self, text: str, limit: int = 3) -> list[Match]:
        """Return the best-fitting topics, best first."""
        all_words = self._all_words(text)
        words = [w for w in all_words if w not in self._stop]
        # Numbers say nothing about being on topic ("15 min late", "80 dollars").
        family = self._families
        content = [stem(family.get(w, w), self.lang) for w in words if not w.isdigit()]
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
        profile_dots: dict[str, float] = defaultdict(float)
        for term, weight in query.items():
            for topic, profile_weight in self._topic_postings.get(term, ()):
                profile_dots[topic] += weight * profile_weight
        shares: dict[str, float] = defaultdict(float)
        for term, weight in weights.items():
            for topic, _ in self._topic_postings.get(term, ()):
                shares[topic] += weight
        scored = []
        for topic, example in best_example.items():
            score = EXAMPLE_SHARE * example + (1 - EXAMPLE_SHARE) * profile_dots[topic]
            covered = shares[topic] / total if total else 1.0
            scored.append((score * (1 - COVER_WEIGHT + COVER_WEIGHT * covered), score, topic))
        scored.sort(reverse=True)
        away = next((score for _, score, topic in scored if topic == ELSEWHERE), 0.0)
        scored = [item for item in scored if item[2] != ELSEWHERE]
        matches = []
        for place, (rank, score, topic) in enumerate(scored[:limit]):
            following = scored[place + 1][1] if place + 1 < len(scored) else 0.0
            profile = self._profiles[topic]
            anchor = max((self.keyness(s) for s in content if s in profile), default=-KEYNESS_CAP)
            matches.append(
                Match(
                    topic,
                    score,
                    coverage,
                    score - following,
                    anchor,
                    rank,
                    elsewhere=away,
                    words=len(content),
                )
            )
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
