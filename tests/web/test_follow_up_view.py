"""The follow-up view lists every planned review, soonest first, with overdue and due-soon marked."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

from sigmd.core.model import Analyte, Case, LabResult, Patient, Quantity, Sex

TODAY = date(2026, 11, 1)


def _low_igm_case() -> Case:
    def result(analyte: Analyte, value: float) -> LabResult:
        return LabResult(analyte, TODAY, Quantity(value), str(value), "mg/dL", origin=f"{analyte} today")

    patient = Patient(Sex.FEMALE, date(1980, 5, 1))
    return Case(patient, (result(Analyte.IGM, 25), result(Analyte.IGG, 1000), result(Analyte.IGA, 200)))


def test_a_patient_saved_today_is_listed_by_default_with_its_review_date(client_as, registry) -> None:
    """A low IgM recorded today gets a review in about 6 months: the default view lists it as upcoming."""
    registry.record(_low_igm_case(), patient_id="fu-1", actor="test", as_of=TODAY)
    page = html.unescape(client_as("clin").get(f"/follow-up?as_of={TODAY}").text)
    row = re.search(r"<tr class=\"due-([a-z-]+)\">\s*<th scope=\"row\"><a [^>]*>fu-1</a>", page)
    assert row is not None and row.group(1) == "upcoming"
    assert "with a review planned" in page


def test_a_short_window_still_hides_later_reviews_and_marks_due_soon(client_as, registry) -> None:
    """Asked for 30 days, the view leaves out a review 6 months away; ten days before the review it is due soon."""
    registry.record(_low_igm_case(), patient_id="fu-2", actor="test", as_of=TODAY)
    client = client_as("clin")
    assert "fu-2" not in client.get(f"/follow-up?as_of={TODAY}&within=30").text
    [entry] = [e for e in registry.due_for_follow_up(TODAY, within_days=3660) if e.patient_id == "fu-2"]
    ten_days_before = entry.next_follow_up - timedelta(days=10)
    page = html.unescape(client.get(f"/follow-up?as_of={ten_days_before}&within=30").text)
    assert re.search(r"<tr class=\"due-due-soon\">\s*<th scope=\"row\"><a [^>]*>fu-2</a>", page)
