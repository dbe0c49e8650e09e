"""The set-wise part of screening, as SQL shared by every engine.

Rows are parsed and checked as `sigmd.adapters.results.build_result` checks them; every row that
cannot be used gets a reason naming the field and the value. Used rows are matched to their
age band and compared with the age-matched low limit. A row is `not_low` only when it plainly clears
its limit; a patient whose every row is `not_low` is normal without the core, everyone else goes
to the core. The SQL never decides a diagnosis: it only sorts patients into those two groups.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigmd.core.values import VALUE_PATTERN
from sigmd.screening.bands import RELATIVE_MARGIN
from sigmd.screening.engine import Dialect

CANONICAL_COLUMNS = (
    "patient_id",
    "sex",
    "birth_date",
    "collected_date",
    "loinc",
    "value",
    "unit",
    "comparator",
    "ref_low",
    "ref_high",
)
DATE_PATTERN = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}"
NORMAL_Z = 1.959963984540054
"""The normal quantile of a central 95% interval, as `LogNormalFit` uses it."""


@dataclass(frozen=True)
class Options:
    as_of: str
    """ISO date; results collected later are rejected."""
    minus_2sd: bool
    """The profile judges against mean - 2 SD (else against the lower limit)."""
    igm_cutoffs: bool
    """The profile judges IgM against absolute cut-offs (table `cutoffs`)."""
    absent_igm_mg_dl: float


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _show(d: Dialect, column: str) -> str:
    """`'text'` as Python's repr would show a string, for reasons; `None` when missing."""
    quote = d.text("'")
    return f"coalesce({quote} || CAST({column} AS {d.string_type}) || {quote}, 'None')"


def parsed_sql(d: Dialect) -> str:
    """Every input row with its parsed fields and the first reason (if any) it cannot be used."""
    value_ok = d.matches("r.value", VALUE_PATTERN)
    low_ok = d.matches("r.ref_low", VALUE_PATTERN)
    high_ok = d.matches("r.ref_high", VALUE_PATTERN)
    sex = "lower(trim(coalesce(r.sex, '')))"
    unit_key = f"lower(replace(replace({d.strip_spaces('r.unit')}, 'µ', 'u'), 'μ', 'u'))"
    return f"""
WITH base AS (
  SELECT r.*, a.analyte,
    CASE {sex} WHEN 'f' THEN 'female' WHEN 'm' THEN 'male' WHEN 'o' THEN 'other' WHEN 'u' THEN 'unknown'
      WHEN '' THEN 'unknown' ELSE {sex} END AS sex_code,
    CASE WHEN {d.matches("r.birth_date", DATE_PATTERN)} THEN try_cast(substr(trim(r.birth_date), 1, 10) AS DATE) END AS birth,
    CASE WHEN {d.matches("r.collected_date", DATE_PATTERN)}
      THEN try_cast(substr(trim(r.collected_date), 1, 10) AS DATE) END AS collected,
    CASE WHEN {value_ok} THEN try_cast({d.extract("r.value", VALUE_PATTERN, 2)} AS DOUBLE) END AS number,
    CASE WHEN {value_ok} THEN {d.extract("r.value", VALUE_PATTERN, 1)} END AS value_symbol,
    nullif(trim(coalesce(r.comparator, '')), '') AS comparator_given,
    CASE WHEN {low_ok} THEN try_cast({d.extract("r.ref_low", VALUE_PATTERN, 2)} AS DOUBLE) END AS low_number,
    CASE WHEN {high_ok} THEN try_cast({d.extract("r.ref_high", VALUE_PATTERN, 2)} AS DOUBLE) END AS high_number,
    u.factor
  FROM raw r
  LEFT JOIN analytes a ON a.code = lower(trim(r.loinc))
  LEFT JOIN units u ON u.spelling = {unit_key} AND u.analyte = a.analyte
), symbols AS (
  SELECT *,
    CASE value_symbol WHEN '≤' THEN '<=' WHEN '≥' THEN '>=' WHEN '' THEN '=' ELSE value_symbol END AS value_comparator
  FROM base
)
SELECT row_no, patient_id, sex AS sex_given, birth_date, collected_date, loinc, value, unit, comparator, ref_low, ref_high,
  analyte, sex_code AS sex, birth, collected, coalesce(comparator_given, value_comparator) AS comparator_code,
  number * factor AS value_mg_dl, low_number * factor AS lab_low, high_number * factor AS lab_high,
  CASE
    WHEN patient_id IS NULL OR trim(patient_id) = '' THEN 'patient_id: ' || {_show(d, "patient_id")} || ' is missing'
    WHEN analyte IS NULL THEN 'loinc: ' || {_show(d, "loinc")}
      || ' is not a known analyte (use IgM, IgG, IgA, IgG1-4 or a LOINC code such as 2472-9)'
    WHEN sex_code NOT IN ('female', 'male', 'other', 'unknown')
      THEN 'sex: ' || {_show(d, "sex")} || ' is not one of female, male, other, unknown'
    WHEN birth IS NULL THEN 'birth_date: ' || {_show(d, "birth_date")} || ' is not an ISO date (YYYY-MM-DD)'
    WHEN collected IS NULL THEN 'collected_date: ' || {_show(d, "collected_date")} || ' is not an ISO date (YYYY-MM-DD)'
    WHEN number IS NULL THEN 'value: ' || {_show(d, "value")}
      || {d.text(" is not a non-negative number (expected for example 30, '<5', '< 0.05' or '>200')")}
    WHEN number >= CAST('Infinity' AS DOUBLE) THEN 'value: ' || {_show(d, "value")} || ' is not a finite number'
    WHEN comparator_given IS NOT NULL AND comparator_given NOT IN ('<', '<=', '=', '>=', '>')
      THEN 'comparator: ' || {_show(d, "comparator")} || ' is not one of <, <=, =, >=, >'
    WHEN comparator_given IS NOT NULL AND value_comparator <> '=' AND value_comparator <> comparator_given
      THEN 'comparator: ' || {_show(d, "comparator")} || ' contradicts the comparator in the value ' || {_show(d, "value")}
    WHEN factor IS NULL THEN 'unit: ' || {_show(d, "unit")} || ' is not a known unit for ' || analyte
    WHEN nullif(trim(coalesce(ref_low, '')), '') IS NOT NULL AND low_number IS NULL
      THEN 'ref_low: ' || {_show(d, "ref_low")} || ' is not a non-negative number'
    WHEN nullif(trim(coalesce(ref_high, '')), '') IS NOT NULL AND high_number IS NULL
      THEN 'ref_high: ' || {_show(d, "ref_high")} || ' is not a non-negative number'
    WHEN low_number IS NOT NULL AND high_number IS NOT NULL AND low_number >= high_number
      THEN 'ref_low: ' || {_show(d, "ref_low")} || ' is not below ref_high ' || {_show(d, "ref_high")}
    WHEN collected < birth THEN 'collected_date: ' || {_show(d, "collected_date")} || ' is before the birth date '
      || {_show(d, "birth_date")}
  END AS row_reason
FROM symbols
"""


def _covers(d: Dialect, alias: str) -> str:
    return (
        f"(CASE WHEN {alias}.from_days = 0 THEN r.age_months >= {alias}.from_months ELSE r.age_days >= {alias}.from_days END)"
        f" AND NOT (CASE WHEN {alias}.to_days = 0 THEN r.age_months >= {alias}.to_months"
        f" ELSE r.age_days >= {alias}.to_days END)"
    )


def rows_sql(d: Dialect, options: Options) -> str:
    """Parsed rows with age at collection, the patient-level reason (if any), limit and `not_low`."""
    age_days = d.days_between("birth", "collected")
    whole_months = (
        "(year(collected) - year(birth)) * 12 + month(collected) - month(birth)"
        " - CASE WHEN day(collected) < least(day(birth), day(last_day(collected))) THEN 1 ELSE 0 END"
    )
    if options.minus_2sd:
        lab_limit = (
            "CASE WHEN r.lab_high IS NOT NULL AND r.lab_low > 0 AND r.lab_low < r.lab_high THEN "
            f"exp((ln(r.lab_low) + ln(r.lab_high)) / 2 - 2 * (ln(r.lab_high) - ln(r.lab_low)) / (2 * {NORMAL_Z})) END"
        )
    else:
        lab_limit = "CASE WHEN r.lab_low > 0 THEN r.lab_low END"
    igm_rule = "WHEN r.analyte = 'IgM' THEN c.limit_mg_dl " if options.igm_cutoffs else ""
    cutoff_join = f"LEFT JOIN cutoffs c ON r.analyte = 'IgM' AND {_covers(d, 'c')}" if options.igm_cutoffs else ""
    return f"""
WITH dated AS (
  SELECT p.*,
    CASE WHEN row_reason IS NULL AND collected > DATE '{options.as_of}'
      THEN 'collected_date: ' || {_show(d, "collected_date")} || ' is after the as-of date {options.as_of}'
      ELSE row_reason END AS reason0
  FROM parsed p
), people AS (
  SELECT patient_id AS pid, count(DISTINCT birth) AS births, count(DISTINCT sex) AS sexes,
    count_if(analyte = 'IgM') AS igm_rows
  FROM dated WHERE reason0 IS NULL GROUP BY patient_id
), checked AS (
  SELECT t.*,
    CASE WHEN reason0 IS NOT NULL THEN reason0
      WHEN people.births > 1 THEN 'birth_date: ' || {_show(d, "birth_date")}
        || ' conflicts with another birth date of patient ' || {_show(d, "patient_id")}
      WHEN people.sexes > 1 THEN 'sex: ' || {_show(d, "sex_given")}
        || ' conflicts with another sex of patient ' || {_show(d, "patient_id")}
      WHEN people.igm_rows = 0 THEN 'patient_id: ' || {_show(d, "patient_id")}
        || ' has no usable IgM result on or before the as-of date; sigmd needs at least one'
    END AS reason,
    {age_days} AS age_days,
    {whole_months} AS age_months
  FROM dated t LEFT JOIN people ON people.pid = t.patient_id
), judged AS (
  SELECT r.*,
    CASE {igm_rule}WHEN r.lab_low IS NOT NULL THEN {lab_limit}
      WHEN s.analyte IS NOT NULL THEN s.limit_mg_dl ELSE b.limit_mg_dl END AS limit_mg_dl
  FROM checked r
  LEFT JOIN bands s ON r.reason IS NULL AND s.analyte = r.analyte AND s.sex = r.sex AND {_covers(d, "s")}
  LEFT JOIN bands b ON r.reason IS NULL AND b.analyte = r.analyte AND b.sex = 'any' AND {_covers(d, "b")}
  {cutoff_join}
)
SELECT *,
  coalesce(limit_mg_dl IS NOT NULL AND comparator_code IN ('=', '>', '>=')
    AND value_mg_dl >= limit_mg_dl * (1 + {RELATIVE_MARGIN}), false) AS not_low,
  coalesce(analyte = 'IgM' AND comparator_code IN ('=', '<', '<=')
    AND value_mg_dl <= {options.absent_igm_mg_dl} * (1 + {RELATIVE_MARGIN}), false) AS maybe_absent
FROM judged
"""


def patients_sql() -> str:
    """One row per screened patient: whether every result plainly clears its limit, and the stratum."""
    return """
SELECT patient_id, min(sex) AS sex, min(birth) AS birth,
  bool_and(not_low) AS all_not_low,
  count_if(analyte = 'IgG') > 0 AS has_igg, count_if(analyte = 'IgA') > 0 AS has_iga,
  max(CASE WHEN analyte = 'IgM' THEN age_months END) AS igm_age_months
FROM rows WHERE reason IS NULL GROUP BY patient_id
"""


def sensitivity_sql(d: Dialect, options: Options) -> str:
    """(set_id, patient_id, latest_may_be_low) for every patient with an IgM result that may be low under that set.

    `latest_may_be_low` says whether one of those results is on the patient's latest IgM date. Partial or
    complete SIgMD needs criterion `igm_low`, which judges the latest IgM only; so when that is false the
    core cannot call the patient deficient under the set (unless the core refuses a row the SQL accepted,
    which the core's pass checks for).
    """
    if options.minus_2sd:
        lab_limit = (
            "CASE WHEN r.lab_high IS NOT NULL AND r.lab_low > 0 AND r.lab_low < r.lab_high THEN "
            f"exp((ln(r.lab_low) + ln(r.lab_high)) / 2 - 2 * (ln(r.lab_high) - ln(r.lab_low)) / (2 * {NORMAL_Z})) END"
        )
    else:
        lab_limit = "CASE WHEN r.lab_low > 0 THEN r.lab_low END"
    limit = (
        "c.limit_mg_dl"
        if options.igm_cutoffs
        else (
            f"CASE WHEN r.lab_low IS NOT NULL THEN {lab_limit} WHEN s.analyte IS NOT NULL THEN s.limit_mg_dl "
            "ELSE b.limit_mg_dl END"
        )
    )
    cutoff_join = f"LEFT JOIN cutoffs c ON {_covers(d, 'c')}" if options.igm_cutoffs else ""
    return f"""
WITH igm AS (
  SELECT *, max(collected) OVER (PARTITION BY patient_id) AS latest_igm FROM rows WHERE reason IS NULL AND analyte = 'IgM'
),
sets AS (SELECT DISTINCT set_id FROM all_bands),
judged AS (
  SELECT sets.set_id, r.patient_id, r.collected = r.latest_igm AS on_latest, r.comparator_code, r.value_mg_dl,
    r.maybe_absent, {limit} AS limit_mg_dl
  FROM igm r CROSS JOIN sets
  LEFT JOIN all_bands s ON s.set_id = sets.set_id AND s.analyte = 'IgM' AND s.sex = r.sex AND {_covers(d, "s")}
  LEFT JOIN all_bands b ON b.set_id = sets.set_id AND b.analyte = 'IgM' AND b.sex = 'any' AND {_covers(d, "b")}
  {cutoff_join}
)
SELECT set_id, patient_id, bool_or(on_latest) AS latest_may_be_low FROM judged
WHERE maybe_absent OR (limit_mg_dl IS NOT NULL
  AND NOT (comparator_code IN ('=', '>', '>=') AND value_mg_dl >= limit_mg_dl * (1 + {RELATIVE_MARGIN})))
GROUP BY set_id, patient_id
"""
