"""Typer commands `sigmd screen` and `sigmd synth`; register with `app.add_typer` or `app.command`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from sigmd import content

PROFILE_IDS = content.ids("profiles.toml", "profiles")
REFERENCE_SET_IDS = content.ids("reference_sets.toml", "sets")
ENGINES = ("duckdb", "spark", "postgres")
FORMATS = ("auto", "csv", "parquet", "omop", "bulk")

app = typer.Typer(help="Population screening for SIgMD. sigmd supports clinical judgement and does not replace it.")


@app.command("screen")
def screen_command(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            help="Lab extract (CSV/Parquet), OMOP CDM folder or database URL (e.g. sqlite:///cdm.db), "
            "or Bulk Data folder/manifest."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    engine: Annotated[str, typer.Option(metavar=f"[{'|'.join(ENGINES)}]", help="SQL engine.")] = "duckdb",
    engine_url: Annotated[
        str | None,
        typer.Option(
            "--engine-url",
            help="Where the engine runs. postgres: the database to work in (postgresql://user@host/db; default: "
            "the input, when it is a PostgreSQL CDM, which is then screened in place). spark: the master URL "
            "(default local[2]; e.g. local-cluster[2,1,1024], spark://host:7077).",
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            metavar=f"[{'|'.join(REFERENCE_SET_IDS)}]",
            help="Reference set; default: the site setting, else the content's default.",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            metavar=f"[{'|'.join(PROFILE_IDS)}]", help="Rule profile; default: the site setting, else the content's."
        ),
    ] = None,
    file_format: Annotated[str, typer.Option("--format", metavar=f"[{'|'.join(FORMATS)}]", help="Input format.")] = (
        "auto"
    ),
    records: Annotated[Path | None, typer.Option(help="Conditions and medications table (CSV).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD; default today.")] = None,
    column: Annotated[list[str] | None, typer.Option(help="canonical=source column name, repeatable.")] = None,
    omop_schema: Annotated[
        str | None, typer.Option("--omop-schema", help="Database schema of the OMOP CDM tables (database URL input).")
    ] = None,
    sensitivity: Annotated[
        bool,
        typer.Option(
            "--sensitivity/--no-sensitivity",
            help="Count deficient patients under every bundled reference set (about half the time of a large run).",
        ),
    ] = True,
    csv: Annotated[
        bool, typer.Option("--csv", help="Also write a CSV copy of every table (patients, rejects, cohort).")
    ] = False,
    cohort_definition_id: Annotated[
        int,
        typer.Option(
            "--cohort-definition-id",
            help="cohort_definition_id of the OMOP cohort table (the id your OHDSI tools gave the definition).",
        ),
    ] = 1,
) -> None:
    """Screen every patient of a lab database and write results, rejects, summary and report."""
    from sigmd.screening.omop import is_database_url
    from sigmd.screening.run import screen
    from sigmd.settings import SettingsError, load_settings

    given = ctx.find_root().params.get("settings")
    try:
        knowledge = content.load()
        site = load_settings(knowledge, Path(given) if given else None)
    except SettingsError as error:
        typer.echo(f"sigmd: invalid input: {error}", err=True)
        raise typer.Exit(2) from None
    profile = profile or site.profile
    reference = reference or site.reference_set
    for option, value, allowed in (("--engine", engine, ENGINES), ("--format", file_format, FORMATS)):
        if value not in allowed:
            typer.echo(f"sigmd: invalid input: {option}: {value!r} is not one of {', '.join(allowed)}", err=True)
            raise typer.Exit(2)
    mapping = dict(item.split("=", 1) for item in column or [])
    try:
        screen(
            source if is_database_url(source) else Path(source),
            out,
            engine=engine,
            engine_url=engine_url,
            omop_schema=omop_schema,
            reference=reference,
            profile=profile,
            file_format=file_format,
            columns=mapping,
            records=records,
            as_of=date.fromisoformat(as_of) if as_of else None,
            sensitivity=sensitivity,
            knowledge=knowledge,
            csv=csv,
            cohort_definition_id=cohort_definition_id,
        )
    except ValueError as error:  # a missing extra (ImportError) reaches sigmd.cli.main: one line, exit 3
        typer.echo(f"sigmd: invalid input: {error}", err=True)
        raise typer.Exit(2) from None


@app.command("synth")
def synth_command(
    patients: Annotated[int, typer.Option("--patients", help="Number of synthetic patients.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Write a synthetic lab extract with planted SIgMD cases (synthetic patients only)."""
    from sigmd.screening.synth import synth

    files = synth(patients, seed, out, "csv" if out.suffix.lower() == ".csv" else "parquet")
    typer.echo(f"wrote {files.results}, {files.records} and {files.truth}")
