"""Labels and machine terms read in clinical language wherever a person reads them."""

from __future__ import annotations

from sigmd.core.course import IgmCourse
from sigmd.core.diagnosis import Certainty
from sigmd.core.explain import LABEL_WORDS, certainty_words, in_words, label_words
from sigmd.core.interpret import Status
from sigmd.core.knowledge import Label, LowLimitBasis
from sigmd.core.patterns import Pattern
from sigmd.core.rules import Outcome


def test_every_label_has_words_for_people() -> None:
    """Each diagnosis label has its own clinical wording, with no machine underscores left."""
    assert set(LABEL_WORDS) == {label.value for label in Label}
    assert all("_" not in label_words(label) for label in Label)
    assert label_words(Label.PARTIAL_SIGMD) == "Partial selective IgM deficiency"


def test_outcomes_statuses_bases_patterns_and_courses_read_as_words() -> None:
    """No outcome, status, limit basis, pattern or IgM course shows an underscore or a code like minus_2sd."""
    terms = [*Outcome, *Status, *LowLimitBasis, *Pattern, *IgmCourse]
    assert all("_" not in in_words(term) for term in terms)
    assert in_words(LowLimitBasis.MINUS_2SD) == "mean − 2 SD" and in_words(Outcome.NOT_MET) == "not met"


def test_a_possible_cause_is_never_called_confirmed() -> None:
    """Where a label names something only possible, its certainty says what is confirmed instead of the bare word."""
    for label in Label:
        for certainty in Certainty:
            words = certainty_words(certainty, label)
            if "possible" in label_words(label):
                assert words != certainty.value and "low IgM" in words and "possible cause" in words
            else:
                assert words == certainty.value
    assert certainty_words("confirmed", "secondary_low_igm") == "low IgM confirmed; possible cause to review"
