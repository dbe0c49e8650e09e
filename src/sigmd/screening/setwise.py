"""Verdicts computed set-wise in the engine, for every patient whose rows the SQL can judge exactly.

For one rule profile and one reference set, `judge_sql` judges every used row of the patients in table
`cohort` (absent, low, normal, high or indeterminate, as `sigmd.core.interpret` does), then per patient the
latest status of each analyte (results of one day that disagree made indeterminate, as
`sigmd.core.timeline.agree_same_day` does), the persistence of low results (`sigmd.core.timeline.persistence`), the
pattern (`sigmd.core.patterns.classify`) and the outcome of every criterion that lab rows can decide
(`sigmd.core.rules`). The label and its certainty are not computed here: `decisions` asks the core's own
`decide` once per distinct combination of those statuses, and the engine joins the answers back.

A laboratory's own range beside a row decides, as in the core, when it is plausible beside the set's interval.
A row the SQL cannot judge exactly is marked `needs_core`, and its patient goes to the core instead (the
residue, counted in summary.json): a value that may be a unit slip, or a value so close to a limit fitted in SQL
from a laboratory's range that the last bit of ln or exp could decide it (every other value and limit is the
core's own double, compared exactly).
A row with no interval or no limit at its age is not judged, as in the core (`no_interval`). Conditions and
medications reach the SQL as one flag pair per patient (`verdicts.record_flags`), read by the core's own matcher
once per distinct record: whether a record counts for a secondary cause, and whether treatment on record makes
the core set aside the patient's IgG results. The parity suite (tests/screening/test_setwise_parity.py)
proves the rest equal to the core, patient by patient and criterion by criterion.

The SQL is written once, in DuckDB's dialect; each engine compiles it to its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sigmd.core.course import BLINDED, IgmCourse
from sigmd.core.diagnosis import decide
from sigmd.core.interpret import Status
from sigmd.core.knowledge import CriterionId, Knowledge, Label, LowLimitBasis, Role, RuleProfile
from sigmd.core.model import IGG_SUBCLASSES, Analyte
from sigmd.core.patterns import Pattern
from sigmd.core.rules import Outcome
from sigmd.screening.bands import RELATIVE_MARGIN
from sigmd.screening.classify import NORMAL_Z, lab_range_decides, lab_range_limit
from sigmd.screening.portable import literal, product

CRITERIA_SETWISE = (
    CriterionId.IGM_LOW,
    CriterionId.IGM_ABSENT,
    CriterionId.IGG_NORMAL,
    CriterionId.IGA_NORMAL,
    CriterionId.IGM_PERSISTENTLY_LOW,
    CriterionId.IGG_SUBCLASSES_NORMAL,
    CriterionId.SECONDARY_CAUSES_EXCLUDED,
)
"""Criteria the SQL decides, from the lab rows and the patients' record flags (`verdicts.RecordFlags`). Every
other criterion is unknown for a patient the SQL judges, since screening input records no vaccine responses,
T-cell tests or infections. Without a blood count, secondary causes are never excluded: the criterion is not
met when a record counts for a cause and unknown otherwise, as in the core."""
_TRACKED = (Analyte.IGM, Analyte.IGG, Analyte.IGA, *IGG_SUBCLASSES)
_DAYS_PER_YEAR = 365.2425


def column(criterion: CriterionId) -> str:
    """The column holding a criterion's outcome."""
    return f"c_{criterion.value}"


def _key(analyte: Analyte) -> str:
    return analyte.value.lower()


@dataclass(frozen=True)
class Pass:
    """One judgement pass: a rule profile under a reference set."""

    profile: RuleProfile
    set_id: str

    @property
    def name(self) -> str:
        return f"{self.profile.id}__{self.set_id}"


def _below(value: str, threshold: str) -> str:
    """`Quantity.below` as 1 (yes), 0 (no) or -1 (unknown), by the row's comparator."""
    return (
        f"CASE cmp WHEN '=' THEN CASE WHEN {value} < {threshold} THEN 1 ELSE 0 END"
        f" WHEN '<' THEN CASE WHEN {value} <= {threshold} THEN 1 ELSE -1 END"
        f" WHEN '<=' THEN CASE WHEN {value} < {threshold} THEN 1 ELSE -1 END"
        f" ELSE CASE WHEN {value} >= {threshold} THEN 0 ELSE -1 END END"
    )


def _above(value: str, threshold: str) -> str:
    """`Quantity.above` as 1 (yes), 0 (no) or -1 (unknown), by the row's comparator."""
    return (
        f"CASE cmp WHEN '=' THEN CASE WHEN {value} > {threshold} THEN 1 ELSE 0 END"
        f" WHEN '>' THEN CASE WHEN {value} >= {threshold} THEN 1 ELSE -1 END"
        f" WHEN '>=' THEN CASE WHEN {value} > {threshold} THEN 1 ELSE -1 END"
        f" ELSE CASE WHEN {value} <= {threshold} THEN 0 ELSE -1 END END"
    )


def _near(value: str, threshold: str) -> str:
    return f"coalesce(abs({value} - {threshold}) <= {RELATIVE_MARGIN} * abs({threshold}), false)"


def _add(date: str, months: int, days: int) -> str:
    """`AgeSpec.reached_on`: calendar months (a missing day becomes the month's last), then days."""
    return f"CAST(CAST({date} + INTERVAL '{int(months)}' MONTH AS DATE) + INTERVAL '{int(days)}' DAY AS DATE)"


def judge_sql(judged: Pass, knowledge: Knowledge, horizon: int, among: str = "cohort") -> str:
    """Per patient of `among` (a table or subquery with column patient_id; default `cohort`): whether the SQL could judge every row, the latest status of each analyte, the
    pattern, whether its abnormal results are persistent, each criterion's outcome and the IgM rows' summary.

    Reads tables `cohort_rows` (the used rows of `cohort`, columns of `classify.rows_sql`), `intervals` and `all_cutoffs`
    (see `tables.content_tables`), `absent` (analyte, below) and `record_flags` (patient_id, blinded,
    secondary_named).
    """
    profile, thresholds = judged.profile, knowledge.thresholds
    stated = knowledge.reference_sets[judged.set_id].states_central_95
    basis = "minus_2sd" if profile.low_limit is LowLimitBasis.MINUS_2SD else "lower_limit"
    from_lab = lab_range_decides("r", "i", thresholds.lab_range_max_ratio.value)
    limit = f"CASE WHEN from_lab THEN {lab_range_limit('', basis)} ELSE set_limit END"
    # Every value and threshold the rows are compared with is the core's own double (values parsed and multiplied
    # as the core does, limits from the tables the core's lookup built, thresholds from the content), except a
    # limit fitted here from a laboratory's range: ln and exp may differ in the last bit between an engine and
    # Python, so a value within RELATIVE_MARGIN of such a limit goes to the core.
    limit_in_sql = "from_lab" if basis == "minus_2sd" else "false"
    if profile.igm_cutoffs:
        limit = f"CASE WHEN analyte = 'IgM' THEN cutoff ELSE {limit} END"
        limit_in_sql = f"({limit_in_sql} AND analyte <> 'IgM')"
    cutoff_join = (
        f"LEFT JOIN all_cutoffs c ON c.set_id = {literal(profile.id)} AND c.analyte = r.analyte AND c.months = r.age_months"
        f" AND c.day_key = CASE WHEN r.age_days < {horizon} THEN r.age_days ELSE -1 END"
        if profile.igm_cutoffs
        else ""
    )
    slip = thresholds.unit_slip
    slip_analytes = ", ".join(f"'{a.value}'" for a in slip.analytes) or "''"
    # `interpret._looks_like_unit_slip` for the analytes judged as reported with a warning (their verdict is then at
    # most provisional); the products are IEEE's on every engine, as in Python (v is far below any overflow).
    warn_analytes = ", ".join(f"'{a.value}'" for a in slip.warn_analytes) or "''"
    below = f"CAST('{float(slip.below_fraction)!r}' AS DOUBLE)"
    read_factor = f"CAST('{float(slip.read_factor)!r}' AS DOUBLE)"
    rule = thresholds.persistence
    # The core's product of two doubles (`interpret`), exact IEEE on every engine (`product`: infinite on overflow).
    implausible = f"CAST('{float(thresholds.implausible_factor.value)!r}' AS DOUBLE)"
    # A result the core sets aside (treatment on record) is not interpreted, so neither its laboratory range nor
    # a possible unit slip can change the verdict; the rules that refuse rows are `classify`'s, which read it.
    blinded_analytes = ", ".join(f"'{x.value}'" for x in BLINDED)
    low_statuses = "('low', 'absent')"
    ok_statuses = "('normal', 'high')"
    latest_igm = ", ".join(
        f"max(CASE WHEN analyte = 'IgM' AND pos = n THEN {x} END) AS igm_{name}"
        for name, x in (
            ("date", "collected"),
            ("value", "v"),
            ("limit", "low_limit"),
            ("lower", "lower"),
            ("upper", "upper"),
            ("from_lab", "CASE WHEN from_lab THEN 1 ELSE 0 END"),
            ("cmp", "cmp"),
            ("run_n", "run_n"),
        )
    )
    per_analyte = []
    for analyte in _TRACKED:
        k, a = _key(analyte), analyte.value
        per_analyte.append(
            f"max(CASE WHEN analyte = '{a}' AND pos = n THEN status END) AS {k}_status,"
            f" max(CASE WHEN analyte = '{a}' AND pos = n THEN age_days END) AS {k}_age_days,"
            f" coalesce(bool_or(analyte = '{a}' AND persistent), false) AS {k}_persistent"
        )
    low = {_key(x): f"coalesce({_key(x)}_status IN {low_statuses}, false)" for x in _TRACKED}
    ok = {_key(x): f"coalesce({_key(x)}_status IN {ok_statuses}, false)" for x in _TRACKED}
    # Results of one analyte on one day have no order, so they are made to agree (`timeline.agree_same_day`).
    day_flags = ", ".join(
        f"max(CASE WHEN own_status IN {statuses} THEN 1 ELSE 0 END)"
        f" OVER (PARTITION BY patient_id, analyte, collected) AS day_{name}"
        for name, statuses in (
            ("low", low_statuses),
            ("ok", ok_statuses),
            ("plain_low", "('low')"),
            ("normal", "('normal')"),
        )
    )
    m, g, a = "igm", "igg", "iga"
    age = (
        f"greatest(coalesce({m}_age_days, -1), coalesce({g}_age_days, -1), coalesce({a}_age_days, -1))"
        f" / CAST({_DAYS_PER_YEAR} AS DOUBLE)"
    )
    known = " + ".join(f"CASE WHEN {low[x]} OR {ok[x]} THEN 1 ELSE 0 END" for x in (m, g, a))
    subclasses = [_key(s) for s in IGG_SUBCLASSES]
    any_sub_low = " OR ".join(low[s] for s in subclasses)
    pattern = f"""CASE
      WHEN {low[g]} AND {low[a]} THEN CASE
        WHEN {m}_status = 'high' THEN '{Pattern.HYPER_IGM.value}'
        WHEN {age} > {thresholds.cvid_min_age.value} AND ({low[m]} OR {ok[m]}) THEN '{Pattern.CVID.value}'
        WHEN {low[m]} THEN '{Pattern.PANHYPOGAMMAGLOBULINAEMIA.value}'
        WHEN {ok[m]} THEN '{Pattern.HYPER_IGM.value}'
        ELSE '{Pattern.INCOMPLETE.value}' END
      WHEN {a}_status = 'absent' AND {ok[g]} AND {ok[m]} AND {age} > {thresholds.iga_deficiency_min_age.value}
        THEN '{Pattern.SELECTIVE_IGA_DEFICIENCY.value}'
      WHEN {low[m]} AND {ok[g]} AND {ok[a]} THEN '{Pattern.ISOLATED_LOW_IGM.value}'
      WHEN {ok[m]} AND {ok[g]} AND {ok[a]} THEN CASE WHEN {any_sub_low} THEN '{Pattern.IGG_SUBCLASS_ONLY.value}'
        ELSE '{Pattern.NORMAL.value}' END
      WHEN {known} < 3 AND NOT ({low[g]} OR {low[a]}) THEN '{Pattern.INCOMPLETE.value}'
      ELSE '{Pattern.OTHER.value}' END"""
    main_persistent = " AND ".join(f"(NOT {low[x]} OR {x}_persistent)" for x in (m, g, a))
    sub_persistent = " AND ".join(f"(NOT {low[s]} OR {s}_persistent)" for s in subclasses)
    all_sub_ok = " AND ".join(ok[s] for s in subclasses)
    any_sub = " OR ".join(f"{s}_status IS NOT NULL" for s in subclasses)

    def normal(x: str) -> str:
        return f"CASE WHEN {ok[x]} THEN 'met' WHEN {low[x]} THEN 'not_met' ELSE 'unknown' END"

    outcomes = {
        CriterionId.IGM_LOW: f"CASE WHEN {low[m]} THEN 'met' WHEN {ok[m]} THEN 'not_met' ELSE 'unknown' END",
        CriterionId.IGM_ABSENT: f"CASE WHEN {m}_status = 'absent' THEN 'met' WHEN {m}_status IN ('low', 'normal', 'high')"
        " THEN 'not_met' ELSE 'unknown' END",
        CriterionId.IGG_NORMAL: normal(g),
        CriterionId.IGA_NORMAL: normal(a),
        CriterionId.IGM_PERSISTENTLY_LOW: f"CASE WHEN {m}_persistent THEN 'met' WHEN {ok[m]} THEN 'not_met'"
        " ELSE 'unknown' END",
        CriterionId.IGG_SUBCLASSES_NORMAL: f"CASE WHEN {any_sub_low} THEN 'not_met' WHEN NOT ({any_sub}) THEN 'unknown'"
        f" WHEN {all_sub_ok} THEN 'met' ELSE 'unknown' END",
        CriterionId.SECONDARY_CAUSES_EXCLUDED: "CASE WHEN secondary_named THEN 'not_met' ELSE 'unknown' END",
    }
    outcome_columns = ",\n  ".join(f"{sql} AS {column(c)}" for c, sql in outcomes.items())
    # A laboratory's range states no coverage, so no z-score is read from it (`stated_z_score`).
    z = f"CASE WHEN igm_from_lab = 0 THEN {z_sql('igm_value', 'igm_cmp', 'igm_lower', 'igm_upper')} END"
    child = _add("birth", rule.child_below.months, rule.child_below.days)
    adult_end = _add("run_first", rule.min_span_adult.months, rule.min_span_adult.days)
    outdated = thresholds.result_horizon.horizon
    child_end = _add("run_first", rule.min_span_child.months, rule.min_span_child.days)
    return f"""
WITH keyed AS (
  SELECT r.patient_id, r.row_no, r.analyte, r.birth, r.collected, r.age_days, r.comparator_code AS cmp,
    r.value_mg_dl AS v, r.lab_low, r.lab_high, {from_lab} AS from_lab, i.lower_mg_dl AS set_lower,
    i.upper_mg_dl AS set_upper, i.{basis} AS set_limit, {"c.limit_mg_dl" if profile.igm_cutoffs else "NULL"} AS cutoff,
    ab.below AS absent_below,
    coalesce(f.blinded, false) AND r.analyte IN ({blinded_analytes}) AS set_aside
  FROM cohort_rows r
  JOIN {among} k ON k.patient_id = r.patient_id
  LEFT JOIN record_flags f ON f.patient_id = r.patient_id
  LEFT JOIN intervals i ON i.set_id = {literal(judged.set_id)} AND i.analyte = r.analyte AND i.sex = r.sex
    AND i.months = r.age_months AND i.day_key = CASE WHEN r.age_days < {horizon} THEN r.age_days ELSE -1 END
  {cutoff_join}
  LEFT JOIN absent ab ON ab.analyte = r.analyte
), applied AS (
  SELECT *, CASE WHEN from_lab THEN lab_low ELSE set_lower END AS lower,
    CASE WHEN from_lab THEN lab_high ELSE set_upper END AS upper, {limit} AS low_limit, {limit_in_sql} AS limit_in_sql
  FROM keyed
), truths AS (
  SELECT *,
    {_below("v", "low_limit")} AS is_low,
    CASE WHEN absent_below IS NULL THEN 0 ELSE {_below("v", "absent_below")} END AS is_absent,
    {_above("v", "upper")} AS is_high,
    (analyte IN ({slip_analytes}) AND lower > 0 AND v < {slip.below_fraction} * lower)
      OR (limit_in_sql AND {_near("v", "low_limit")}) AS needs_core,
    coalesce(v > {product("upper", implausible)}, false) AS implausible,
    coalesce(analyte IN ({warn_analytes}) AND lower > 0 AND v < {below} * lower
      AND lower <= v * {read_factor} AND v * {read_factor} <= upper, false) AS slip_warned
  FROM applied
), own AS (
  SELECT *,
    CASE WHEN low_limit IS NULL THEN 'no_interval'
      WHEN is_absent = 1 AND is_low <> 0 THEN 'absent' WHEN is_low = 1 THEN 'low'
      WHEN is_low = -1 THEN 'indeterminate' WHEN is_high = 1 THEN 'high' ELSE 'normal' END AS own_status
  FROM truths WHERE NOT set_aside
), days AS (
  SELECT *, {day_flags}
  FROM own
), statuses AS (
  SELECT *,
    CASE WHEN day_low = 1 AND day_ok = 1 AND own_status IN ('low', 'absent', 'normal', 'high') THEN 'indeterminate'
      WHEN own_status = 'absent' AND day_plain_low = 1 THEN 'low'
      WHEN own_status = 'high' AND day_normal = 1 THEN 'normal' ELSE own_status END AS status,
    row_number() OVER (PARTITION BY patient_id, analyte ORDER BY collected, row_no) AS pos,
    count(*) OVER (PARTITION BY patient_id, analyte) AS n
  FROM days
), marks AS (
  SELECT *,
    coalesce(max(CASE WHEN status IN {ok_statuses} THEN pos END) OVER (PARTITION BY patient_id, analyte), 0)
      AS last_ok,
    max(CASE WHEN pos = n THEN collected END) OVER (PARTITION BY patient_id, analyte) AS last_date,
    max(CASE WHEN pos = n THEN status END) OVER (PARTITION BY patient_id, analyte) AS last_status
  FROM statuses
), runs AS (
  SELECT *,
    count(CASE WHEN pos > last_ok AND status IN {low_statuses} THEN 1 END)
      OVER (PARTITION BY patient_id, analyte) AS run_n,
    min(CASE WHEN pos > last_ok AND status IN {low_statuses} THEN collected END)
      OVER (PARTITION BY patient_id, analyte) AS run_first,
    max(CASE WHEN pos > last_ok AND status IN {low_statuses} THEN collected END)
      OVER (PARTITION BY patient_id, analyte) AS run_last
  FROM marks
), persisted AS (
  SELECT *,
    last_status NOT IN {ok_statuses} AND run_n >= {rule.min_low_results}
      AND run_last >= CASE WHEN last_date < {child} THEN {child_end} ELSE {adult_end} END AS persistent
  FROM runs
), patients AS (
  SELECT patient_id, bool_or(needs_core) AS needs_core,
    coalesce(bool_or(pos = n AND (implausible OR slip_warned)), false) AS latest_unit_doubt,
    count(CASE WHEN analyte = 'IgM' AND status IN {low_statuses} THEN 1 END) AS low_igm_results,
    min(CASE WHEN analyte = 'IgM' AND status IN {low_statuses} THEN collected END) AS index_date, {latest_igm},
    max(CASE WHEN analyte = 'IgG' AND pos = n THEN collected END) AS igg_date,
    max(CASE WHEN analyte = 'IgA' AND pos = n THEN collected END) AS iga_date,
    {", ".join(per_analyte)}
  FROM persisted GROUP BY patient_id
), patterned AS (
  SELECT p.*, {pattern} AS pattern, coalesce(f.secondary_named, false) AS secondary_named
  FROM patients p LEFT JOIN record_flags f ON f.patient_id = p.patient_id
)
SELECT patient_id, needs_core, low_igm_results, pattern, igm_status, latest_unit_doubt,
  coalesce({g}_status = 'high' OR {a}_status = 'high', false) AS others_raised,
  coalesce(igm_date > {_add("igg_date", outdated.months, outdated.days)}, false)
    OR coalesce(igm_date > {_add("iga_date", outdated.months, outdated.days)}, false) AS others_outdated,
  {main_persistent} AND (pattern <> '{Pattern.IGG_SUBCLASS_ONLY.value}' OR ({sub_persistent})) AS abnormal_persistent,
  {outcome_columns},
  {igm_course_sql(low_statuses, ok_statuses)} AS igm_course, igm_date AS latest_igm_date,
  igm_value AS latest_igm_mg_dl, igm_limit AS latest_igm_limit_mg_dl, index_date,
  {z if stated else "CAST(NULL AS DOUBLE)"} AS latest_igm_z
FROM patterned
"""


def igm_course_sql(low_statuses: str, ok_statuses: str) -> str:
    """`sigmd.core.course.igm_course` of a judged patient, from its IgM columns."""
    return (
        f"CASE WHEN igm_persistent THEN '{IgmCourse.PERSISTENT.value}'"
        f" WHEN igm_status IN {ok_statuses} AND low_igm_results > 0 THEN '{IgmCourse.NORMALISED.value}'"
        f" WHEN igm_status IS NULL OR igm_status IN {ok_statuses} THEN '{IgmCourse.NEVER_LOW.value}'"
        f" WHEN igm_status NOT IN {low_statuses} THEN '{IgmCourse.NOT_JUDGED.value}'"
        f" WHEN igm_run_n <= 1 THEN '{IgmCourse.SINGLE_LOW.value}' ELSE '{IgmCourse.LOW_NOT_YET_PERSISTENT.value}' END"
    )


def z_sql(value: str, comparator: str, lower: str, upper: str) -> str:
    """`LogNormalFit.z_score` of an exact value against an interval [lower, upper] read as central 95%, as
    `stated_z_score` gives it (NULL for a censored value, an interval that gives no fit or a value of 0)."""
    mu = f"(ln({lower}) + ln({upper})) / 2"
    sigma = f"(ln({upper}) - ln({lower})) / (2 * {NORMAL_Z!r})"
    return (
        f"CASE WHEN {comparator} = '=' AND {value} > 0 AND {lower} > 0 AND {upper} > {lower}"
        f" THEN (ln({value}) - {mu}) / ({sigma}) END"
    )


def igm_points_sql(judged: Pass, knowledge: Knowledge, horizon: int) -> str:
    """(patient_id, age in years, IgM mg/dL, limit, low) for the IgM rows of `cohort`, as `Funnel.igm_points`."""
    body = judge_sql(judged, knowledge, horizon)
    rows = body.split("), patients AS (")[0]
    return (
        f"{rows})\nSELECT patient_id, row_no, CAST(age_days AS DOUBLE) / {_DAYS_PER_YEAR} AS age_years, v AS value_mg_dl, low_limit,"
        f" status IN ('low', 'absent') AS low FROM statuses WHERE analyte = 'IgM'"
    )


class Judgement(NamedTuple):
    """One criterion as `decide` reads it."""

    id: CriterionId
    role: Role
    outcome: Outcome
    if_not_met: Label | None


DECISION_KEY = (
    "pattern",
    "igm_status",
    "abnormal_persistent",
    "latest_unit_doubt",
    "others_raised",
    "others_outdated",
    *(column(c) for c in CRITERIA_SETWISE),
)
"""The columns of a judged patient that `decide` reads: one combination per distinct row."""


def decisions(
    profile: RuleProfile, knowledge: Knowledge, combinations: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The core's decision for each distinct combination: the combination's columns plus label and certainty."""
    specs = (*profile.criteria, _form_spec(knowledge))
    answers = []
    for combination in combinations:
        outcomes = {c: Outcome(combination[column(c)]) for c in CRITERIA_SETWISE}
        judged: Sequence[Judgement] = [
            Judgement(s.id, s.role, outcomes.get(s.id, Outcome.UNKNOWN), s.if_not_met) for s in specs
        ]
        status = combination["igm_status"]
        decision = decide(
            Pattern(combination["pattern"]),
            judged,
            None if status is None else Status(status),
            bool(combination["abnormal_persistent"]),
            bool(combination["latest_unit_doubt"]),
            bool(combination["others_raised"]),
            bool(combination["others_outdated"]),
        )
        answers.append({**combination, "label": decision.label.value, "certainty": decision.certainty.value})
    return answers


def _form_spec(knowledge: Knowledge) -> Any:
    from sigmd.core.assessment import form_criterion

    return form_criterion(knowledge)


def criterion_outcomes(profile: RuleProfile, knowledge: Knowledge, row: dict[str, Any]) -> dict[CriterionId, str]:
    """Every criterion of the profile (and the form criterion) with its outcome for one judged patient."""
    specs = (*profile.criteria, _form_spec(knowledge))
    return {s.id: row[column(s.id)] if s.id in CRITERIA_SETWISE else Outcome.UNKNOWN.value for s in specs}
