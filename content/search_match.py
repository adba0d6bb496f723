"""A topic ranked for a question, and whether it is good enough to answer with."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Match", "is_confident"]


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
    elsewhere: float = 0.0  # the score of the requests for things the clinic does not do
    words: int = 0  # how many content words the question has


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


# A request for something the clinic does not do ("is the pharmacy open late") that fits nearly
# as well as the best answer makes the answer a guess.
ELSEWHERE_SHARE = 0.8
# A clear leader (well ahead of the next topic) may carry a few everyday words the answers do not
# use ("what time do you close saturdays, i get off my shift at 2"), but at least half its words
# must be the clinic's ("receta de arroz con pollo" is not a prescription question).
# A lead won on a single word ("espanol" and the practitioners' page) is no clear lead.
LEADER_SCORE, LEADER_MARGIN, LEADER_EVIDENCE, LEADER_COVERAGE = 0.4, 0.2, 0.7, 0.5
LEADER_WORDS = 2


def is_confident(match: Match) -> bool:
    """Say whether a match is good enough to answer with, rather than fall back."""
    if match.elsewhere >= ELSEWHERE_SHARE * match.score:
        return False
    evidence = match.coverage + ANCHOR_LEEWAY * match.anchor
    if (
        match.score >= LEADER_SCORE
        and match.margin >= LEADER_MARGIN
        and evidence >= LEADER_EVIDENCE
        and match.coverage >= LEADER_COVERAGE
        and match.words >= LEADER_WORDS
    ):
        return True
    if evidence < MIN_DOMAIN_EVIDENCE:
        return False
    if match.anchor < LOW_ANCHOR:
        return match.score >= STRONG_SCORE
    if match.anchor >= HIGH_ANCHOR and match.margin >= CLEAR_MARGIN:
        return match.score >= RELAXED_SCORE
    return match.score >= MIN_SCORE
