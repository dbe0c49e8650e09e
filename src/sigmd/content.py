"""Strict loaders for the clinical content in `sigmd/data`.

Every file is checked as it is read: unknown keys, missing keys and unknown source ids are
errors naming the file and the entry, so a threshold without a source cannot ship.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from sigmd.core.ages import AgeSpec
from sigmd.core.context import ContextRule, ContextRules, Direction, Modifier
from sigmd.core.intervals import AgeCoverage, ReferenceInterval, ReferenceSet, SexScope, apply_coverage
from sigmd.core.knowledge import (
    Advice,
    AgeCutoff,
    CriterionId,
    CriterionSpec,
    FeatureRules,
    FollowUpRule,
    InterferenceRule,
    Knowledge,
    Label,
    LowLimitBasis,
    PersistenceRule,
    RecurrenceRule,
    ResultHorizon,
    Role,
    RuleProfile,
    SecondaryCause,
    Threshold,
    Thresholds,
    TrendRule,
    UnitSlipRule,
    VaccineRules,
    VaccineRuleSet,
)
from sigmd.core.model import Analyte
from sigmd.core.provenance import Source
from sigmd.core.published import PublishedFigure
from sigmd.core.rules import CRITERIA
from sigmd.core.units import UnitDef, UnitTable

DATA_FILES = (
    "sources.toml",
    "units.toml",
    "analytes.toml",
    "thresholds.toml",
    "profiles.toml",
    "reference_sets.toml",
    "reference_intervals.csv",
    "secondary_causes.toml",
    "context_rules.toml",
    "advice.toml",
    "vaccine_rules.toml",
    "clinical_features.toml",
    "diagnosis_codes.toml",
    "published_prevalence.toml",
)
INTERVAL_COLUMNS = [
    "set_id",
    "analyte",
    "sex",
    "age_from",
    "age_to",
    "lower",
    "upper",
    "unit",
    "source_id",
    "gap_fill",
    "note",
]


class ContentError(ValueError):
    """A data file breaks its schema."""


def _read(name: str) -> str:
    return resources.files("sigmd.data").joinpath(name).read_text(encoding="utf-8")


def _toml(name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(_read(name))
    except tomllib.TOMLDecodeError as error:
        raise ContentError(f"{name}: {error}") from error


class _Entry:
    """A mapping read from a data file that must use every key it is given, and only known keys."""

    def __init__(
        self, where: str, data: Mapping[str, Any], required: set[str], optional: frozenset[str] | set[str] = frozenset()
    ) -> None:
        if not isinstance(data, Mapping):
            raise ContentError(f"{where}: expected a table, got {data!r}")
        unknown = set(data) - required - optional
        if unknown:
            raise ContentError(f"{where}: unknown key(s) {sorted(unknown)}")
        missing = required - set(data)
        if missing:
            raise ContentError(f"{where}: missing key(s) {sorted(missing)}")
        self.where = where
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def _source(sources: dict[str, Source], where: str, source_id: str) -> Source:
    if source_id not in sources:
        raise ContentError(f"{where}: unknown source id {source_id!r}")
    return sources[source_id]


def _schema(where: str, data: Mapping[str, Any]) -> None:
    if data.get("schema_version") != 1:
        raise ContentError(f"{where}: schema_version must be 1, got {data.get('schema_version')!r}")


def load_sources() -> dict[str, Source]:
    data = _toml("sources.toml")
    sources: dict[str, Source] = {}
    for source_id, raw in data.items():
        entry = _Entry(f"sources.toml [{source_id}]", raw, {"title"}, {"url", "note"})
        sources[source_id] = Source(
            id=source_id, title=entry["title"], url=entry.get("url", ""), note=entry.get("note", "")
        )
    return sources


def _analyte(where: str, text: str) -> Analyte:
    try:
        return Analyte(text)
    except ValueError:
        raise ContentError(f"{where}: unknown analyte {text!r}") from None


def _age(where: str, text: str) -> AgeSpec:
    try:
        return AgeSpec.parse(text)
    except ValueError as error:
        raise ContentError(f"{where}: {error}") from None


def load_units(sources: dict[str, Source]) -> UnitTable:
    data = _toml("units.toml")
    _schema("units.toml", data)
    units: list[UnitDef] = []
    for ucum, raw in data["units"].items():
        where = f"units.toml [units.{ucum!r}]"
        entry = _Entry(
            where, raw, {"aliases", "source"}, {"factor_to_mg_dl", "per_analyte_factor_to_mg_dl", "verified", "note"}
        )
        factor = entry.get("factor_to_mg_dl")
        per_analyte = {_analyte(where, k): float(v) for k, v in entry.get("per_analyte_factor_to_mg_dl", {}).items()}
        if (factor is None) == (not per_analyte):
            raise ContentError(f"{where}: give exactly one of factor_to_mg_dl or per_analyte_factor_to_mg_dl")
        units.append(
            UnitDef(
                ucum=ucum,
                aliases=tuple(entry["aliases"]),
                factor_to_mg_dl=None if factor is None else float(factor),
                per_analyte_factor=per_analyte,
                source=_source(sources, where, entry["source"]),
                verified=bool(entry.get("verified", True)),
            )
        )
    return UnitTable(tuple(units))


def _threshold(sources: dict[str, Source], where: str, raw: Mapping[str, Any], value_key: str = "value") -> Threshold:
    entry = _Entry(where, raw, {value_key, "unit", "source"}, {"note"})
    return Threshold(
        float(entry[value_key]), entry["unit"], _source(sources, where, entry["source"]), entry.get("note", "")
    )


def load_thresholds(sources: dict[str, Source]) -> Thresholds:
    data = _toml("thresholds.toml")
    _schema("thresholds.toml", data)
    _Entry(
        "thresholds.toml",
        data,
        {
            "schema_version",
            "absent",
            "iga_deficiency_min_age",
            "cvid_min_age",
            "implausible_factor",
            "persistence",
            "follow_up",
            "ig_replacement",
            "anti_cd20_window",
            "igg_trend",
            "lab_range_check",
            "unit_slip",
            "raised_igm",
            "result_horizon",
            "transient_infancy",
        },
    )
    absent = {
        _analyte("thresholds.toml [absent]", name): _threshold(
            sources, f"thresholds.toml [absent.{name}]", raw, "below"
        )
        for name, raw in data["absent"].items()
    }
    where = "thresholds.toml [persistence]"
    p = _Entry(
        where,
        data["persistence"],
        {"min_low_results", "min_span_adult", "min_span_child", "child_below", "source", "note"},
    )
    return Thresholds(
        absent=absent,
        iga_deficiency_min_age=_threshold(
            sources, "thresholds.toml [iga_deficiency_min_age]", data["iga_deficiency_min_age"]
        ),
        cvid_min_age=_threshold(sources, "thresholds.toml [cvid_min_age]", data["cvid_min_age"]),
        implausible_factor=_threshold(sources, "thresholds.toml [implausible_factor]", data["implausible_factor"]),
        persistence=PersistenceRule(
            min_low_results=int(p["min_low_results"]),
            min_span_adult=_age(where, p["min_span_adult"]),
            min_span_child=_age(where, p["min_span_child"]),
            child_below=_age(where, p["child_below"]),
            source=_source(sources, where, p["source"]),
            note=p["note"],
        ),
        follow_up=_follow_up(sources, data["follow_up"]),
        interference=_interference(sources, data["ig_replacement"], data["anti_cd20_window"]),
        trend=_trend(sources, data["igg_trend"]),
        lab_range_max_ratio=_threshold(
            sources, "thresholds.toml [lab_range_check]", data["lab_range_check"], "max_ratio"
        ),
        unit_slip=_unit_slip(sources, data["unit_slip"]),
        raised_igm=_threshold(sources, "thresholds.toml [raised_igm]", data["raised_igm"]),
        result_horizon=_result_horizon(sources, data["result_horizon"]),
        transient_infancy_below=_threshold(
            sources, "thresholds.toml [transient_infancy]", data["transient_infancy"], "below_age"
        ),
    )


def _unit_slip(sources: dict[str, Source], raw: Mapping[str, Any]) -> UnitSlipRule:
    where = "thresholds.toml [unit_slip]"
    e = _Entry(where, raw, {"analytes", "warn_analytes", "below_fraction", "read_factor", "read_as", "source", "note"})
    analytes = tuple(_analyte(where, name) for name in e["analytes"])
    warn_analytes = tuple(_analyte(where, name) for name in e["warn_analytes"])
    both = sorted(set(analytes) & set(warn_analytes))
    if both:
        raise ContentError(
            f"{where}: {', '.join(both)} is in analytes (not judged) and warn_analytes (judged); pick one"
        )
    return UnitSlipRule(
        analytes=analytes,
        warn_analytes=warn_analytes,
        below_fraction=float(e["below_fraction"]),
        read_factor=float(e["read_factor"]),
        read_as=e["read_as"],
        source=_source(sources, where, e["source"]),
        note=e["note"],
    )


def _result_horizon(sources: dict[str, Source], raw: Mapping[str, Any]) -> ResultHorizon:
    where = "thresholds.toml [result_horizon]"
    e = _Entry(where, raw, {"horizon", "source", "note"})
    return ResultHorizon(_age(where, e["horizon"]), _source(sources, where, e["source"]), e["note"])


def _follow_up(sources: dict[str, Source], raw: Mapping[str, Any]) -> FollowUpRule:
    where = "thresholds.toml [follow_up]"
    e = _Entry(where, raw, {"short", "long", "source", "note"})
    return FollowUpRule(
        _age(where, e["short"]), _age(where, e["long"]), _source(sources, where, e["source"]), e["note"]
    )


def _interference(sources: dict[str, Source], ig: Mapping[str, Any], cd20: Mapping[str, Any]) -> InterferenceRule:
    where = "thresholds.toml [ig_replacement]"
    e = _Entry(where, ig, {"terms", "atc", "washout", "source", "washout_source", "note"})
    cwhere = "thresholds.toml [anti_cd20_window]"
    c = _Entry(cwhere, cd20, {"window", "source", "note"})
    return InterferenceRule(
        ig_replacement_terms=tuple(e["terms"]),
        ig_replacement_atc=tuple(e["atc"]),
        ig_replacement_washout=_age(where, e["washout"]),
        ig_replacement_source=_source(sources, where, e["source"]),
        anti_cd20_window=_age(cwhere, c["window"]),
        washout_source=_source(sources, where, e["washout_source"]),
        note=f"{e['note']} {c['note']}",
    )


def _trend(sources: dict[str, Source], raw: Mapping[str, Any]) -> TrendRule:
    where = "thresholds.toml [igg_trend]"
    e = _Entry(where, raw, {"z_drop", "source", "note"})
    return TrendRule(float(e["z_drop"]), _source(sources, where, e["source"]), e["note"])


def load_vaccine_rules(sources: dict[str, Source]) -> VaccineRules:
    data = _toml("vaccine_rules.toml")
    _schema("vaccine_rules.toml", data)
    top = _Entry(
        "vaccine_rules.toml",
        data,
        {
            "schema_version",
            "default",
            "ppsv23_serotypes",
            "ppsv23_source",
            "min_age",
            "min_age_source",
            "min_age_note",
            "rule_sets",
        },
    )
    sets: dict[str, VaccineRuleSet] = {}
    for set_id, raw in data["rule_sets"].items():
        where = f"vaccine_rules.toml [rule_sets.{set_id}]"
        e = _Entry(
            where,
            raw,
            {
                "name",
                "source",
                "protective_ug_ml",
                "young_below",
                "adequate_fraction_young",
                "adequate_fraction_older",
                "severe_max_protective",
                "fold_rise",
                "memory_window",
                "note",
            },
            {"classify_by", "good_fold_rise"},
        )
        classify_by = e.get("classify_by", "protection")
        if classify_by not in ("protection", "fold_rise"):
            raise ContentError(f"{where}: classify_by must be protection or fold_rise, got {classify_by!r}")
        sets[set_id] = VaccineRuleSet(
            id=set_id,
            name=e["name"],
            source=_source(sources, where, e["source"]),
            protective_ug_ml=float(e["protective_ug_ml"]),
            young_below=_age(where, e["young_below"]),
            adequate_fraction_young=float(e["adequate_fraction_young"]),
            adequate_fraction_older=float(e["adequate_fraction_older"]),
            severe_max_protective=int(e["severe_max_protective"]),
            fold_rise=float(e["fold_rise"]),
            memory_window=_age(where, e["memory_window"]),
            classify_by=classify_by,
            good_fold_rise=float(e["good_fold_rise"]) if "good_fold_rise" in e.data else None,
            note=e["note"],
        )
    if top["default"] not in sets:
        raise ContentError(f"vaccine_rules.toml: default rule set {top['default']!r} is not defined")
    return VaccineRules(
        default=top["default"],
        rule_sets=sets,
        ppsv23_serotypes=tuple(top["ppsv23_serotypes"]),
        ppsv23_source=_source(sources, "vaccine_rules.toml", top["ppsv23_source"]),
        min_age=_age("vaccine_rules.toml", top["min_age"]),
        min_age_source=_source(sources, "vaccine_rules.toml", top["min_age_source"]),
        min_age_note=top["min_age_note"],
    )


def load_feature_rules(sources: dict[str, Source]) -> FeatureRules:
    data = _toml("clinical_features.toml")
    _schema("clinical_features.toml", data)
    top = _Entry(
        "clinical_features.toml",
        data,
        {
            "schema_version",
            "infection_types",
            "invasive_infections",
            "allergy_types",
            "autoimmune_conditions",
            "source",
            "note",
            "recurrent",
            "autoimmune_terms",
        },
    )
    where = "clinical_features.toml [recurrent]"
    r = _Entry(
        where,
        data["recurrent"],
        {"window", "respiratory_types", "respiratory_min", "pneumonia_min", "any_invasive", "source", "note"},
    )
    terms = {kind: tuple(t.lower() for t in values) for kind, values in data["autoimmune_terms"].items()}
    unknown = set(terms) - set(top["autoimmune_conditions"])
    if unknown:
        raise ContentError(f"clinical_features.toml [autoimmune_terms]: unknown condition(s) {sorted(unknown)}")
    return FeatureRules(
        infection_types=tuple(top["infection_types"]),
        invasive_infections=tuple(top["invasive_infections"]),
        allergy_types=tuple(top["allergy_types"]),
        autoimmune_conditions=tuple(top["autoimmune_conditions"]),
        autoimmune_terms=terms,
        recurrence=RecurrenceRule(
            window=_age(where, r["window"]),
            respiratory_types=tuple(r["respiratory_types"]),
            respiratory_min=int(r["respiratory_min"]),
            pneumonia_min=int(r["pneumonia_min"]),
            any_invasive=bool(r["any_invasive"]),
            source=_source(sources, where, r["source"]),
            note=r["note"],
        ),
        source=_source(sources, "clinical_features.toml", top["source"]),
    )


def load_profiles(sources: dict[str, Source]) -> tuple[dict[str, RuleProfile], str]:
    data = _toml("profiles.toml")
    _schema("profiles.toml", data)
    profiles: dict[str, RuleProfile] = {}
    for profile_id, raw in data["profiles"].items():
        where = f"profiles.toml [profiles.{profile_id}]"
        entry = _Entry(
            where,
            raw,
            {"name", "version", "source", "description", "low_limit", "criteria"},
            {"igm_cutoffs", "cutoff_source"},
        )
        criteria: list[CriterionSpec] = []
        for criterion_id, craw in entry["criteria"].items():
            cwhere = f"{where} criteria.{criterion_id}"
            if criterion_id not in CRITERIA:
                raise ContentError(f"{cwhere}: no criterion with id {criterion_id!r} (known: {sorted(CRITERIA)})")
            criterion_id = CriterionId(criterion_id)
            c = _Entry(cwhere, craw, {"role", "requirement", "source"}, {"if_not_met"})
            try:
                role = Role(c["role"])
                if_not_met = Label(c["if_not_met"]) if c.get("if_not_met") else None
            except ValueError as error:
                raise ContentError(f"{cwhere}: {error}") from None
            if role is Role.CONFIRM and criterion_id is not CriterionId.IGM_PERSISTENTLY_LOW and if_not_met is None:
                raise ContentError(f"{cwhere}: a confirm criterion other than persistence needs if_not_met")
            criteria.append(
                CriterionSpec(criterion_id, role, c["requirement"], _source(sources, cwhere, c["source"]), if_not_met)
            )
        cutoffs = []
        for index, craw in enumerate(entry.get("igm_cutoffs", [])):
            cwhere = f"{where} igm_cutoffs[{index}]"
            c = _Entry(cwhere, craw, {"from", "to", "below_mg_dl", "published"}, {"age_basis"})
            cutoffs.append(
                AgeCutoff(
                    _age(cwhere, c["from"]),
                    _age(cwhere, c["to"]),
                    float(c["below_mg_dl"]),
                    c["published"],
                    c.get("age_basis", ""),
                )
            )
        if cutoffs and "cutoff_source" not in entry.data:
            raise ContentError(f"{where}: igm_cutoffs need a cutoff_source")
        try:
            low_limit = LowLimitBasis(entry["low_limit"])
        except ValueError:
            raise ContentError(f"{where}: unknown low_limit {entry['low_limit']!r}") from None
        profiles[profile_id] = RuleProfile(
            id=profile_id,
            name=entry["name"],
            version=entry["version"],
            description=entry["description"],
            source=_source(sources, where, entry["source"]),
            low_limit=low_limit,
            igm_cutoffs=tuple(cutoffs),
            cutoff_source=_source(sources, where, entry["cutoff_source"]) if cutoffs else None,
            criteria=tuple(criteria),
        )
        if profiles[profile_id].criterion(CriterionId.IGM_LOW) is None:
            raise ContentError(f"{where}: every profile needs the igm_low criterion")
    default = data.get("default")
    if default not in profiles:
        raise ContentError(f"profiles.toml: default profile {default!r} is not defined")
    return profiles, default


def _coverage(sources: dict[str, Source], where: str, raw: Mapping[str, Any]) -> tuple[AgeCoverage, ...]:
    e = _Entry(where, raw, {"ages", "source", "note"})
    source = _source(sources, where, e["source"])
    return tuple(
        AgeCoverage(_analyte(where, name), _age(f"{where} ages.{name}", age), source, e["note"])
        for name, age in e["ages"].items()
    )


def load_reference_sets(sources: dict[str, Source], units: UnitTable) -> tuple[dict[str, ReferenceSet], str]:
    meta = _toml("reference_sets.toml")
    _schema("reference_sets.toml", meta)
    rows_by_set: dict[str, list[ReferenceInterval]] = {set_id: [] for set_id in meta["sets"]}
    reader = csv.DictReader(io.StringIO(_read("reference_intervals.csv")))
    if reader.fieldnames != INTERVAL_COLUMNS:
        raise ContentError(f"reference_intervals.csv: columns must be {INTERVAL_COLUMNS}, got {reader.fieldnames}")
    for line, row in enumerate(reader, start=2):
        where = f"reference_intervals.csv line {line}"
        if row["set_id"] not in rows_by_set:
            raise ContentError(f"{where}: set_id {row['set_id']!r} is not declared in reference_sets.toml")
        analyte = _analyte(where, row["analyte"])
        try:
            sex = SexScope(row["sex"])
            unit = units.find(row["unit"])
        except ValueError as error:
            raise ContentError(f"{where}: {error}") from None
        age_from, age_to = _age(where, row["age_from"]), _age(where, row["age_to"])
        if not age_from < age_to:
            raise ContentError(f"{where}: age_from {row['age_from']} is not below age_to {row['age_to']}")
        factor = unit.factor(analyte)
        lower = float(row["lower"]) * factor if row["lower"] else None
        upper = float(row["upper"]) * factor if row["upper"] else None
        if lower is not None and upper is not None and lower >= upper:
            raise ContentError(f"{where}: lower {row['lower']} is not below upper {row['upper']}")
        published = (
            f"{row['lower'] or '?'}-{row['upper'] or '?'} {unit.ucum}"
            if row["lower"]
            else f"<= {row['upper']} {unit.ucum}"
        )
        rows_by_set[row["set_id"]].append(
            ReferenceInterval(
                set_id=row["set_id"],
                analyte=analyte,
                sex=sex,
                age_from=age_from,
                age_to=age_to,
                lower_mg_dl=lower,
                upper_mg_dl=upper,
                published=published,
                source=_source(sources, where, row["source_id"]),
                gap_fill=row["gap_fill"],
                note=row["note"],
            )
        )
    sets: dict[str, ReferenceSet] = {}
    for set_id, raw in meta["sets"].items():
        where = f"reference_sets.toml [sets.{set_id}]"
        e = _Entry(
            where,
            raw,
            {"name", "version", "region", "description", "percentiles", "gap_fills", "limitations", "applies_from"},
        )
        if not rows_by_set[set_id]:
            raise ContentError(f"{where}: no rows in reference_intervals.csv")
        coverage = _coverage(sources, f"{where} applies_from", e["applies_from"])
        missing = sorted({r.analyte.value for r in rows_by_set[set_id]} - {c.analyte.value for c in coverage})
        if missing:
            raise ContentError(f"{where} applies_from: no age given for {', '.join(missing)}")
        try:
            intervals = apply_coverage(tuple(rows_by_set[set_id]), coverage)
        except ValueError as error:
            raise ContentError(f"{where} applies_from: {error}") from None
        sets[set_id] = ReferenceSet(
            id=set_id,
            name=e["name"],
            version=e["version"],
            region=e["region"],
            description=e["description"],
            percentiles=e["percentiles"],
            gap_fills=tuple(e["gap_fills"]),
            limitations=tuple(e["limitations"]),
            intervals=intervals,
            coverage=coverage,
        )
    default = meta.get("default")
    if default not in sets:
        raise ContentError(f"reference_sets.toml: default set {default!r} is not defined")
    return sets, default


def load_secondary_causes(sources: dict[str, Source]) -> tuple[SecondaryCause, ...]:
    data = _toml("secondary_causes.toml")
    _schema("secondary_causes.toml", data)
    causes = []
    for cause_id, raw in data["causes"].items():
        where = f"secondary_causes.toml [causes.{cause_id}]"
        e = _Entry(
            where,
            raw,
            {"category", "name", "mechanism", "terms", "evidence", "source", "codes_verified"},
            {"icd10", "atc", "note", "codes_need_text", "systemic_only", "local_atc"},
        )
        icd10 = tuple(e.get("icd10", ()))
        need_text = tuple(e.get("codes_need_text", ()))
        if any(code not in icd10 for code in need_text):
            raise ContentError(f"{where}: codes_need_text {list(need_text)!r} must be listed in icd10 {list(icd10)!r}")
        if e.get("local_atc") and not e.get("systemic_only", False):
            raise ContentError(f"{where}: local_atc {e['local_atc']!r} needs systemic_only = true")
        for flag in ("codes_verified", "systemic_only"):
            if not isinstance(e.get(flag, False), bool):
                raise ContentError(f"{where}: {flag} must be true or false, got {e.get(flag)!r}")
        causes.append(
            SecondaryCause(
                id=cause_id,
                category=e["category"],
                name=e["name"],
                mechanism=e["mechanism"],
                icd10_prefixes=icd10,
                atc_prefixes=tuple(e.get("atc", ())),
                terms=tuple(e["terms"]),
                evidence=e["evidence"],
                source=_source(sources, where, e["source"]),
                codes_verified=e["codes_verified"],
                codes_need_text=need_text,
                systemic_only=e.get("systemic_only", False),
                local_atc=tuple(e.get("local_atc", ())),
            )
        )
    return tuple(causes)


def load_context_rules(sources: dict[str, Source]) -> ContextRules:
    """The free-text reading rules (`context_rules.toml`); a phrase may belong to one rule only."""
    data = _toml("context_rules.toml")
    _schema("context_rules.toml", data)
    top = _Entry("context_rules.toml", data, {"schema_version", "id", "version", "source", "rules"}, {"see_also"})
    rules: list[ContextRule] = []
    seen: dict[str, str] = {}
    for rule_id, raw in top["rules"].items():
        where = f"context_rules.toml [rules.{rule_id}]"
        e = _Entry(
            where,
            raw,
            {"phrases", "modifier", "direction"},
            {"max_words", "max_words_backward", "certain_within", "crosses_commas", "nearest_only", "note", "stops"},
        )
        try:
            modifier, direction = Modifier(e["modifier"]), Direction(e["direction"])
        except ValueError:
            raise ContentError(f"{where}: unknown modifier {e['modifier']!r} or direction {e['direction']!r}") from None
        inert = modifier in (Modifier.PSEUDO, Modifier.TERMINATE)
        if inert != (direction is Direction.NONE):
            raise ContentError(
                f"{where}: direction must be none exactly for pseudo and terminate, got {direction.value!r}"
            )
        try:
            stops = frozenset(Modifier(m) for m in e.get("stops", ()))
        except ValueError:
            raise ContentError(f"{where}: stops must list known modifiers, got {e['stops']!r}") from None
        if stops and modifier is not Modifier.TERMINATE:
            raise ContentError(f"{where}: only a terminate rule may have stops, got modifier {modifier.value!r}")
        max_words, backward, certain = e.get("max_words"), e.get("max_words_backward"), e.get("certain_within")
        for name, value in (("max_words", max_words), ("max_words_backward", backward), ("certain_within", certain)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ContentError(f"{where}: {name} must be a whole number of words >= 0, got {value!r}")
        if backward is not None and direction is not Direction.BOTH:
            raise ContentError(f"{where}: max_words_backward applies to a rule of direction both only")
        if certain is not None and (inert or (max_words is not None and certain > max_words)):
            raise ContentError(f"{where}: certain_within must be within max_words, for a rule that reaches")
        phrases = tuple(" ".join(p.lower().split()) for p in e["phrases"])
        for phrase in phrases:
            if not phrase:
                raise ContentError(f"{where}: phrases must not be empty, got {e['phrases']!r}")
            if phrase in seen:
                raise ContentError(f"{where}: phrase {phrase!r} is already in rule {seen[phrase]!r}")
            seen[phrase] = rule_id
        rules.append(
            ContextRule(
                id=rule_id,
                phrases=phrases,
                modifier=modifier,
                direction=direction,
                max_words=max_words,
                max_words_backward=backward,
                certain_within=certain,
                crosses_commas=bool(e.get("crosses_commas", False)),
                nearest_only=bool(e.get("nearest_only", False)),
                note=e.get("note", ""),
                stops=stops,
            )
        )
    return ContextRules(
        id=top["id"],
        version=str(top["version"]),
        source=_source(sources, "context_rules.toml", top["source"]),
        see_also=tuple(_source(sources, "context_rules.toml", s) for s in top.get("see_also", ())),
        rules=tuple(rules),
    )


def load_advice(sources: dict[str, Source]) -> dict[str, Advice]:
    data = _toml("advice.toml")
    _schema("advice.toml", data)
    advice = {}
    for advice_id, raw in data["advice"].items():
        where = f"advice.toml [advice.{advice_id}]"
        e = _Entry(where, raw, {"kind", "text", "source"}, {"see_also"})
        if e["kind"] not in ("workup", "recommendation"):
            raise ContentError(f"{where}: kind must be workup or recommendation, got {e['kind']!r}")
        see_also = tuple(_source(sources, where, s) for s in e.get("see_also", ()))
        advice[advice_id] = Advice(advice_id, e["kind"], e["text"], _source(sources, where, e["source"]), see_also)
    return advice


def load_analytes(sources: dict[str, Source]) -> tuple[dict[str, Analyte], dict[str, Analyte]]:
    data = _toml("analytes.toml")
    _schema("analytes.toml", data)
    loinc: dict[str, Analyte] = {}
    names: dict[str, Analyte] = {}
    for name, raw in data["analytes"].items():
        where = f"analytes.toml [analytes.{name}]"
        e = _Entry(where, raw, {"loinc", "names", "source"})
        analyte = _analyte(where, name)
        _source(sources, where, e["source"])
        for code in e["loinc"]:
            loinc[code] = analyte
        for alias in (analyte.value, *e["names"]):
            names[alias.lower()] = analyte
    return loinc, names


def load_published_figures() -> tuple[PublishedFigure, ...]:
    """Published prevalence figures (`published_prevalence.toml`), each with a known source."""
    name = "published_prevalence.toml"
    data = _toml(name)
    _schema(name, data)
    sources = load_sources()
    figures = []
    keys = {"id", "form", "population", "age_band", "numerator", "denominator", "text", "source"}
    for index, raw in enumerate(data.get("figures", [])):
        entry = _Entry(f"{name} figures[{index}]", raw, keys, {"note"})
        if entry["form"] not in ("partial", "complete", "any"):
            raise ContentError(f"{entry.where}: form {entry['form']!r} is not partial, complete or any")
        if not (isinstance(entry["denominator"], int) and 0 <= entry["numerator"] <= entry["denominator"] > 0):
            raise ContentError(f"{entry.where}: needs whole numbers 0 <= numerator <= denominator, denominator > 0")
        source = _source(sources, entry.where, entry["source"])
        figures.append(
            PublishedFigure(
                id=entry["id"],
                form=entry["form"],
                population=entry["population"],
                age_band=entry["age_band"],
                numerator=entry["numerator"],
                denominator=entry["denominator"],
                text=entry["text"],
                source_title=source.title,
                source_url=source.url,
                note=entry.get("note", ""),
            )
        )
    return tuple(figures)


def ids(file: str, table: str) -> tuple[str, ...]:
    """The ids in one table of a data file (`ids("profiles.toml", "profiles")`), read without loading the rest.

    The command line shows them as closed choices in `--help`; the full loader still checks every entry.
    """
    return tuple(_toml(file).get(table, {}))


def content_version() -> str:
    """A digest of every data file: changes whenever clinical content changes."""
    digest = hashlib.sha256()
    for name in DATA_FILES:
        digest.update(name.encode())
        digest.update(_read(name).encode())
    return digest.hexdigest()[:12]


@functools.cache
def load() -> Knowledge:
    """Load and check all clinical content shipped with sigmd."""
    sources = load_sources()
    units = load_units(sources)
    profiles, default_profile = load_profiles(sources)
    sets, default_set = load_reference_sets(sources, units)
    loinc, names = load_analytes(sources)
    return Knowledge(
        content_version=content_version(),
        sources=sources,
        reference_sets=sets,
        default_reference_set=default_set,
        profiles=profiles,
        default_profile=default_profile,
        thresholds=load_thresholds(sources),
        secondary_causes=load_secondary_causes(sources),
        secondary_context=load_context_rules(sources),
        advice=load_advice(sources),
        loinc=loinc,
        analyte_names=names,
        units=units,
        vaccines=load_vaccine_rules(sources),
        features=load_feature_rules(sources),
    )
