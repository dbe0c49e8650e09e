"""Pneumococcal polysaccharide (PPSV23) response: per-serotype protection, fold-rise and phenotype."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sigmd.core.ages import has_reached
from sigmd.core.knowledge import VaccineRules, VaccineRuleSet
from sigmd.core.model import Comparator, Patient, PneumococcalChallenge, Quantity, SerotypeTitre, Truth


class Classification(StrEnum):
    NORMAL = "normal"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"
    MEMORY = "memory"
    NOT_ASSESSED = "not_assessed"


IMPAIRED = (Classification.MILD, Classification.MODERATE, Classification.SEVERE, Classification.MEMORY)

POLYSACCHARIDE_TERMS = ("polysaccharide", "ppsv", "ppv23", "ppv-23", "pps23", "pneumovax", "typhim", "typhoid vi")
"""Words that name a plain polysaccharide vaccine in a free-text response summary (not a conjugate vaccine)."""


def names_polysaccharide(antigen: str) -> bool:
    """Whether a summary's antigen names a polysaccharide vaccine (`pneumococcal_polysaccharide`, `PPSV23`...)."""
    text = antigen.lower().replace("_", " ")
    return "conjugate" not in text and any(term in text for term in POLYSACCHARIDE_TERMS)


@dataclass(frozen=True)
class SerotypeOutcome:
    serotype: str
    pre: Quantity | None
    post: Quantity
    protective: Truth
    fold_rise: float | None
    fold_rise_is_bound: bool
    reached_fold_rise: Truth
    fold_class: str
    """ARUP-style class (`non_responder`, `weak`, `good`) when the rule set classifies by fold rise."""


@dataclass(frozen=True)
class PneumococcalResponse:
    classification: Classification
    rule_set: VaccineRuleSet
    serotypes_tested: tuple[str, ...]
    serotypes_protective: tuple[str, ...]
    serotypes: tuple[SerotypeOutcome, ...]
    not_used: tuple[str, ...]
    reason: str
    notes: tuple[str, ...]


def _pre_and_posts(
    titres: list[SerotypeTitre], vaccinated: date
) -> tuple[SerotypeTitre | None, SerotypeTitre | None, list[SerotypeTitre]]:
    before = [t for t in titres if t.collected <= vaccinated]
    after = sorted((t for t in titres if t.collected > vaccinated), key=lambda t: t.collected)
    pre = max(before, key=lambda t: t.collected) if before else None
    return pre, (after[0] if after else None), after[1:]


def _fold(pre: Quantity | None, post: Quantity, needed: float) -> tuple[float | None, bool, Truth]:
    """Fold rise post/pre. A censored pre titre `<x` gives a lower bound of the rise."""
    if pre is None or pre.value <= 0:
        return None, False, Truth.UNKNOWN
    fold = post.value / pre.value
    exact = pre.comparator is Comparator.EQ and post.comparator is Comparator.EQ
    if exact:
        return fold, False, Truth.of(fold >= needed)
    lower_bound = pre.comparator in (Comparator.LT, Comparator.LE) and post.comparator in (
        Comparator.EQ,
        Comparator.GT,
        Comparator.GE,
    )
    if lower_bound and fold >= needed:
        return fold, True, Truth.YES
    return fold, True, Truth.UNKNOWN


def _protective(post: Quantity, threshold: float) -> Truth:
    below = post.below(threshold)
    return Truth.NO if below is Truth.YES else (Truth.YES if below is Truth.NO else Truth.UNKNOWN)


def _classify_counts(rules: VaccineRuleSet, n: int, good: int, adequate_fraction: float) -> Classification:
    if good <= rules.severe_max_protective:
        return Classification.SEVERE
    if good / n < adequate_fraction:
        return Classification.MODERATE
    return Classification.NORMAL


def assess_pneumococcal(
    challenge: PneumococcalChallenge,
    patient: Patient,
    rules: VaccineRules,
    rule_set_id: str | None = None,
    excluded_because: str = "",
) -> PneumococcalResponse:
    """Classify a PPSV23 challenge under a rule set (AAAAI 2012/2015 by default)."""
    rule_set = rules.rule_sets[rule_set_id or rules.default]
    notes: list[str] = []

    def not_assessed(reason: str, not_used: tuple[str, ...] = ()) -> PneumococcalResponse:
        return PneumococcalResponse(Classification.NOT_ASSESSED, rule_set, (), (), (), not_used, reason, tuple(notes))

    if excluded_because:
        return not_assessed(excluded_because)
    if not has_reached(patient.birth_date, challenge.vaccinated, rules.min_age):
        return not_assessed(f"vaccinated before the age of {rules.min_age}: {rules.min_age_note}")

    by_serotype: dict[str, list[SerotypeTitre]] = {}
    for titre in challenge.titres:
        by_serotype.setdefault(titre.serotype.upper(), []).append(titre)
    ppsv23 = {s.upper() for s in rules.ppsv23_serotypes}
    not_used = tuple(sorted(s for s in by_serotype if s not in ppsv23))
    if not_used:
        notes.append(f"serotypes not in PPSV23 were not used: {', '.join(not_used)}")

    outcomes: list[SerotypeOutcome] = []
    later_by_serotype: dict[str, list[SerotypeTitre]] = {}
    for serotype in sorted(s for s in by_serotype if s in ppsv23):
        pre, post, later = _pre_and_posts(by_serotype[serotype], challenge.vaccinated)
        if post is None:
            notes.append(f"serotype {serotype}: no titre after vaccination")
            continue
        later_by_serotype[serotype] = later
        fold, bound, reached = _fold(pre.titre if pre else None, post.titre, rule_set.fold_rise)
        fold_class = ""
        if rule_set.good_fold_rise is not None and fold is not None and not bound:
            fold_class = (
                "good"
                if fold >= rule_set.good_fold_rise
                else ("weak" if fold >= rule_set.fold_rise else "non_responder")
            )
        outcomes.append(
            SerotypeOutcome(
                serotype,
                pre.titre if pre else None,
                post.titre,
                _protective(post.titre, rule_set.protective_ug_ml),
                fold,
                bound,
                reached,
                fold_class,
            )
        )
    if not outcomes:
        return not_assessed("no PPSV23 serotype titre was measured after vaccination", not_used)

    tested = tuple(o.serotype for o in outcomes)
    protective = tuple(o.serotype for o in outcomes if o.protective is Truth.YES)
    first_post = min(
        (t.collected for s in tested for t in by_serotype[s] if t.collected > challenge.vaccinated),
        default=challenge.vaccinated,
    )
    young = not has_reached(patient.birth_date, challenge.vaccinated, rule_set.young_below)
    adequate = rule_set.adequate_fraction_young if young else rule_set.adequate_fraction_older
    age_rule = f"{adequate:.0%} of serotypes ({'under' if young else 'from'} {rule_set.young_below})"
    n = len(outcomes)
    if (first_post - challenge.vaccinated).days < 28:
        notes.append(
            f"the post-vaccination sample was taken {(first_post - challenge.vaccinated).days} days after vaccination; "
            "laboratories sample about 4 weeks after (ARUP) or 4-6 weeks after (Mayo)"
        )

    if rule_set.classify_by == "fold_rise":
        if any(o.reached_fold_rise is Truth.UNKNOWN for o in outcomes):
            return not_assessed("fold-rise classes need a pre-vaccination titre for every serotype", not_used)
        responded = sum(1 for o in outcomes if o.reached_fold_rise is Truth.YES)
        classification = _classify_counts(rule_set, n, responded, adequate)
        reason = f"{responded} of {n} serotypes rose at least {rule_set.fold_rise:g}-fold; adequate is {age_rule}"
    else:
        unknown = [o.serotype for o in outcomes if o.protective is Truth.UNKNOWN]
        if unknown:
            notes.append(f"protection could not be told for censored titres: {', '.join(unknown)}")
        classification = _classify_counts(rule_set, n, len(protective), adequate)
        reason = f"{len(protective)} of {n} serotypes at or above {rule_set.protective_ug_ml:g} ug/mL; adequate is {age_rule}"
        if classification is Classification.NORMAL:
            folds = [o for o in outcomes if o.reached_fold_rise is not Truth.UNKNOWN]
            if len(folds) < n:
                notes.append(
                    f"fold rise could not be assessed for {n - len(folds)} serotype(s) without a pre-vaccination titre; "
                    "a mild phenotype cannot be excluded for them"
                )
            if folds:
                risen = sum(1 for o in folds if o.reached_fold_rise is Truth.YES)
                if risen / len(folds) < adequate:
                    classification = Classification.MILD
                    reason += f"; but only {risen} of {len(folds)} rose at least {rule_set.fold_rise:g}-fold"

    if classification in (Classification.NORMAL, Classification.MILD):
        classification, reason = _memory(classification, reason, later_by_serotype, first_post, rule_set, adequate)
    return PneumococcalResponse(
        classification, rule_set, tested, protective, tuple(outcomes), not_used, reason, tuple(notes)
    )


def _memory(
    classification: Classification,
    reason: str,
    later: dict[str, list[SerotypeTitre]],
    first_post: date,
    rule_set: VaccineRuleSet,
    adequate: float,
) -> tuple[Classification, str]:
    """Loss of an adequate response within the memory window is the memory phenotype."""
    window_end = rule_set.memory_window.reached_on(first_post)
    follow = {s: [t for t in titres if t.collected <= window_end] for s, titres in later.items()}
    follow = {s: t for s, t in follow.items() if t}
    if not follow:
        return classification, reason
    latest = {s: max(t, key=lambda x: x.collected) for s, t in follow.items()}
    kept = sum(1 for t in latest.values() if _protective(t.titre, rule_set.protective_ug_ml) is Truth.YES)
    if kept / len(latest) < adequate:
        return (
            Classification.MEMORY,
            f"{reason}; only {kept} of {len(latest)} serotypes still protective within {rule_set.memory_window} (memory phenotype)",
        )
    return classification, f"{reason}; still protective at follow-up within {rule_set.memory_window}"
