"""The set-wise part of screening, as SQL shared by every engine.

Rows are parsed and checked as `sigmd.adapters.results.build_result` checks them; every row that
cannot be used gets a reason naming the field and the value (a CSV line that could not be read at
all carries its reason in column `delimited.LINE_PROBLEM`, which comes first). Used rows are matched
to their age key in the chosen set's interval table of `bands` (an equality join) and compared with
the age-matched low limit and upper limit.
Only the columns later stages need are kept; the input's own text is read again, by row number,
for the few rows that are rejected or go to the core. A row is `not_low` only when it plainly clears
its limit and is plausible for its unit; a patient whose every row is `not_low` is normal without further
judgement (`research.prefilter_decisions`), everyone else is judged set-wise (`setwise`) or by the core.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigmd.adapters.results import DATE_PATTERN, EARLIEST_DATE, LATEST_DATE
from sigmd.core.model import IGG_SUBCLASSES
from sigmd.core.values import VALUE_PATTERN
from sigmd.screening.bands import RELATIVE_MARGIN
from sigmd.screening.delimited import LINE_PROBLEM
from sigmd.screening.portable import (
    PLAIN_DATE,
    TWO_TO_64,
    TWO_TO_MINUS_64,
    exponential,
    extract,
    literal,
    matches,
    product,
    remove,
)

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
PLAIN_NUMBER = r"^[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?$"
"""A value that is only a number: `VALUE_PATTERN` with no comparator and no spaces."""
WHITESPACE = r"\s"
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
    set_id: str
    """The chosen reference set: its intervals (table `intervals`) give each row's limit and upper limit."""
    implausible_factor: float
    """A result above this many times the upper limit is implausible (`Interpretation.implausible`): never plainly
    normal, since it makes the core's verdict at most provisional."""
    lab_range_max_ratio: float
    """A laboratory's range decides only within this ratio of the set's limits (`lab_range_decides`)."""
    funnel_minus_2sd: bool | None = None
    """The funnel profile's basis when its limits may differ from the run's (`tables.funnel_profile`; table
    funnel_cutoffs): a plainly normal row must clear them too. None: they are the run's."""
    funnel_igm_cutoffs: bool = False


MARGIN = f"CAST('{1 + RELATIVE_MARGIN!r}' AS DOUBLE)"
"""1 + RELATIVE_MARGIN as one double on every engine (a literal each engine reads, rather than a sum of literals)."""


def _show(column: str) -> str:
    """`'text'` as Python's repr would show a string, for reasons; `None` when missing."""
    return f"coalesce('''' || CAST({column} AS VARCHAR) || '''', 'None')"


def lab_range_limit(row: str, basis: str) -> str:
    """A profile's low limit from a row's laboratory range (`interpret._low_limit`): mean - 2 SD of its log-normal
    fit, or its lower limit, by `basis`; NULL where it gives none. `row` is the row's alias ('' for none)."""
    low, high = (f"{row}.lab_low", f"{row}.lab_high") if row else ("lab_low", "lab_high")
    if basis == "minus_2sd":
        log_mean, log_sd = f"(ln({low}) + ln({high})) / 2", f"(ln({high}) - ln({low})) / (2 * {NORMAL_Z!r})"
        return (
            f"CASE WHEN {high} IS NOT NULL AND {low} > 0 AND {low} < {high}"
            f" THEN {exponential(f'{log_mean} - 2 * {log_sd}')} END"
        )
    return f"CASE WHEN {low} > 0 THEN {low} END"


def lab_range_decides(row: str, interval: str, max_ratio: float) -> str:
    """Whether a row's laboratory range decides instead of the set's interval, as the core's `interpret` chooses
    (`_choose_interval`), for a row `row` (columns lab_low, lab_high in mg/dL) beside its set interval `interval`
    (an `intervals` row, NULL where the set has none): a range with a lower limit decides unless one of its limits
    is more than `max_ratio` times off the set's; with no set interval it decides unchecked.

    Nested CASEs keep every engine from dividing before the checks (PostgreSQL may evaluate AND in any order and
    raises on overflow); a laboratory limit outside 2**-64 to 2**64 mg/dL is more than 2**32 times off any set's
    limit (`tables.LIMIT_RANGE`), so implausible, and the division is exact IEEE elsewhere."""
    ratio = repr(float(max_ratio))
    low = f"{row}.lab_low"
    off = " OR ".join(
        f"CASE WHEN {lab} > 0 AND {interval}.{ref} > 0 THEN CASE WHEN {lab} < {TWO_TO_MINUS_64} OR {lab} > {TWO_TO_64}"
        f" THEN true ELSE greatest({lab}, {interval}.{ref}) / least({lab}, {interval}.{ref}) > {ratio} END ELSE false END"
        for lab, ref in ((low, "lower_mg_dl"), (f"{row}.lab_high", "upper_mg_dl"))
    )
    return f"({low} IS NOT NULL AND NOT ({off}))"


def _key_join(table: str, alias: str, horizon: int, sex: str) -> str:
    """An equality join of rows `r` to a limit table on analyte, sex and age key (see `bands`)."""
    return (
        f"LEFT JOIN {table} {alias} ON r.row_reason IS NULL AND {alias}.analyte = r.analyte AND {alias}.sex = {sex}"
        f" AND {alias}.months = r.age_months"
        f" AND {alias}.day_key = CASE WHEN r.age_days < {horizon} THEN r.age_days ELSE -1 END"
    )


def _date_part(text: str) -> str:
    """The date part of `DATE_PATTERN` in `text`, as `extract` gives it ('' when it does not match).

    A plain date (`PLAIN_DATE`: no time, no white space) is its own date part, and a pattern this simple costs far
    less than the full one (on PostgreSQL about 6 s per million rows), so it is tried first; `test_transpile`
    checks the result against the core's reading of dates."""
    return f"CASE WHEN {matches(text, PLAIN_DATE)} THEN {text} ELSE {extract(text, DATE_PATTERN, 1)} END"


def _iso_date(part: str) -> str:
    """The date of a `DATE_PATTERN` date part ('' when there is none: NULL).

    Year 0000 is not a date, as for the core's `parse_date` (Python has no year 0), so it is NULL too: "not an ISO
    date", the core's words. The engines would disagree on it anyway (DuckDB reads 1 BC, Spark year 0, PostgreSQL
    nothing)."""
    return f"try_cast(CASE WHEN substr({part}, 1, 4) <> '0000' THEN nullif({part}, '') END AS DATE)"


def _funnel_limits(options: Options, horizon: int) -> tuple[str, str]:
    """The joins and the condition by which a row also clears every limit the funnel profile could judge it by (its
    set limit, from the chosen set's interval `s`; the limit from the laboratory's range under its basis; its IgM
    cut-off): ('', '') when its limits are the run's. A row that clears all of them is not low under the funnel
    profile, whichever the core picks."""
    if options.funnel_minus_2sd is None:
        return "", ""
    basis = "minus_2sd" if options.funnel_minus_2sd else "lower_limit"
    candidates = [f"s.{basis}", lab_range_limit("r", basis)]
    joins = ""
    if options.funnel_igm_cutoffs:
        joins += f"\n  {_key_join('funnel_cutoffs', 'fc', horizon, chr(39) + 'any' + chr(39))}"
        candidates.append("CASE WHEN r.analyte = 'IgM' THEN fc.limit_mg_dl END")
    clear = " AND ".join(f"coalesce(r.value_mg_dl >= {product(f'({c})', MARGIN)}, true)" for c in candidates)
    return joins, clear


def rows_sql(options: Options, horizon: int) -> str:
    """One narrow row per input row: parsed fields, age, the first reason it cannot be used, limit and `not_low`."""
    value_ok = matches("r.value", VALUE_PATTERN)
    # Most values and limits are a bare number: read those directly rather than through the pattern's groups (same
    # result; on PostgreSQL the pattern costs about 20 µs a row).
    plain = matches("r.value", PLAIN_NUMBER)
    low_plain = matches("r.ref_low", PLAIN_NUMBER)
    high_plain = matches("r.ref_high", PLAIN_NUMBER)
    low_ok = matches("r.ref_low", VALUE_PATTERN)
    high_ok = matches("r.ref_high", VALUE_PATTERN)
    sex = "lower(trim(coalesce(r.sex, '')))"
    unit_key = f"lower(replace(replace({remove('r.unit', WHITESPACE)}, 'µ', 'u'), 'μ', 'u'))"
    whole_months = (
        "(year(collected) - year(birth)) * 12 + month(collected) - month(birth)"
        " - CASE WHEN day(collected) < least(day(birth), day(last_day(collected))) THEN 1 ELSE 0 END"
    )
    igm_rule = "WHEN r.analyte = 'IgM' THEN c.limit_mg_dl " if options.igm_cutoffs else ""
    dates = f"DATE '{EARLIEST_DATE.isoformat()}' AND DATE '{LATEST_DATE.isoformat()}'"
    infinity = "CAST('Infinity' AS DOUBLE)"
    outside = literal(f" is outside the dates sigmd reads ({EARLIEST_DATE} to {LATEST_DATE})")
    cutoff_join = _key_join("cutoffs", "c", horizon, "'any'") if options.igm_cutoffs else ""
    absent = f"CAST('{options.absent_igm_mg_dl * (1 + RELATIVE_MARGIN)!r}' AS DOUBLE)"
    funnel_join, funnel_clear = _funnel_limits(options, horizon)
    funnel_clear = f"\n      AND {funnel_clear}" if funnel_clear else ""
    basis = "minus_2sd" if options.minus_2sd else "lower_limit"
    # A row is plausible when it is at most the implausible factor times the upper limit the core judges it by (the
    # laboratory's when its range decides, else the set's), less RELATIVE_MARGIN: the set-wise pass judges the rest.
    ceiling = f"CAST('{options.implausible_factor * (1 - RELATIVE_MARGIN)!r}' AS DOUBLE)"
    from_lab = lab_range_decides("r", "s", options.lab_range_max_ratio)
    return f"""
WITH dated AS (
  SELECT r.*, {_date_part("r.birth_date")} AS birth_part, {_date_part("r.collected_date")} AS collected_part,
    {plain} AS value_plain
  FROM raw r
), base AS (
  SELECT r.*, a.analyte,
    CASE {sex} WHEN 'f' THEN 'female' WHEN 'm' THEN 'male' WHEN 'o' THEN 'other' WHEN 'u' THEN 'unknown'
      WHEN '' THEN 'unknown' ELSE {sex} END AS sex_code,
    {_iso_date("r.birth_part")} AS birth,
    {_iso_date("r.collected_part")} AS collected,
    CASE WHEN r.value_plain THEN try_cast(r.value AS DOUBLE)
      WHEN {value_ok} THEN try_cast({extract("r.value", VALUE_PATTERN, 2)} AS DOUBLE) END AS number,
    CASE WHEN r.value_plain THEN '' WHEN {value_ok} THEN {extract("r.value", VALUE_PATTERN, 1)} END AS value_symbol,
    nullif(trim(coalesce(r.comparator, '')), '') AS comparator_given,
    CASE WHEN {low_plain} THEN try_cast(r.ref_low AS DOUBLE)
      WHEN {low_ok} THEN try_cast({extract("r.ref_low", VALUE_PATTERN, 2)} AS DOUBLE) END AS low_number,
    CASE WHEN {high_plain} THEN try_cast(r.ref_high AS DOUBLE)
      WHEN {high_ok} THEN try_cast({extract("r.ref_high", VALUE_PATTERN, 2)} AS DOUBLE) END AS high_number,
    u.factor
  FROM dated r
  LEFT JOIN analytes a ON a.code = lower(trim(r.loinc))
  LEFT JOIN units u ON u.spelling = {unit_key} AND u.analyte = a.analyte
), symbols AS (
  SELECT *,
    CASE value_symbol WHEN '≤' THEN '<=' WHEN '≥' THEN '>=' WHEN '' THEN '=' ELSE value_symbol END AS value_comparator,
    {product("number", "factor")} AS value_mg_dl,
    {product("low_number", "factor")} AS lab_low,
    {product("high_number", "factor")} AS lab_high
  FROM base
), parsed AS (
  SELECT row_no, trim(patient_id) AS patient_id, analyte, sex_code AS sex, birth, collected,
    coalesce(comparator_given, value_comparator) AS comparator_code, value_mg_dl, lab_low, lab_high,
    CASE
      WHEN {LINE_PROBLEM} IS NOT NULL THEN {LINE_PROBLEM}
      WHEN patient_id IS NULL OR trim(patient_id) = '' THEN 'patient_id: ' || {_show("patient_id")} || ' is missing'
      WHEN analyte IS NULL THEN 'loinc: ' || {_show("loinc")}
        || ' is not a known analyte (use IgM, IgG, IgA, IgG1-4 or a LOINC code such as 2472-9)'
      WHEN sex_code NOT IN ('female', 'male', 'other', 'unknown')
        THEN 'sex: ' || {_show("sex")} || ' is not one of female, male, other, unknown'
      WHEN birth IS NULL THEN 'birth_date: ' || {_show("birth_date")} || ' is not an ISO date (YYYY-MM-DD)'
      WHEN NOT birth BETWEEN {dates} THEN 'birth_date: ' || {_show("birth_date")} || {outside}
      WHEN collected IS NULL THEN 'collected_date: ' || {_show("collected_date")} || ' is not an ISO date (YYYY-MM-DD)'
      WHEN NOT collected BETWEEN {dates} THEN 'collected_date: ' || {_show("collected_date")} || {outside}
      WHEN number IS NULL THEN 'value: ' || {_show("value")}
        || {literal(" is not a non-negative number (expected for example 30, '<5', '< 0.05' or '>200')")}
      WHEN number >= {infinity} THEN 'value: ' || {_show("value")} || ' is not a finite number'
      WHEN comparator_given IS NOT NULL AND comparator_given NOT IN ('<', '<=', '=', '>=', '>')
        THEN 'comparator: ' || {_show("comparator")} || ' is not one of <, <=, =, >=, >'
      WHEN comparator_given IS NOT NULL AND value_comparator <> '=' AND value_comparator <> comparator_given
        THEN 'comparator: ' || {_show("comparator")} || ' contradicts the comparator in the value ' || {_show("value")}
      WHEN factor IS NULL THEN 'unit: ' || {_show("unit")} || ' is not a known unit for ' || analyte
      WHEN nullif(trim(coalesce(ref_low, '')), '') IS NOT NULL AND low_number IS NULL
        THEN 'ref_low: ' || {_show("ref_low")} || ' is not a non-negative number'
      WHEN nullif(trim(coalesce(ref_high, '')), '') IS NOT NULL AND high_number IS NULL
        THEN 'ref_high: ' || {_show("ref_high")} || ' is not a non-negative number'
      WHEN low_number >= {infinity} THEN 'ref_low: ' || {_show("ref_low")} || ' is not a finite number'
      WHEN high_number >= {infinity} THEN 'ref_high: ' || {_show("ref_high")} || ' is not a finite number'
      WHEN low_number IS NOT NULL AND high_number IS NOT NULL AND low_number >= high_number
        THEN 'ref_low: ' || {_show("ref_low")} || ' is not below ref_high ' || {_show("ref_high")}
      WHEN value_mg_dl >= {infinity} THEN 'value: ' || {_show("value")} || ' is too large a number: in mg/dL it is inf'
      WHEN lab_low >= {infinity} OR lab_high >= {infinity}
        THEN 'ref_low: ' || {_show("ref_low")} || ' or ref_high ' || {_show("ref_high")}
        || ' is too large a number once converted to mg/dL'
      WHEN collected < birth THEN 'collected_date: ' || {_show("collected_date")} || ' is before the birth date '
        || {_show("birth_date")}
      WHEN collected > DATE '{options.as_of}'
        THEN 'collected_date: ' || {_show("collected_date")} || ' is after the as-of date {options.as_of}'
    END AS row_reason
  FROM symbols
), aged AS (
  SELECT *, date_diff('day', birth, collected) AS age_days, {whole_months} AS age_months FROM parsed
), judged AS (
  SELECT r.*, {lab_range_limit("r", basis)} AS lab_limit_mg_dl,
    CASE WHEN r.row_reason IS NOT NULL THEN NULL {igm_rule}WHEN r.lab_low IS NOT NULL
      THEN CASE WHEN {lab_range_limit("r", basis)} IS NOT NULL
        THEN greatest({lab_range_limit("r", basis)}, coalesce(s.{basis}, {lab_range_limit("r", basis)})) END
      ELSE s.{basis} END AS limit_mg_dl,
    coalesce(r.value_mg_dl <= {product(f"CASE WHEN {from_lab} THEN r.lab_high ELSE s.upper_mg_dl END", ceiling)}, true)
      {funnel_clear} AS clear
  FROM aged r
  {_key_join("intervals", "s", horizon, "r.sex")} AND s.set_id = {literal(options.set_id)}
  {cutoff_join}{funnel_join}
)
SELECT *,
  coalesce(limit_mg_dl IS NOT NULL AND comparator_code IN ('=', '>', '>=')
    AND value_mg_dl >= {product("limit_mg_dl", MARGIN)}, false) AND clear AS not_low,
  coalesce(analyte = 'IgM' AND comparator_code IN ('=', '<', '<=') AND value_mg_dl <= {absent}, false) AS maybe_absent
FROM judged
"""


ROW_SPAN = 2**40
"""Row numbers are positions in the input (1 to the number of rows), so they stay below this bound; `patients_sql`
orders a patient's IgM rows by (date, row number) as one integer, days since EARLIEST_DATE * ROW_SPAN + row number
(below 2**62 for every date sigmd reads)."""


def patients_sql() -> str:
    """One row per patient with a usable row: the patient-level problem (if any), whether every result plainly
    clears its limit, the stratum, the latest IgM row (the last of the latest date, by row number) and how many
    IgG subclasses were measured. A patient with a problem is rejected whole: two birth dates, two sexes, or no
    usable IgM result."""
    key = (
        f"CAST(date_diff('day', DATE '{EARLIEST_DATE.isoformat()}', collected) AS BIGINT) * {ROW_SPAN}"
        " + CAST(row_no AS BIGINT)"
    )
    measured = " + ".join(f"CASE WHEN count_if(analyte = '{s.value}') > 0 THEN 1 ELSE 0 END" for s in IGG_SUBCLASSES)
    return f"""
SELECT patient_id, min(sex) AS sex, min(birth) AS birth, count(*) AS used_rows,
  CASE WHEN min(birth) <> max(birth) THEN 'birth_date' WHEN min(sex) <> max(sex) THEN 'sex'
    WHEN count_if(analyte = 'IgM') = 0 THEN 'no_igm' END AS problem,
  bool_and(not_low) AS all_not_low,
  count_if(analyte = 'IgG') > 0 AS has_igg, count_if(analyte = 'IgA') > 0 AS has_iga,
  max(CASE WHEN analyte = 'IgM' THEN age_months END) AS igm_age_months,
  max(CASE WHEN analyte = 'IgM' THEN collected END) AS latest_igm,
  max(CASE WHEN analyte = 'IgM' THEN {key} END) % {ROW_SPAN} AS latest_igm_row,
  {measured} AS subclasses_measured
FROM rows WHERE row_reason IS NULL GROUP BY patient_id
"""


def rejects_sql() -> str:
    """Every input row that cannot be used, with the input's own text and the reason: its own problem, or its
    patient's (table `troubled`: patient_id, problem). The hints ask Spark to broadcast the few refused rows
    instead of sorting the whole input to join it; the other engines do without them."""
    return f"""
WITH refused AS (
  SELECT /*+ BROADCAST(t) */ r.row_no, r.row_reason, t.problem
  FROM rows r LEFT JOIN troubled t ON t.patient_id = r.patient_id
  WHERE r.row_reason IS NOT NULL OR t.problem IS NOT NULL
)
SELECT /*+ BROADCAST(x) */ raw.*, coalesce(x.row_reason, CASE x.problem
  WHEN 'birth_date' THEN 'birth_date: ' || {_show("raw.birth_date")}
    || ' conflicts with another birth date of patient ' || {_show("raw.patient_id")}
  WHEN 'sex' THEN 'sex: ' || {_show("raw.sex")} || ' conflicts with another sex of patient ' || {_show("raw.patient_id")}
  ELSE 'patient_id: ' || {_show("raw.patient_id")}
    || ' has no usable IgM result on or before the as-of date; sigmd needs at least one' END) AS reason
FROM raw JOIN refused x ON x.row_no = raw.row_no
"""


def sensitivity_sql(options: Options, horizon: int) -> str:
    """(set_id, patient_id, latest_may_be_low) for every patient with an IgM result that may be low under that set.

    `latest_may_be_low` says whether one of those results is on the patient's latest IgM date. Partial or
    complete SIgMD needs criterion `igm_low`, which judges the latest IgM only; so when that is false the
    core cannot call the patient deficient under the set (unless the core refuses a row the SQL accepted,
    which the core's pass checks for). A result judged against the profile's cut-off has the same limit under
    every set; the others take the set's limit from `igm_limits`. A laboratory's own range is used by the core
    only when it is plausible beside the set's interval, so a result with one may be low under a set when it is
    below the higher of the two limits (or below the range's limit where the set has no interval).
    """
    same_everywhere = "true" if options.igm_cutoffs else "false"
    return f"""
WITH lowest AS (SELECT max(limit_mg_dl) AS top FROM igm_limits),
igm AS (
  SELECT r.patient_id, r.sex, r.age_months, r.age_days, r.comparator_code, r.value_mg_dl, r.lab_low,
    r.lab_limit_mg_dl, r.limit_mg_dl, r.maybe_absent, r.collected = p.latest_igm AS on_latest,
    greatest((SELECT top FROM lowest), coalesce(r.limit_mg_dl, 0)) AS highest_limit
  FROM rows r JOIN patients p ON p.patient_id = r.patient_id AND p.problem IS NULL
  WHERE r.row_reason IS NULL AND r.analyte = 'IgM'
), keyed AS (
  SELECT * FROM igm WHERE maybe_absent OR comparator_code NOT IN ('=', '>', '>=')
    OR value_mg_dl < {product("highest_limit", MARGIN)}
), judged AS (
  SELECT s.set_id, k.patient_id, k.on_latest, k.maybe_absent, k.comparator_code, k.value_mg_dl, k.limit_mg_dl
  FROM keyed k CROSS JOIN reference_sets s WHERE k.maybe_absent OR {same_everywhere}
  UNION ALL
  SELECT g.set_id, k.patient_id, k.on_latest, k.maybe_absent, k.comparator_code, k.value_mg_dl, g.limit_mg_dl
  FROM keyed k JOIN igm_limits g ON g.sex = k.sex AND g.months = k.age_months
    AND g.day_key = CASE WHEN k.age_days < {horizon} THEN k.age_days ELSE -1 END
  WHERE NOT k.maybe_absent AND NOT ({same_everywhere}) AND k.lab_low IS NULL
  UNION ALL
  SELECT s.set_id, k.patient_id, k.on_latest, k.maybe_absent, k.comparator_code, k.value_mg_dl,
    CASE WHEN k.lab_limit_mg_dl IS NOT NULL
      THEN greatest(k.lab_limit_mg_dl, coalesce(g.limit_mg_dl, k.lab_limit_mg_dl)) END AS limit_mg_dl
  FROM keyed k CROSS JOIN reference_sets s LEFT JOIN igm_limits g ON g.set_id = s.set_id AND g.sex = k.sex
    AND g.months = k.age_months AND g.day_key = CASE WHEN k.age_days < {horizon} THEN k.age_days ELSE -1 END
  WHERE NOT k.maybe_absent AND NOT ({same_everywhere}) AND k.lab_low IS NOT NULL
)
SELECT set_id, patient_id, bool_or(on_latest) AS latest_may_be_low FROM judged
WHERE maybe_absent OR (limit_mg_dl IS NOT NULL
  AND NOT (comparator_code IN ('=', '>', '>=') AND value_mg_dl >= {product("limit_mg_dl", MARGIN)}))
GROUP BY set_id, patient_id
"""
