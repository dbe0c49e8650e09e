"""Reading a mention in free text as a clinician reads it: negated, about someone else, uncertain, past, local.

A rule set in the manner of NegEx (Chapman et al. 2001) and ConText (Harkema et al. 2009): trigger
phrases, each with the modifier it applies (negated, about another person, uncertain, historical, local
route), the direction it reaches (forward, backward or both) and how far (a number of words, never past
the end of a clause or a terminating word such as "but"). Pseudo-triggers ("not ruled out", "no change")
are matched first so that the shorter trigger inside them does not fire. A rule may reach further than it
is sure: beyond `certain_within` words, or across a bracket, its reading is doubtful ("not currently on
rituximab (last dose May)", "rituximab (HBsAg negative)"), and the caller decides what doubt means. The phrases themselves are
sigmd's own list, kept in `sigmd/data/context_rules.toml` with their sources.

Pure and standard library only; `read_mentions` depends on the text and the rules alone, so a batch
can read each distinct text once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from sigmd.core.provenance import Source


class Modifier(StrEnum):
    """What a trigger says about the mention it reaches."""

    NEGATED = "negated"
    """The text says the thing is absent ("no history of lymphoma", "HIV test negative")."""
    OTHER_PERSON = "other_person"
    """The text is about someone else ("family history of CLL", "mother had lymphoma")."""
    UNCERTAIN = "uncertain"
    """Suspected, to be excluded or planned ("?lymphoma", "rule out CLL", "consider rituximab")."""
    HISTORICAL = "historical"
    """In the past ("history of", "in remission", "stopped"); a past cause can still lower IgM."""
    LOCAL_ROUTE = "local_route"
    """A local preparation ("eye drops", "cream", "inhaler"); only for causes that are systemic-only."""
    PSEUDO = "pseudo"
    """Looks like a trigger but is not ("not ruled out" is not a negation, "no change")."""
    TERMINATE = "terminate"
    """Ends every trigger's reach ("but", "however", "with")."""


class Direction(StrEnum):
    FORWARD = "forward"
    """Reaches mentions after the trigger."""
    BACKWARD = "backward"
    """Reaches mentions before the trigger."""
    BOTH = "both"
    NONE = "none"
    """Pseudo-triggers and terminations reach nothing."""


@dataclass(frozen=True)
class ContextRule:
    """One group of trigger phrases with the same modifier, direction and reach."""

    id: str
    phrases: tuple[str, ...]
    modifier: Modifier
    direction: Direction
    max_words: int | None
    """Words the trigger may skip to reach a mention; None: to the end of the clause."""
    max_words_backward: int | None = None
    """For a rule that reaches both ways, a shorter reach back to a mention before the trigger ("rituximab
    declined"), where a word after a mention is more often about something else; None: `max_words`."""
    crosses_commas: bool = False
    """Whether the reach goes past a comma (list-opening phrases such as "no history of" do)."""
    nearest_only: bool = False
    """Whether the trigger modifies only the nearest mention (route words: "eye drops")."""
    certain_within: int | None = None
    """Words between the trigger and a mention within which its reading is certain; further (within the reach), or
    with a bracket between them, the reading is doubtful (`ModifiedSpan.doubtful`). None: certain over the whole
    reach, brackets or not."""
    note: str = ""
    stops: frozenset[Modifier] = frozenset()
    """For a terminating rule, the modifiers whose reach it ends (empty: all of them)."""

    def ends(self, modifier: Modifier) -> bool:
        return self.modifier is Modifier.TERMINATE and (not self.stops or modifier in self.stops)


@dataclass(frozen=True)
class ContextRules:
    """The rule set: its id, version and source, and the rules."""

    id: str
    version: str
    source: Source
    see_also: tuple[Source, ...]
    rules: tuple[ContextRule, ...]
    memo: dict[object, object] = field(default_factory=dict, compare=False, hash=False, repr=False)
    """Readings already made with these rules, by their inputs (a cache: results never depend on it)."""

    @cached_property
    def trigger_table(self) -> dict[str, tuple[tuple[tuple[str, ...], ContextRule], ...]]:
        """Trigger phrases as word tuples, grouped by their first word, longest first."""
        table: dict[str, list[tuple[tuple[str, ...], ContextRule]]] = {}
        for rule in self.rules:
            for phrase in rule.phrases:
                words = tuple(w for w, _, _ in tokens(phrase))
                if words:
                    table.setdefault(words[0], []).append((words, rule))
        return {k: tuple(sorted(v, key=lambda item: -len(item[0]))) for k, v in table.items()}


@dataclass(frozen=True)
class Trigger:
    """A trigger phrase found in a text."""

    rule: ContextRule
    text: str
    """The phrase as written."""
    first: int
    last: int
    """Word positions, inclusive."""


@dataclass(frozen=True)
class ModifiedSpan:
    """The triggers that reach one span of the text: surely, or with doubt (see `ContextRule.certain_within`)."""

    start: int
    end: int
    triggers: tuple[Trigger, ...]
    doubtful: tuple[Trigger, ...] = ()
    """Triggers that reach the span but may be about something else: too many words away, or across a bracket."""
    gaps: dict[Trigger, int] = field(default_factory=dict, compare=False)
    """Words between each trigger (sure or doubtful) and the span."""

    def with_modifier(self, modifier: Modifier) -> Trigger | None:
        """The first trigger of `modifier` that surely reaches the span."""
        return next((t for t in self.triggers if t.rule.modifier is modifier), None)

    def doubtful_modifier(self, modifier: Modifier) -> Trigger | None:
        """The first trigger of `modifier` that reaches the span with doubt."""
        return next((t for t in self.doubtful if t.rule.modifier is modifier), None)


_WORD = re.compile(r"[a-z0-9]+|\?")
_CLAUSE_END = re.compile(r"[;!\n\r]|\.(?=\s|$)")
_COMMA = re.compile(r",")
_BRACKET = re.compile(r"[()\[\]{}]")


def fold(text: str) -> str:
    """The text in lower case, character for character, so that offsets into it are offsets into `text`."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def tokens(text: str) -> list[tuple[str, int, int]]:
    """Lower-case words (letters and digits) and question marks, with their character offsets."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(fold(text))]


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int
    clause: int
    commas: int
    """Commas seen since the start of the text, to tell whether a comma lies between two words."""
    brackets: int
    """Brackets (round, square or curly, opening or closing) seen since the start of the text."""


def _words(text: str) -> list[_Word]:
    lowered = fold(text)
    clause_ends = [m.start() for m in _CLAUSE_END.finditer(lowered)]
    commas = [m.start() for m in _COMMA.finditer(lowered)]
    brackets = [m.start() for m in _BRACKET.finditer(lowered)]
    words: list[_Word] = []
    ci = cc = bc = 0
    for word, start, end in tokens(lowered):
        while ci < len(clause_ends) and clause_ends[ci] < start:
            ci += 1
        while cc < len(commas) and commas[cc] < start:
            cc += 1
        while bc < len(brackets) and brackets[bc] < start:
            bc += 1
        words.append(_Word(word, start, end, ci, cc, bc))
    return words


def _find_triggers(words: Sequence[_Word], text: str, rules: ContextRules) -> list[Trigger]:
    table = rules.trigger_table
    found: list[Trigger] = []
    i = 0
    while i < len(words):
        hit = None
        for phrase, rule in table.get(words[i].text, ()):
            n = len(phrase)
            fits = i + n <= len(words) and all(words[i + k].text == phrase[k] for k in range(n))
            if fits and len({words[i + k].clause for k in range(n)}) == 1:
                hit = Trigger(rule, text[words[i].start : words[i + n - 1].end], i, i + n - 1)
                break
        if hit is None:
            i += 1
            continue
        found.append(hit)
        i = hit.last + 1
    return found


def _reaches(
    trigger: Trigger, first: int, last: int, words: Sequence[_Word], terminations: Sequence[Trigger]
) -> tuple[int, bool] | None:
    """(words between the trigger and the span, whether the reading is certain) when the trigger reaches the span,
    else None."""
    rule = trigger.rule
    if last < trigger.first and rule.direction in (Direction.BACKWARD, Direction.BOTH):
        near, far = last, trigger.first
    elif first > trigger.last and rule.direction in (Direction.FORWARD, Direction.BOTH):
        near, far = trigger.last, first
    else:
        return None
    gap = far - near - 1
    reach = rule.max_words_backward if far == trigger.first and rule.max_words_backward is not None else rule.max_words
    if reach is not None and gap > reach:
        return None
    if words[near].clause != words[far].clause:
        return None
    if not rule.crosses_commas and words[near].commas != words[far].commas:
        return None
    if any(near < t.first and t.last < far and t.rule.ends(rule.modifier) for t in terminations):
        return None
    certain = rule.certain_within is None or (
        gap <= rule.certain_within and words[near].brackets == words[far].brackets
    )
    return gap, certain


def read_spans(text: str, spans: Sequence[tuple[int, int]], rules: ContextRules) -> tuple[ModifiedSpan, ...]:
    """For each (start, end) character span of `text`, the triggers that reach it.

    A span the trigger words themselves overlap is not modified by them. Triggers that modify only the
    nearest mention reach the span nearest to them in the words between.
    """
    words = _words(text)
    triggers = _find_triggers(words, text, rules)
    terminations = [t for t in triggers if t.rule.modifier is Modifier.TERMINATE]
    active = [t for t in triggers if t.rule.modifier not in (Modifier.TERMINATE, Modifier.PSEUDO)]
    positions: list[tuple[int, int] | None] = []
    for start, end in spans:
        inside = [i for i, w in enumerate(words) if w.start < end and w.end > start]
        positions.append((inside[0], inside[-1]) if inside else None)
    reached: list[dict[Trigger, tuple[int, bool]]] = [{} for _ in spans]
    for trigger in active:
        gaps: list[tuple[int, bool, int]] = []
        for k, pos in enumerate(positions):
            if pos is None or not (pos[1] < trigger.first or pos[0] > trigger.last):
                continue
            found = _reaches(trigger, pos[0], pos[1], words, terminations)
            if found is not None:
                gaps.append((*found, k))
        if trigger.rule.nearest_only and gaps:
            nearest = min(g for g, _, _ in gaps)
            gaps = [item for item in gaps if item[0] == nearest]
        for gap, certain, k in gaps:
            reached[k][trigger] = (gap, certain)
    return tuple(
        ModifiedSpan(
            start,
            end,
            tuple(t for t, (_, certain) in found.items() if certain),
            tuple(t for t, (_, certain) in found.items() if not certain),
            {t: gap for t, (gap, _) in found.items()},
        )
        for (start, end), found in zip(spans, reached, strict=True)
    )
