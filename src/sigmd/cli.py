"""The `sigmd` command line."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sigmd import content
from sigmd.adapters.case_json import load_case
from sigmd.adapters.results import parse_date
from sigmd.core.assessment import AssessmentError, assess
from sigmd.errors import InputError
from sigmd.render.machine import assessment_json, profile_comparison_json
from sigmd.render.terminal import render

app = typer.Typer(
    help="Explainable decision support for selective IgM deficiency. "
    "sigmd supports clinical judgement and does not replace it.",
    no_args_is_help=True,
    add_completion=False,
)

EXIT_INVALID_INPUT = 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"sigmd: invalid input: {message}", err=True)
    return typer.Exit(EXIT_INVALID_INPUT)


@app.command("assess")
def assess_command(
    case_file: Annotated[Path, typer.Argument(help="A case file (sigmd case JSON).", show_default=False)],
    profile: Annotated[
        str | None, typer.Option(help="Rule profile id (see `sigmd profiles`), or `all` to compare every profile.")
    ] = None,
    reference: Annotated[str | None, typer.Option(help="Reference set id (see `sigmd reference-sets`).")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Assess as of this date (YYYY-MM-DD); default today.")
    ] = None,
    vaccine_rules: Annotated[
        str | None, typer.Option("--vaccine-rules", help="PPSV23 rule set (aaaai_2015, mayo_1_0, arup_fold_rise).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the machine output (JSON) instead of the report.")
    ] = False,
) -> None:
    """Assess one patient from all the results in a case file."""
    knowledge = content.load()
    if profile is not None and profile != "all" and profile not in knowledge.profiles:
        raise _fail(f"--profile: {profile!r} is not a profile (known: {', '.join(knowledge.profiles)})")
    if vaccine_rules is not None and vaccine_rules not in knowledge.vaccines.rule_sets:
        known = ", ".join(knowledge.vaccines.rule_sets)
        raise _fail(f"--vaccine-rules: {vaccine_rules!r} is not a rule set (known: {known})")
    if reference is not None and reference not in knowledge.reference_sets:
        raise _fail(f"--reference: {reference!r} is not a reference set (known: {', '.join(knowledge.reference_sets)})")
    try:
        as_of_date = parse_date(as_of, "--as-of") if as_of else date.today()
        text = case_file.read_text(encoding="utf-8")
        case = load_case(text, knowledge)
        profiles = list(knowledge.profiles) if profile == "all" else [profile or knowledge.default_profile]
        results = [
            assess(
                case,
                knowledge,
                as_of=as_of_date,
                profile_id=p,
                reference_set_id=reference,
                vaccine_rule_set=vaccine_rules,
            )
            for p in profiles
        ]
    except OSError as error:
        raise _fail(f"{case_file}: {error.strerror}") from None
    except (InputError, AssessmentError) as error:
        raise _fail(str(error)) from None
    primary = next((r for r in results if r.profile.id == knowledge.default_profile), results[0])
    report = assessment_json(primary, case, patient_id=_patient_id(text))
    if profile == "all":
        report["by_profile"] = profile_comparison_json(results)
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        render(report, Console())


def _patient_id(text: str) -> str | None:
    document: Any = json.loads(text)
    patient_id = document.get("patient", {}).get("id")
    return patient_id if isinstance(patient_id, str) else None


@app.command("profiles")
def profiles_command() -> None:
    """List the rule profiles and their sources."""
    knowledge = content.load()
    table = Table("id", "name", "low limit", "source")
    for profile in knowledge.profiles.values():
        default = " (default)" if profile.id == knowledge.default_profile else ""
        table.add_row(profile.id + default, profile.name, profile.low_limit.value, profile.source.cite())
    Console().print(table)


@app.command("reference-sets")
def reference_sets_command() -> None:
    """List the bundled reference sets, their coverage and gap fills."""
    knowledge = content.load()
    table = Table("id", "name", "analytes", "gap fills / limitations")
    for ref in knowledge.reference_sets.values():
        default = " (default)" if ref.id == knowledge.default_reference_set else ""
        analytes = ", ".join(sorted(a.value for a in ref.analytes))
        table.add_row(ref.id + default, ref.name, analytes, "\n".join((*ref.gap_fills, *ref.limitations)))
    Console().print(table)


def main() -> None:  # pragma: no cover - console entry for `python -m sigmd`
    sys.exit(app())
