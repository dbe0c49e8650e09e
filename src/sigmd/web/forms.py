"""The result-entry form: its fields become a sigmd case document, and case errors point back to a field.

The form never judges clinical content itself: it copies what was typed into the case format and lets
`sigmd.adapters.case_json.case_from_dict` validate it, so the problem a clinician sees is the adapter's
own, with the value. `field_for` maps that case path back to the form field, and the message names the
field as the form labels it ("Result 4 value", not `results[3].value`): `field_label` gives those words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sigmd.adapters.case_json import case_from_dict
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case
from sigmd.errors import InputError, shown

Fields = Mapping[str, Sequence[str]]
"""Submitted form fields: every name with all its values (text only)."""

MAX_ROWS = 100
"""Highest number of rows read from one repeating group (results, infections ...)."""

RESULT_COLUMNS = ("analyte", "value", "unit", "date", "low", "high")
INFECTION_COLUMNS = ("type", "date", "count", "period", "organism")
AUTOIMMUNE_COLUMNS = ("condition", "text", "date")
VACCINE_COLUMNS = ("antigen", "result", "date")
PROTEIN_COLUMNS = ("antigen", "result", "date", "detail")
GROUPS = {
    "r": RESULT_COLUMNS,
    "i": INFECTION_COLUMNS,
    "a": AUTOIMMUNE_COLUMNS,
    "v": VACCINE_COLUMNS,
    "p": PROTEIN_COLUMNS,
}
"""Repeating groups: field `r3_value` is column `value` of result row 3."""
MIN_ROWS = {"r": 6, "i": 2, "a": 1, "v": 1, "p": 1}
"""Rows shown on an empty form."""
SEPARATORS = re.compile(r"\t|;|,")

ROW_WORDS = {
    "r": "Result",
    "i": "Infection",
    "a": "Autoimmune condition",
    "v": "Vaccine summary",
    "p": "Protein antigen",
}
"""What the form calls one row of each repeating group; rows are numbered from 1 as the form labels them."""
COLUMN_WORDS = {
    "r": {"low": "laboratory range low", "high": "laboratory range high"},
    "i": {"count": "number of episodes", "period": "episodes within this many months"},
    "a": {"condition": "", "text": "description", "date": "date of diagnosis"},
    "p": {"antigen": ""},
}
"""A column's words where they are not its name (`''`: the row's name alone labels it)."""
FIELD_WORDS = {
    "patient_id": "Patient identifier",
    "display_name": "Name",
    "sex": "Sex",
    "birth_date": "Birth date",
    "age_years": "Age in years",
    "as_of": "Assess as of",
    "profile": "Rule profile",
    "reference_set": "Reference set",
    "pasted": "Pasted results",
    "conditions": "Conditions",
    "conditions_none": "No conditions (asked: none)",
    "medications": "Medications",
    "medications_none": "No medications (asked: none)",
    "ppsv23_vaccinated": "Vaccinated on",
    "ppsv23_pre_date": "Pre-vaccination sample date",
    "ppsv23_post_date": "Post-vaccination sample date",
    "bc_date": "Full blood count date",
    "bc_result": "Full blood count with differential",
    "bc_note": "Blood count note",
    "t_cell_defect": "T-cell defect",
    "features_recorded": "Clinical history taken",
    "allergy": "Allergy",
}
"""The entry form's labels of its single fields, as an error message names them."""
CASE_WORDS = {"results": "Immunoglobulin results", "clinical_features": "Clinical features"}
"""Case paths that name a whole part of the form rather than one field."""
_GROUP_FIELD = re.compile(r"^([riavp])(\d+)_(\w+)$")
_TITRE_FIELD = re.compile(r"^(pre|post)_(\w{1,4})$")
_ROW_PATH = re.compile(
    r"^(?:clinical_features\.)?(results|infections|autoimmune|vaccine_responses|protein_antigens)\[\d+\]$"
)


def _ancestry(path: str) -> Iterator[str]:
    """A case path and each path above it: `results[3].value`, `results[3]`, `results`."""
    while path:
        yield path
        trimmed = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", path)
        if trimmed == path:
            return
        path = trimmed


def field_label(name: str) -> str:
    """The words the entry form labels a field with: `r3_value` is "Result 4 value", `pre_6B` a serotype's titre."""
    group = _GROUP_FIELD.match(name)
    if group and group.group(1) in GROUPS and group.group(3) in GROUPS[group.group(1)]:
        prefix, row, column = group.group(1), int(group.group(2)), group.group(3)
        words = COLUMN_WORDS.get(prefix, {}).get(column, column)
        return f"{ROW_WORDS[prefix]} {row + 1} {words}".rstrip()
    titre = _TITRE_FIELD.match(name)
    if titre:
        return f"Serotype {titre.group(2)} {titre.group(1)}-vaccination titre"
    return FIELD_WORDS.get(name, name.replace("_", " "))


def row_label(name: str) -> str:
    """The row a field of a repeating group belongs to ("Result 4"), or the field's own label."""
    group = _GROUP_FIELD.match(name)
    if group and group.group(1) in ROW_WORDS:
        return f"{ROW_WORDS[group.group(1)]} {int(group.group(2)) + 1}"
    return field_label(name)


def one(fields: Fields, name: str) -> str:
    """The first value of a field, stripped; '' when absent."""
    values = fields.get(name) or ()
    return values[0].strip() if values else ""


def row_indices(fields: Fields, prefix: str) -> list[int]:
    """Indices of the rows of a group that have at least one non-empty field."""
    pattern = re.compile(rf"^{prefix}(\d+)_({'|'.join(GROUPS[prefix])})$")
    found = set()
    for name in fields:
        match = pattern.match(name)
        if match and int(match.group(1)) < MAX_ROWS and one(fields, name):
            found.add(int(match.group(1)))
    return sorted(found)


def rows_to_show(fields: Fields, prefix: str, extra: int = 0) -> int:
    """How many rows of a group the re-rendered form shows: every filled row, at least the minimum, plus `extra`."""
    filled = row_indices(fields, prefix)
    return min(MAX_ROWS, max(MIN_ROWS[prefix], (filled[-1] + 1) if filled else 0) + extra)


@dataclass
class CaseForm:
    """A submitted entry form, read into a case document."""

    document: dict[str, Any]
    patient_id: str
    display_name: str
    as_of: date | None
    profile_id: str
    reference_set_id: str
    paths: dict[str, str] = field(default_factory=dict)
    """Case path (`results[0].value`) -> the form field it came from (`r3_value`)."""
    errors: dict[str, str] = field(default_factory=dict)
    """Form field -> the problem with it, naming the field as the form labels it."""
    words: dict[str, str] = field(default_factory=dict)
    """Case path -> its name where the form's label does not give it (a pasted line is named by its number)."""

    def field_for(self, path: str) -> str:
        """The form field a case path came from; its parent's field when the path itself was not typed."""
        for probe in _ancestry(path):
            if probe in self.paths:
                return self.paths[probe]
        return self.paths.get("(case)", "patient_id")

    def words_for(self, path: str) -> str:
        """The case path in the form's words: the label of the field it came from, or of the row it belongs to."""
        for probe in _ancestry(path):
            if probe in self.words:
                return self.words[probe]
            if probe in CASE_WORDS:
                return CASE_WORDS[probe]
            if probe in self.paths:
                exact = probe == path and not _ROW_PATH.match(path)
                return field_label(self.paths[probe]) if exact else row_label(self.paths[probe])
        return path.replace("_", " ").capitalize() if path else "The case"

    def fail(self, error: InputError) -> None:
        """Record the adapter's problem against its form field, naming the field as the form does."""
        self.fail_text(error.field, f"{shown(error.value)} {error.problem}")

    def fail_text(self, path: str, problem: str) -> None:
        """Record a problem with a case path (`results[3].value`) against its form field, in the form's words."""
        self.errors.setdefault(self.field_for(path), f"{self.words_for(path)}: {problem}")


def read_case_form(fields: Fields, knowledge: Knowledge, today: date) -> CaseForm:
    """Copy the entry form into a case document (without judging it) and note where each value came from."""
    form = CaseForm(
        document={},
        patient_id=one(fields, "patient_id"),
        display_name=one(fields, "display_name"),
        as_of=None,
        profile_id=one(fields, "profile") or knowledge.default_profile,
        reference_set_id=one(fields, "reference_set") or knowledge.default_reference_set,
    )
    _read_settings(fields, knowledge, today, form)
    doc = form.document
    doc["patient"] = _patient(fields, form)
    doc["results"] = _results(fields, form)
    form.paths["results"] = "r0_analyte"
    for key in ("conditions", "medications"):
        coded = _coded(fields, key, form)
        if coded is not None:
            doc[key] = coded
    _immunity(fields, form)
    features = _features(fields, form)
    if features is not None:
        doc["clinical_features"] = features
        form.paths["clinical_features"] = "features_recorded"
    return form


def load_case_form(form: CaseForm, knowledge: Knowledge) -> Case | None:
    """The case, or None with the adapter's error recorded against the form field it concerns."""
    if form.errors:
        return None
    try:
        return case_from_dict(form.document, knowledge)
    except InputError as error:
        form.fail(error)
        return None


def _read_settings(fields: Fields, knowledge: Knowledge, today: date, form: CaseForm) -> None:
    text = one(fields, "as_of")
    try:
        form.as_of = date.fromisoformat(text) if text else today
    except ValueError:
        form.fail(InputError("as_of", text, "is not an ISO date (YYYY-MM-DD)"))
    if form.profile_id not in knowledge.profiles:
        form.fail(InputError("profile", form.profile_id, f"is not a profile (known: {', '.join(knowledge.profiles)})"))
    if form.reference_set_id not in knowledge.reference_sets:
        known = ", ".join(knowledge.reference_sets)
        form.fail(InputError("reference_set", form.reference_set_id, f"is not a reference set (known: {known})"))
    form.paths.update({"as_of": "as_of", "profile": "profile", "reference_set": "reference_set"})


def _patient(fields: Fields, form: CaseForm) -> dict[str, Any]:
    patient: dict[str, Any] = {"sex": one(fields, "sex")}
    if form.patient_id:
        patient["id"] = form.patient_id
    if one(fields, "birth_date"):
        patient["birth_date"] = one(fields, "birth_date")
    age = one(fields, "age_years")
    if age:
        patient["age_years"] = _number(age)
    form.paths.update(
        {
            "patient": "birth_date",
            "patient.sex": "sex",
            "patient.birth_date": "birth_date",
            "patient.age_years": "age_years",
            "patient.id": "patient_id",
            "(case)": "patient_id",
        }
    )
    return patient


def _number(text: str) -> float | str:
    """A number when the text is one; otherwise the text itself, for the schema to reject by name."""
    try:
        return float(text)
    except ValueError:
        return text


def _integer(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _results(fields: Fields, form: CaseForm) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for row in row_indices(fields, "r"):
        name = f"r{row}_"
        entry: dict[str, Any] = {
            "analyte": one(fields, name + "analyte"),
            "value": one(fields, name + "value"),
            "unit": one(fields, name + "unit"),
            "date": one(fields, name + "date"),
        }
        low, high = one(fields, name + "low"), one(fields, name + "high")
        if low or high:
            entry["reference_range"] = {key: value for key, value in (("low", low), ("high", high)) if value}
        path = f"results[{len(results)}]"
        form.paths[path] = name + "value"
        for column in ("analyte", "value", "unit", "date", "comparator"):
            form.paths[f"{path}.{column}"] = name + ("value" if column == "comparator" else column)
        form.paths[f"{path}.reference_range"] = name + "low"
        form.paths[f"{path}.reference_range.low"] = name + "low"
        form.paths[f"{path}.reference_range.high"] = name + "high"
        form.paths[f"{path}.reference_range.unit"] = name + "unit"
        results.append(entry)
    results.extend(_pasted(fields, form, len(results)))
    return results


def _pasted(fields: Fields, form: CaseForm, start: int) -> list[dict[str, Any]]:
    """Pasted lines `analyte, value, unit, date[, low, high]` (tab, semicolon or comma separated)."""
    results: list[dict[str, Any]] = []
    for number, line in enumerate(one(fields, "pasted").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in (SEPARATORS.split(line) if SEPARATORS.search(line) else line.split())]
        if len(parts) not in (4, 5, 6):
            form.paths[f"pasted line {number}"] = "pasted"
            form.words[f"pasted line {number}"] = f"Pasted results, line {number}"
            form.fail(
                InputError(
                    f"pasted line {number}",
                    line,
                    "needs analyte, value, unit and date (and optionally range low, high)",
                )
            )
            continue
        entry: dict[str, Any] = {"analyte": parts[0], "value": parts[1], "unit": parts[2], "date": parts[3]}
        bounds = {key: value for key, value in zip(("low", "high"), parts[4:], strict=False) if value}
        if bounds:
            entry["reference_range"] = bounds
        path = f"results[{start + len(results)}]"
        form.paths[path] = "pasted"
        form.words[path] = f"Pasted results, line {number}"
        results.append(entry)
    return results


def _coded(fields: Fields, key: str, form: CaseForm) -> list[dict[str, str]] | None:
    """One record per line, `text` or `text | code | system`; None when not recorded, [] when 'none' is ticked."""
    form.paths[key] = key
    lines = [line.strip() for line in one(fields, key).splitlines() if line.strip()]
    none_ticked = bool(one(fields, f"{key}_none"))
    if none_ticked and lines:
        form.fail(InputError(key, lines[0], f"is listed although 'no {key}' is ticked"))
        return None
    if none_ticked:
        return []
    if not lines:
        return None
    records = []
    for line in lines:
        parts = [p.strip() for p in line.split("|")]
        record = {name: value for name, value in zip(("text", "code", "system"), parts, strict=False) if value}
        records.append(record or {"text": line})
    return records


def _immunity(fields: Fields, form: CaseForm) -> None:
    doc = form.document
    t_cell = one(fields, "t_cell_defect")
    if t_cell:
        doc["t_cell_defect"] = {"yes": True, "no": False}.get(t_cell, t_cell)
        form.paths["t_cell_defect"] = "t_cell_defect"
    bc_date, bc_result, bc_note = one(fields, "bc_date"), one(fields, "bc_result"), one(fields, "bc_note")
    if bc_date or bc_result or bc_note:
        doc["blood_count"] = {"date": bc_date, "result": bc_result, **({"note": bc_note} if bc_note else {})}
        form.paths.update({"blood_count": "bc_date", "blood_count.date": "bc_date", "blood_count.result": "bc_result"})
    summaries: list[dict[str, Any]] = []
    for row in row_indices(fields, "v"):
        entry = {"antigen": one(fields, f"v{row}_antigen"), "result": one(fields, f"v{row}_result")}
        if one(fields, f"v{row}_date"):
            entry["date"] = one(fields, f"v{row}_date")
        form.paths[f"vaccine_responses[{len(summaries)}]"] = f"v{row}_antigen"
        form.paths[f"vaccine_responses[{len(summaries)}].result"] = f"v{row}_result"
        summaries.append(entry)
    if summaries:
        doc["vaccine_responses"] = summaries
    proteins: list[dict[str, Any]] = []
    for row in row_indices(fields, "p"):
        entry = {key: one(fields, f"p{row}_{key}") for key in PROTEIN_COLUMNS if one(fields, f"p{row}_{key}")}
        entry.setdefault("antigen", "")
        entry.setdefault("result", "")
        base = f"protein_antigens[{len(proteins)}]"
        form.paths.update({base: f"p{row}_antigen", f"{base}.result": f"p{row}_result", f"{base}.date": f"p{row}_date"})
        proteins.append(entry)
    if proteins:
        doc["protein_antigens"] = proteins
    _challenge(fields, form)


def _challenge(fields: Fields, form: CaseForm) -> None:
    """PPSV23 titres: one pre and one post column per serotype, with one sample date for each column."""
    titres: list[dict[str, Any]] = []
    dates = {"pre": one(fields, "ppsv23_pre_date"), "post": one(fields, "ppsv23_post_date")}
    for name in sorted(fields):
        match = re.match(r"^(pre|post)_(\w{1,4})$", name)
        if not match or not one(fields, name):
            continue
        when, serotype = match.group(1), match.group(2)
        path = f"pneumococcal_challenge.titres[{len(titres)}]"
        form.paths.update({path: name, f"{path}.value": name, f"{path}.date": f"ppsv23_{when}_date"})
        titres.append({"serotype": serotype, "value": one(fields, name), "date": dates[when]})
    vaccinated = one(fields, "ppsv23_vaccinated")
    if titres or vaccinated:
        form.document["pneumococcal_challenge"] = {"vaccinated": vaccinated, "titres": titres}
        form.paths["pneumococcal_challenge"] = "ppsv23_vaccinated"
        form.paths["pneumococcal_challenge.vaccinated"] = "ppsv23_vaccinated"


def _features(fields: Fields, form: CaseForm) -> dict[str, Any] | None:
    infections: list[dict[str, Any]] = []
    for row in row_indices(fields, "i"):
        name = f"i{row}_"
        entry: dict[str, Any] = {"type": one(fields, name + "type")}
        if one(fields, name + "date"):
            entry["date"] = one(fields, name + "date")
        if one(fields, name + "count"):
            entry["count"] = _integer(one(fields, name + "count"))
        if one(fields, name + "period"):
            entry["period_months"] = _integer(one(fields, name + "period"))
        if one(fields, name + "organism"):
            entry["organism"] = one(fields, name + "organism")
        path = f"clinical_features.infections[{len(infections)}]"
        form.paths.update(
            {
                path: name + "type",
                f"{path}.type": name + "type",
                f"{path}.date": name + "date",
                f"{path}.count": name + "count",
                f"{path}.period_months": name + "period",
            }
        )
        infections.append(entry)
    autoimmune: list[dict[str, Any]] = []
    for row in row_indices(fields, "a"):
        name = f"a{row}_"
        entry = {"condition": one(fields, name + "condition")}
        for key in ("text", "date"):
            if one(fields, name + key):
                entry[key] = one(fields, name + key)
        path = f"clinical_features.autoimmune[{len(autoimmune)}]"
        form.paths.update({path: name + "condition", f"{path}.date": name + "date"})
        autoimmune.append(entry)
    allergies = [value.strip() for value in fields.get("allergy", ()) if value.strip()]
    form.paths["clinical_features.allergies"] = "features_recorded"
    form.words["clinical_features.allergies"] = FIELD_WORDS["allergy"]
    if not (infections or autoimmune or allergies or one(fields, "features_recorded")):
        return None
    features: dict[str, Any] = {}
    if infections:
        features["infections"] = infections
    if allergies:
        features["allergies"] = allergies
    if autoimmune:
        features["autoimmune"] = autoimmune
    return features
