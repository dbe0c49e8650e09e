"""Research outputs: the per-patient columns of the patients the pre-filter settles, and the OMOP `cohort` table.

Patients judged by the core or set-wise carry their research columns in their `Verdict` (`verdicts.igm_summary`,
`setwise.judge_sql`). A patient the pre-filter settles has every IgM, IgG and IgA result plainly at or above its
limit: the SQL gives the latest IgM, its limit and z-score (a laboratory's own range beside it decided as the core
decides, see `classify.lab_range_decides`), and the core's `decide` gives the label and each criterion's outcome once
per combination of the analytes measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any

from sigmd.core.course import IgmCourse
from sigmd.core.interpret import Status
from sigmd.core.knowledge import CriterionId, Knowledge, Label, LowLimitBasis
from sigmd.core.model import IGG_SUBCLASSES
from sigmd.core.patterns import Pattern
from sigmd.core.rules import Outcome
from sigmd.screening.classify import lab_range_decides, lab_range_limit
from sigmd.screening.engine import Engine
from sigmd.screening.extras import require
from sigmd.screening.portable import literal, matches
from sigmd.screening.setwise import column, criterion_outcomes, decisions, z_sql

DEFAULT_COHORT_DEFINITION_ID = 1
"""The `cohort_definition_id` of the OMOP cohort table unless the run is given another (`--cohort-definition-id`):
set it to the id your OHDSI tools (ATLAS, WebAPI) gave the SIgMD cohort definition."""
COHORT_LABELS = (Label.PARTIAL_SIGMD.value, Label.COMPLETE_SIGMD.value)
"""Labels whose patients enter the OMOP cohort, at either certainty (confirmed or provisional)."""
INTEGER_ID = r"^(?:0|-?[1-9][0-9]{0,17})$"
"""A patient id that is an OMOP person_id as written: a whole number in canonical form that fits in 64 bits."""
PREFILTER_COURSE = IgmCourse.NEVER_LOW.value
"""Every IgM result of a pre-filtered patient is plainly not low."""


def prefilter_sql(knowledge: Knowledge, profile_id: str, set_id: str, horizon: int) -> str:
    """Per patient the pre-filter settles: which analytes were measured, and the latest IgM with its limit and
    z-score as the core gives them (a laboratory's range beside it decides as in `classify.lab_range_decides`; no
    z-score is read from a laboratory's range).

    Reads `patients`, `rows`, `core_verdicts` (patients the core or the set-wise pass judged), `intervals` and
    `record_flags` (whether a record counts for a secondary cause).
    """
    profile = knowledge.profiles[profile_id]
    basis = "minus_2sd" if profile.low_limit is LowLimitBasis.MINUS_2SD else "lower_limit"
    from_lab = lab_range_decides("g", "i", knowledge.thresholds.lab_range_max_ratio.value)
    # With absolute IgM cut-offs the row's limit is the cut-off (`classify.rows_sql`), whatever the range says.
    limit = f"CASE WHEN {from_lab} THEN {lab_range_limit('g', basis)} ELSE i.{basis} END"
    if profile.igm_cutoffs:
        limit = "g.limit_mg_dl"
    z = z_sql("g.value_mg_dl", "g.comparator_code", "i.lower_mg_dl", "i.upper_mg_dl")
    stated = knowledge.reference_sets[set_id].states_central_95
    return f"""
WITH pre AS (
  SELECT p.patient_id, p.has_igg, p.has_iga, p.subclasses_measured, p.latest_igm_row FROM patients p
  WHERE p.problem IS NULL AND p.all_not_low AND p.patient_id NOT IN (SELECT patient_id FROM core_verdicts)
)
SELECT pre.patient_id, pre.has_igg, pre.has_iga, pre.subclasses_measured = {len(IGG_SUBCLASSES)} AS all_subclasses,
  coalesce(f.secondary_named, false) AS secondary_named, g.collected AS latest_igm_date,
  CAST(g.value_mg_dl AS DOUBLE) AS latest_igm_mg_dl, CAST({limit} AS DOUBLE) AS latest_igm_limit_mg_dl,
  CAST({f"CASE WHEN NOT {from_lab} THEN {z} END" if stated else "NULL"} AS DOUBLE) AS latest_igm_z
FROM pre JOIN rows g ON g.row_no = pre.latest_igm_row
LEFT JOIN record_flags f ON f.patient_id = pre.patient_id
LEFT JOIN intervals i ON i.set_id = {literal(set_id)} AND i.analyte = 'IgM' AND i.sex = g.sex
  AND i.months = g.age_months AND i.day_key = CASE WHEN g.age_days < {horizon} THEN g.age_days ELSE -1 END
"""


def prefilter_decisions(knowledge: Knowledge, profile_id: str) -> Any:
    """The core's label, certainty and criterion outcomes for every combination a pre-filtered patient can show:
    IgM, IgG and IgA results not low (IgG or IgA possibly not measured), IgG subclasses all measured or not, a
    record that counts for a secondary cause or not."""
    pa = require("pyarrow", "screen")
    profile = knowledge.profiles[profile_id]
    met, not_met, unknown = Outcome.MET.value, Outcome.NOT_MET.value, Outcome.UNKNOWN.value
    rows = []
    for has_igg in (False, True):
        for has_iga in (False, True):
            for all_subclasses, secondary_named in product((False, True), repeat=2):
                # The statuses `setwise.judge_sql` gives a patient whose every result is plainly not low.
                combination = {
                    "pattern": (Pattern.NORMAL if has_igg and has_iga else Pattern.INCOMPLETE).value,
                    "igm_status": Status.NORMAL.value,
                    "abnormal_persistent": True,
                    "latest_unit_doubt": False,
                    "others_raised": False,  # decide reads these two only beside a low IgM
                    "others_outdated": False,
                    column(CriterionId.IGM_LOW): not_met,
                    column(CriterionId.IGM_ABSENT): not_met,
                    column(CriterionId.IGG_NORMAL): met if has_igg else unknown,
                    column(CriterionId.IGA_NORMAL): met if has_iga else unknown,
                    column(CriterionId.IGM_PERSISTENTLY_LOW): not_met,
                    column(CriterionId.IGG_SUBCLASSES_NORMAL): met if all_subclasses else unknown,
                    column(CriterionId.SECONDARY_CAUSES_EXCLUDED): not_met if secondary_named else unknown,
                }
                decided = decisions(profile, knowledge, [combination])[0]
                outcomes = criterion_outcomes(profile, knowledge, combination)
                rows.append(
                    {"has_igg": has_igg, "has_iga": has_iga, "all_subclasses": all_subclasses}
                    | {"secondary_named": secondary_named}
                    | {"label": decided["label"], "certainty": decided["certainty"]}
                    | {column(c): outcomes.get(c) for c in CriterionId}
                )
    schema = pa.schema(
        [(name, pa.bool_()) for name in ("has_igg", "has_iga", "all_subclasses", "secondary_named")]
        + [(name, pa.string()) for name in ("label", "certainty", *(column(c) for c in CriterionId))]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def prefilter_results_sql(age_band: str, criteria: list[str]) -> str:
    """The rows of `results` for the pre-filtered patients (reads `prefiltered`, `prefilter_decided` and
    `patients`); `age_band` is the band of `p.igm_age_months`."""
    outcomes = "".join(f", d.{c}" for c in criteria)
    same = " AND ".join(f"d.{c} = x.{c}" for c in ("has_igg", "has_iga", "all_subclasses", "secondary_named"))
    return f"""
SELECT x.patient_id, d.label, d.certainty, CAST(NULL AS VARCHAR) AS reasons, 'prefilter' AS path, p.sex,
  {age_band} AS age_band, '{PREFILTER_COURSE}' AS igm_course, CAST(NULL AS VARCHAR) AS funnel_step,
  CAST(NULL AS DATE) AS index_date, x.latest_igm_date, x.latest_igm_mg_dl, x.latest_igm_limit_mg_dl,
  x.latest_igm_z{outcomes}
FROM prefiltered x JOIN patients p ON p.patient_id = x.patient_id JOIN prefilter_decided d ON {same}
"""


@dataclass(frozen=True)
class CohortPlan:
    written: bool
    rows: int
    note: str


def cohort_plan(db: Engine, definition_id: int) -> CohortPlan:
    """Whether the OMOP cohort can be written from `results` (every patient id an integer), and how many rows."""
    others = db.fetch(f"SELECT count(*) AS n FROM results WHERE NOT {matches('patient_id', INTEGER_ID)}").to_pylist()
    if others[0]["n"]:
        return CohortPlan(
            False,
            0,
            f"not written: {others[0]['n']} patient id(s) are not whole numbers, and an OMOP subject_id is the "
            "integer person_id (ids are never renumbered, which would break the link to the person table)",
        )
    labels = ", ".join(literal(label) for label in COHORT_LABELS)
    count = db.fetch(f"SELECT count(*) AS n FROM results WHERE label IN ({labels})").to_pylist()[0]["n"]
    return CohortPlan(
        True,
        int(count),
        f"cohort_definition_id {definition_id}: patients labelled {' or '.join(COHORT_LABELS)} (confirmed or "
        "provisional), from the first low IgM result to the latest IgM result",
    )


def cohort_sql(definition_id: int) -> str:
    """The OMOP CDM v5.4 `cohort` rows: one per patient labelled partial or complete SIgMD, from the index date
    (first low IgM result) to the date of the latest IgM result, on which the verdict rests."""
    labels = ", ".join(literal(label) for label in COHORT_LABELS)
    return (
        f"SELECT CAST({int(definition_id)} AS BIGINT) AS cohort_definition_id,"
        " CAST(patient_id AS BIGINT) AS subject_id, index_date AS cohort_start_date,"
        f" latest_igm_date AS cohort_end_date FROM results WHERE label IN ({labels})"
        " ORDER BY subject_id"
    )
