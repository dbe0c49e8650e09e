"""The `sigmd` command line."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sigmd import content
from sigmd.adapters.detect import load_cases, read_bytes, read_input
from sigmd.adapters.grouping import LoadedCase
from sigmd.adapters.hl7v2 import read_code_map
from sigmd.adapters.results import parse_date
from sigmd.core.assessment import AssessmentError, assess
from sigmd.core.knowledge import Knowledge
from sigmd.errors import InputError
from sigmd.render.terminal import render
from sigmd.report import Report, assess_every_profile
from sigmd.settings import SettingsError, SiteSettings, load_settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=True,
)

EXIT_INVALID_INPUT = 2


def _choices(ids: Sequence[str]) -> str:
    """A closed set of values as `--help` shows it: [a|b|c]."""
    return f"[{'|'.join(ids)}]"


PROFILE_IDS = content.ids("profiles.toml", "profiles")
REFERENCE_SET_IDS = content.ids("reference_sets.toml", "sets")
VACCINE_RULE_SET_IDS = content.ids("vaccine_rules.toml", "rule_sets")


def _print_version(value: bool) -> None:
    if value:
        from sigmd import __version__

        typer.echo(f"sigmd {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    settings: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            help="Site settings file (TOML; see docs/settings.md). Default: $SIGMD_SETTINGS, else "
            "~/.config/sigmd/settings.toml when it exists.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Explainable decision support for selective IgM deficiency.

    sigmd supports clinical judgement and does not replace it.

    Exit codes: 0 done; 1 an unexpected error (please report it); 2 invalid input or options, with the field
    and value on standard error; 3 an optional extra is missing, with the pip install line to run.
    """


def _fail(message: str) -> typer.Exit:
    typer.echo(f"sigmd: invalid input: {message}", err=True)
    return typer.Exit(EXIT_INVALID_INPUT)


def site_settings(ctx: typer.Context, knowledge: Knowledge) -> SiteSettings:
    """The site settings for this command (`sigmd --settings FILE`, else as docs/settings.md says); exit 2 if bad."""
    given = ctx.find_root().params.get("settings")
    try:
        return load_settings(knowledge, Path(given) if given else None)
    except SettingsError as error:
        raise _fail(str(error)) from None


@app.command("assess")
def assess_command(
    ctx: typer.Context,
    case_file: Annotated[
        Path,
        typer.Argument(
            help="sigmd case JSON, a FHIR Bundle or NDJSON, or an HL7 v2 ORU^R01 file; `-` reads standard input.",
            show_default=False,
        ),
    ],
    profile: Annotated[
        str | None,
        typer.Option(
            metavar=_choices([*PROFILE_IDS, "all"]),
            autocompletion=lambda: [*PROFILE_IDS, "all"],
            help="Rule profile (see `sigmd profiles`), or `all` to compare every profile; default: the site "
            "setting, else the content's default.",
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            metavar=_choices(REFERENCE_SET_IDS),
            autocompletion=lambda: list(REFERENCE_SET_IDS),
            help="Reference set (see `sigmd reference-sets`); default: the site setting, else the content's default.",
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Assess as of this date (YYYY-MM-DD); default today.")
    ] = None,
    vaccine_rules: Annotated[
        str | None,
        typer.Option(
            "--vaccine-rules",
            metavar=_choices(VACCINE_RULE_SET_IDS),
            autocompletion=lambda: list(VACCINE_RULE_SET_IDS),
            help="PPSV23 rule set.",
        ),
    ] = None,
    local_codes: Annotated[
        Path | None, typer.Option("--local-codes", help="CSV `code,analyte` mapping local HL7 OBX-3 codes.")
    ] = None,
    batch: Annotated[
        Path | None, typer.Option("--batch", help="Write one JSON result per patient into this folder (many patients).")
    ] = None,
    fhir_out: Annotated[
        Path | None,
        typer.Option("--fhir-out", help="Also write the assessment as a FHIR Bundle (RiskAssessment, DetectedIssue)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the machine output (JSON) instead of the report.")
    ] = False,
) -> None:
    """Assess the patients in a file from all their results; one patient unless --batch is given."""
    if batch is not None and (fhir_out is not None or as_json):
        raise _fail("--batch writes one JSON file per patient; it cannot be combined with --fhir-out or --json")
    knowledge = content.load()
    site = site_settings(ctx, knowledge)
    profile = profile or site.profile
    reference = reference or site.reference_set
    if profile is not None and profile != "all" and profile not in knowledge.profiles:
        raise _fail(f"--profile: {profile!r} is not a profile (known: {', '.join(knowledge.profiles)})")
    if vaccine_rules is not None and vaccine_rules not in knowledge.vaccines.rule_sets:
        known = ", ".join(knowledge.vaccines.rule_sets)
        raise _fail(f"--vaccine-rules: {vaccine_rules!r} is not a rule set (known: {known})")
    if reference is not None and reference not in knowledge.reference_sets:
        raise _fail(f"--reference: {reference!r} is not a reference set (known: {', '.join(knowledge.reference_sets)})")
    try:
        as_of_date = parse_date(as_of, "--as-of") if as_of else date.today()
        codes = read_code_map(read_input(local_codes), knowledge) if local_codes else None
        data = sys.stdin.buffer.read() if str(case_file) == "-" else read_bytes(case_file)
        loaded = load_cases(data, knowledge, local_codes=codes)
    except OSError as error:
        raise _fail(f"{error.filename}: {error.strerror}") from None
    except InputError as error:
        raise _fail(str(error)) from None
    if batch is None and len(loaded) != 1:
        raise _fail(f"{case_file}: holds {len(loaded)} patients; use --batch DIR to assess each of them")

    def report_for(item: LoadedCase) -> Report:
        case = item.require()
        if profile == "all":
            return assess_every_profile(
                case,
                knowledge,
                as_of=as_of_date,
                patient_id=item.patient_key,
                reference_set_id=reference,
                vaccine_rule_set=vaccine_rules,
            )
        assessment = assess(
            case,
            knowledge,
            as_of=as_of_date,
            profile_id=profile,
            reference_set_id=reference,
            vaccine_rule_set=vaccine_rules,
        )
        return Report(item.patient_key, case, assessment)

    if batch is not None:
        _write_batch(loaded, batch, report_for)
        return
    try:
        report = report_for(loaded[0])
    except (InputError, AssessmentError) as error:
        raise _fail(str(error)) from None
    if fhir_out is not None:
        from sigmd.adapters.fhir_out import assessment_to_fhir

        patient_ref = "Patient/" + re.sub(r"[^A-Za-z0-9\-.]", "-", loaded[0].patient_key)[:64]
        fhir_out.write_text(json.dumps(assessment_to_fhir(report.to_json(), patient_ref), indent=2), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        render(report.document, Console(), unit=site.display_unit)


def _write_batch(loaded: list[LoadedCase], folder: Path, report_for: Callable[[LoadedCase], Report]) -> None:
    """One JSON file per patient, and index.json listing every patient with its verdict or its error."""
    folder.mkdir(parents=True, exist_ok=True)
    index: list[dict[str, Any]] = []
    for number, item in enumerate(loaded, start=1):
        name = f"{number:05d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', item.patient_key)[:60]}.json"
        try:
            report = report_for(item)
        except (InputError, AssessmentError) as error:
            index.append({"patient": item.patient_key, "error": str(error)})
            continue
        (folder / name).write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False), encoding="utf-8")
        index.append({"patient": item.patient_key, "file": name, "label": report.label, "certainty": report.certainty})
    (folder / "index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    failed = sum(1 for row in index if "error" in row)
    typer.echo(
        f"patients: {len(index)}, assessed: {len(index) - failed}, not assessed: {failed} (see {folder / 'index.json'})"
    )
    if failed == len(index):
        raise _fail(f"no patient in the file could be assessed (reasons in {folder / 'index.json'})")


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


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    base_url: Annotated[
        str | None, typer.Option(help="Public base URL that clients call (JWT audience); default http://HOST:PORT.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder for the SQLite registry, the session key and screening jobs; default: the site setting "
            "(SIGMD_DATA_DIR), else ~/.local/share/sigmd.",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Registry database URL (postgresql+psycopg://...); default: the site setting (SIGMD_DATABASE_URL), "
            "else SQLite.",
        ),
    ] = None,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Send session cookies over HTTPS only (use behind TLS).")
    ] = False,
    issuer: Annotated[
        list[str] | None, typer.Option(help="Trusted CDS client as ISS=JKU_URL (repeatable).", show_default=False)
    ] = None,
    dev_no_auth: Annotated[
        bool,
        typer.Option(
            "--dev-no-auth", help="Development only: accept CDS Hooks calls without a JWT (logged as a warning)."
        ),
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Browser origin allowed to call the CDS Hooks service (https://ehr.example.org; repeatable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the clinician web pages (with the follow-up registry) and the CDS Hooks 2.0 service.

    The first visit to the pages asks for the first admin account (or create it with `sigmd registry create-user`).
    """
    try:
        import uvicorn

        from sigmd.cdshooks.settings import CDSSettings, TrustedIssuer
        from sigmd.registry import Registry, RegistryError
        from sigmd.web import WebSettings, create_app
    except ImportError as error:
        raise ImportError(
            f"the server needs the web extra: pip install 'sigmd[web]' ({error.name} is missing)"
        ) from None
    knowledge = content.load()
    site = site_settings(ctx, knowledge)
    site_knowledge = site.apply(knowledge)
    issuers = [TrustedIssuer(iss=client.iss, jku=(client.jku,)) for client in site.cds_trusted_issuers]
    for entry in issuer or []:
        iss, _, jku = entry.partition("=")
        if not iss or not jku:
            raise _fail(f"--issuer: {entry!r} is not ISS=JKU_URL")
        issuers.append(TrustedIssuer(iss=iss, jku=(jku,)))
    try:
        cds_settings = CDSSettings(
            base_url=base_url or f"http://{host}:{port}",
            trusted_issuers=tuple(issuers),
            allow_unauthenticated=dev_no_auth,
            cors_allow_origins=tuple(cors_origin or site.cds_cors_allow_origins),
            card_for_normal_result=site.cds_card_for_normal_result,
        )
    except ValueError as error:  # an --issuer whose JWK Set URL is not https, or a --cors-origin that is no origin
        raise _fail(str(error)) from None
    web_settings = WebSettings.from_env(
        data_dir or site.data_dir,
        database_url=database_url or site.database_url,
        cookie_secure=secure_cookies or site.secure_cookies,
        display_unit=site.display_unit,
    )
    try:
        registry = Registry.open(web_settings.database_url, data_dir=web_settings.data_dir, knowledge=site_knowledge)
    except RegistryError as error:
        raise _fail(str(error)) from None
    from sigmd.logfilter import install, uvicorn_log_config

    install()
    try:
        served = create_app(web_settings, cds_settings, site_knowledge, registry)
        uvicorn.run(served, host=host, port=port, log_config=uvicorn_log_config())
    finally:
        registry.close()


def _register_screening() -> None:
    from sigmd.screening.cli import screen_command, synth_command

    app.command("screen")(screen_command)
    app.command("synth")(synth_command)


_register_screening()


def _register_registry() -> None:
    from sigmd.registry.cli import registry_app

    app.add_typer(registry_app, name="registry")


_register_registry()


EXIT_MISSING_EXTRA = 3

_EXTRA_OF_MODULE = {
    "duckdb": "screen",
    "pyarrow": "screen",
    "numpy": "screen",
    "scipy": "screen",
    "pyspark": "spark",
    "fhir": "fhir",
    "hl7": "hl7",
    "sqlalchemy": "registry",
    "alembic": "registry",
    "pwdlib": "registry",
    "psycopg": "postgres",
    "fastapi": "web",
    "starlette": "web",
    "uvicorn": "web",
    "jinja2": "web",
    "joserfc": "web",
    "httpx": "web",
    "multipart": "web",
    "itsdangerous": "web",
}
"""Which extra installs each optional top-level module, for the one-line message when it is missing."""


def missing_extra_message(error: ImportError) -> str | None:
    """The one line naming the `pip install` that fixes this import error, or None if it is not an optional extra."""
    text = str(error)
    if "pip install 'sigmd[" in text:
        return text
    top = (error.name or "").split(".")[0]
    extra = _EXTRA_OF_MODULE.get(top)
    return None if extra is None else f"this command needs the {extra} extra: pip install 'sigmd[{extra}]'"


def main() -> None:
    """Console entry point: the Typer app, with a missing optional dependency reported in one line (exit 3)."""
    from sigmd.logfilter import install

    install()  # no patient data in logs, whichever command runs
    try:
        app()
    except ImportError as error:
        message = missing_extra_message(error)
        if message is None:
            raise
        typer.echo(f"sigmd: {message}", err=True)
        sys.exit(EXIT_MISSING_EXTRA)
