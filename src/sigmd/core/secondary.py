"""Matching a case's conditions and medications against the secondary-cause catalogue.

A record matches a cause by an ICD-10 or ATC code prefix or by a term in its free text. The text is read
as a clinician reads it (`sigmd.core.context`): "no history of lymphoma", "HIV test negative",
"family history of CLL" and, for systemic-only causes, "prednisolone eye drops" name a cause without
making it one. Every match says whether it counts and why:

- `counts`: the cause is present (a diagnosis of secondary low IgM may rest on it);
- `uncertain`: suspected or planned ("?lymphoma", "consider rituximab"), a code from an unverified list
  with no term beside it, or a code the record's own text contradicts: the cause is not excluded, but
  not established either;
- `does_not_count`: the text names the cause only to negate it, for someone else, or by a local route.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from sigmd.core.context import ContextRules, ModifiedSpan, Modifier, Trigger, fold, read_spans
from sigmd.core.knowledge import SecondaryCause
from sigmd.core.model import CodedText

_ICD10_SYSTEMS = {
    "icd-10",
    "icd10",
    "icd-10-cm",
    "icd10cm",
    "http://hl7.org/fhir/sid/icd-10",
    "http://hl7.org/fhir/sid/icd-10-cm",
}
_ATC_SYSTEMS = {"atc", "http://www.whocc.no/atc"}
_MEMO_LIMIT = 100_000


class MatchStatus(StrEnum):
    COUNTS = "counts"
    UNCERTAIN = "uncertain"
    DOES_NOT_COUNT = "does_not_count"


@dataclass(frozen=True)
class TermMention:
    """One place where a record's text names a cause, and how it reads."""

    term: str
    """The catalogue term that matched."""
    text: str
    """The words as written in the record."""
    start: int
    end: int
    status: MatchStatus
    modifier: Modifier | None
    """What changed the reading (negated, other person, local route, uncertain, historical), or None."""
    trigger: str
    """The trigger words as written ("no history of", "eye drops"), or ""."""
    reason: str


@dataclass(frozen=True)
class SecondaryMatch:
    cause: SecondaryCause
    record: CodedText
    matched_on: str
    """What matched: `ICD-10 C91.1`, `ATC N05AH02`, `term "clozapine"`, or a code with its term."""
    status: MatchStatus = MatchStatus.COUNTS
    reason: str = ""
    """Why the match counts, does not count, or leaves the cause uncertain."""
    mentions: tuple[TermMention, ...] = ()
    """Every mention of the cause in the record's text, with how each reads."""

    @property
    def counts(self) -> bool:
        return self.status is MatchStatus.COUNTS

    @property
    def text_matched(self) -> str:
        return "; ".join(m.text for m in self.mentions)

    def describe(self) -> str:
        """One line for a clinician: the record, the cause, what matched and why it counts or not."""
        record = self.record.text or self.record.code
        origin = f" ({self.record.origin})" if self.record.origin else ""
        return f'"{record}"{origin} names {self.cause.name} by {self.matched_on}: {self.reason}'


def match_secondary_causes(
    records: tuple[CodedText, ...], catalogue: tuple[SecondaryCause, ...], context: ContextRules | None
) -> tuple[SecondaryMatch, ...]:
    """Every cause each condition or medication names, most specific first, each with its status.

    The catalogue lists specific causes first (CLL before other leukaemia): a later cause whose code and
    words were all matched already by an earlier one for the same record is left out, so "chronic
    lymphocytic leukaemia" (ICD-10 C91.1) names CLL only. `context` is `Knowledge.secondary_context`; None
    reads every mention as affirmed (no negation, family history or route), for tests of the catalogue alone.
    """
    matches: list[SecondaryMatch] = []
    for record in records:
        claimed_code = False
        claimed: list[tuple[int, int]] = []
        for cause in catalogue:
            found = match_record(record, cause, context)
            if found is None:
                continue
            by_code = not found.matched_on.startswith("term ")
            new_words = [m for m in found.mentions if not any(s <= m.start and m.end <= e for s, e in claimed)]
            if (by_code and not claimed_code) or new_words:
                matches.append(found)
            claimed_code = claimed_code or by_code
            claimed.extend((m.start, m.end) for m in found.mentions)
    return tuple(matches)


def match_record(record: CodedText, cause: SecondaryCause, context: ContextRules | None) -> SecondaryMatch | None:
    """How one record matches one cause, or None when neither its code nor its text names the cause."""
    code = _code_match(record, cause)
    mentions = read_text(record.text, cause, context)
    if not code and not mentions:
        return None
    local = _local_atc(record, cause)
    if local and not code and any(m.status is not MatchStatus.DOES_NOT_COUNT for m in mentions):
        why = f"does not count: ATC {record.code.strip().upper()} is a local preparation ({local}), not systemic"
        return SecondaryMatch(cause, record, f'term "{mentions[0].term}"', MatchStatus.DOES_NOT_COUNT, why, mentions)
    counting = [m for m in mentions if m.status is MatchStatus.COUNTS]
    uncertain = [m for m in mentions if m.status is MatchStatus.UNCERTAIN]
    if code:
        broad = any(_code_has_prefix(record.code.strip().upper(), c) for c in cause.codes_need_text)
        trusted = cause.codes_verified and not broad
        if counting:
            on = code if trusted else f'{code} with term "{counting[0].term}"'
            why = "counts: " + (
                "the code is in a verified list" if trusted else counting[0].reason.removeprefix("counts: ")
            )
            return SecondaryMatch(cause, record, on, MatchStatus.COUNTS, why, mentions)
        if not mentions:
            if trusted:
                return SecondaryMatch(cause, record, code, MatchStatus.COUNTS, "counts: the code is in a verified list")
            if broad and record.text.strip():
                why = "does not count: the code covers more than this cause and the text does not name it"
                return SecondaryMatch(cause, record, code, MatchStatus.DOES_NOT_COUNT, why)
            why = (
                "uncertain: the code covers more than this cause and there is no text to tell"
                if broad
                else "uncertain: the code list for this cause is not verified and the text does not name it"
            )
            return SecondaryMatch(cause, record, code, MatchStatus.UNCERTAIN, why)
        first = (uncertain or mentions)[0]
        why = f"uncertain: the code names this cause but its text reads otherwise ({first.reason})"
        return SecondaryMatch(cause, record, code, MatchStatus.UNCERTAIN, why, mentions)
    chosen = (counting or uncertain or mentions)[0]
    return SecondaryMatch(cause, record, f'term "{chosen.term}"', chosen.status, chosen.reason, mentions)


def read_text(text: str, cause: SecondaryCause, context: ContextRules | None) -> tuple[TermMention, ...]:
    """Every mention of the cause's terms in `text`, each read with the context rules.

    Depends on the text, the cause and the rules only, so a batch may read each distinct text once; the
    reading is remembered per rule set.
    """
    if not text or not text.strip():
        return ()
    if context is None:
        return _read(text, cause, None)
    memo = context.memo
    key = (cause.id, cause.terms, cause.systemic_only, text)
    cached = cast("tuple[TermMention, ...] | None", memo.get(key))
    if cached is None:
        cached = _read(text, cause, context)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[key] = cached
    return cached


def _read(text: str, cause: SecondaryCause, context: ContextRules | None) -> tuple[TermMention, ...]:
    spans = [(m.start(), m.end(), m.group()) for m in cause.term_pattern.finditer(fold(text))]
    if not spans:
        return ()
    if context is None:
        return tuple(
            TermMention(term, text[s:e], s, e, MatchStatus.COUNTS, None, "", "counts: named in the text")
            for s, e, term in spans
        )
    read = read_spans(text, [(s, e) for s, e, _ in spans], context)
    return tuple(_judge(span, term, text, cause) for span, (_, _, term) in zip(read, spans, strict=True))


def _judge(span: ModifiedSpan, term: str, text: str, cause: SecondaryCause) -> TermMention:
    written = text[span.start : span.end]

    def mention(status: MatchStatus, trigger: Trigger | None, reason: str) -> TermMention:
        modifier = trigger.rule.modifier if trigger else None
        return TermMention(
            term, written, span.start, span.end, status, modifier, trigger.text if trigger else "", reason
        )

    route = span.with_modifier(Modifier.LOCAL_ROUTE)
    if cause.systemic_only and route is not None:
        return mention(MatchStatus.DOES_NOT_COUNT, route, f"does not count: local route ('{route.text}'), not systemic")
    other = span.with_modifier(Modifier.OTHER_PERSON)
    if other is not None:
        return mention(
            MatchStatus.DOES_NOT_COUNT, other, f"does not count: about another person, family history ('{other.text}')"
        )
    negated = span.with_modifier(Modifier.NEGATED)
    if negated is not None:
        return mention(MatchStatus.DOES_NOT_COUNT, negated, f"does not count: negated by '{negated.text}'")
    # A negation or another person that reaches the mention only with doubt may be about something else ("no side
    # effects on clozapine", "rituximab (HBsAg negative)"): the cause is then not excluded, never excluded.
    doubtful = span.doubtful_modifier(Modifier.OTHER_PERSON) or span.doubtful_modifier(Modifier.NEGATED)
    if doubtful is not None:
        what = "about another person" if doubtful.rule.modifier is Modifier.OTHER_PERSON else "negated"
        return mention(
            MatchStatus.UNCERTAIN,
            doubtful,
            f"uncertain: '{doubtful.text}' may mean it is {what}, but stands {_distance(span, doubtful)}, so sigmd"
            " cannot tell whether it is about this cause",
        )
    uncertain = span.with_modifier(Modifier.UNCERTAIN)
    if uncertain is not None:
        return mention(
            MatchStatus.UNCERTAIN,
            uncertain,
            f"uncertain: suspected, unknown, to be excluded or planned ('{uncertain.text}')",
        )
    past = span.with_modifier(Modifier.HISTORICAL)
    if past is not None:
        return mention(
            MatchStatus.COUNTS, past, f"counts: past mention ('{past.text}'); a past cause can still lower IgM"
        )
    return mention(MatchStatus.COUNTS, None, "counts: named in the text")


def _distance(span: ModifiedSpan, trigger: Trigger) -> str:
    """How far a doubtful trigger stands from the mention, in words a clinician reads."""
    gap = span.gaps.get(trigger, 0)
    if gap > (trigger.rule.certain_within or 0):
        return f"{gap} word{'s' if gap != 1 else ''} away from it"
    return "on the other side of a bracket"


def _code_match(record: CodedText, cause: SecondaryCause) -> str:
    system = record.system.strip().lower()
    code = record.code.strip().upper()
    if code and system in _ICD10_SYSTEMS:
        for prefix in cause.icd10_prefixes:
            if _code_has_prefix(code, prefix):
                return f"ICD-10 {code}"
    if code and system in _ATC_SYSTEMS:
        for prefix in cause.atc_prefixes:
            if code.startswith(prefix.upper()):
                return f"ATC {code}"
    return ""


def _local_atc(record: CodedText, cause: SecondaryCause) -> str:
    """The local-preparation ATC group the record's code falls in, for a systemic-only cause, else ""."""
    code = record.code.strip().upper()
    if not (cause.systemic_only and code and record.system.strip().lower() in _ATC_SYSTEMS):
        return ""
    return next((prefix for prefix in cause.local_atc if code.startswith(prefix.upper())), "")


def _code_has_prefix(code: str, prefix: str) -> bool:
    normalised_code = code.replace(".", "")
    normalised_prefix = prefix.upper().replace(".", "")
    return normalised_code.startswith(normalised_prefix)
