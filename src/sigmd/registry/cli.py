"""`sigmd registry ...`: the follow-up registry from the terminal."""

from __future__ import annotations

import dataclasses
import getpass
import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sigmd.core.explain import DISCLAIMER
from sigmd.core.knowledge import Knowledge
from sigmd.registry.api import RegistryError, Role

if TYPE_CHECKING:
    from sigmd.registry.store import Registry

EXIT_INVALID_INPUT = 2

registry_app = typer.Typer(
    help="The follow-up registry: patients, results, assessments and who is due for review.",
    no_args_is_help=True,
    add_completion=False,
)


@dataclass(frozen=True)
class _Target:
    url: str | None
    data_dir: Path | None
    knowledge: Knowledge


def _fail(message: str) -> typer.Exit:
    typer.echo(f"sigmd registry: {message}", err=True)
    return typer.Exit(EXIT_INVALID_INPUT)


def _open(ctx: typer.Context) -> Registry:
    target: _Target = ctx.obj
    from sigmd.registry import Registry  # a missing extra reaches sigmd.cli.main: one line, exit 3

    try:
        return Registry.open(target.url, data_dir=target.data_dir, knowledge=target.knowledge)
    except RegistryError as error:
        raise _fail(str(error)) from None


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _as_of(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _fail(f"--as-of: {text!r} is not an ISO date (YYYY-MM-DD)") from None


def _json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


Actor = Annotated[str | None, typer.Option("--actor", help="Who makes the change (audit log); default cli:<OS user>.")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="Date to assess or count from (YYYY-MM-DD); default today.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@registry_app.callback()
def registry_callback(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL (sqlite:///FILE or postgresql+psycopg://USER@HOST/DB); default: the site setting "
            "(SIGMD_DATABASE_URL), else a SQLite file in the data dir.",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder of the SQLite registry; default: the site setting (SIGMD_DATA_DIR), else ~/.local/share/sigmd.",
        ),
    ] = None,
) -> None:
    """The follow-up registry: patients, results, assessments and who is due for review."""
    from sigmd.logfilter import install

    install()
    from sigmd import content
    from sigmd.settings import SettingsError, load_settings

    given = ctx.find_root().params.get("settings")
    try:
        knowledge = content.load()
        site = load_settings(knowledge, Path(given) if given else None)
    except SettingsError as error:
        raise _fail(str(error)) from None
    ctx.obj = _Target(db or site.database_url, data_dir or site.data_dir, site.apply(knowledge))


@registry_app.command("init")
def init_command(ctx: typer.Context) -> None:
    """Create the registry (or bring its schema up to date) and say where it is."""
    with _open(ctx) as registry:
        typer.echo(f"registry ready: {registry.url}")
        if not registry.has_users():
            typer.echo("no users yet: create the first admin with `sigmd registry create-user NAME --role admin`")


@registry_app.command("create-user")
def create_user_command(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name.", show_default=False)],
    role: Annotated[
        Role | None, typer.Option(help="viewer, clinician or admin; the first user is an admin by default.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
    ] = False,
    actor: Actor = None,
) -> None:
    """Create a user (the first admin is created this way); the password is asked for twice."""
    with _open(ctx) as registry:
        if role is None:
            if registry.has_users():
                raise _fail("--role: give the new user's role (viewer, clinician or admin)")
            role = Role.ADMIN
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user = registry.create_user(username, password, role, actor=actor or _default_actor())
        except RegistryError as error:
            raise _fail(str(error)) from None
        typer.echo(f"created {user.role.value} {user.username!r}")


@registry_app.command("users")
def users_command(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List the users and their roles."""
    with _open(ctx) as registry:
        users = registry.list_users()
    if as_json:
        _json([_plain(u) for u in users])
        return
    table = Table("username", "role", "created (UTC)", "state")
    for user in users:
        state = "active" if user.disabled_at is None else f"disabled {user.disabled_at:%Y-%m-%d %H:%M}"
        table.add_row(user.username, user.role.value, f"{user.created_at:%Y-%m-%d %H:%M}", state)
    Console().print(table)


def _read_password(password_stdin: bool, prompt: str = "New password") -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    text: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return text


@registry_app.command("passwd")
def passwd_command(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account.", show_default=False)],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from the first line of standard input.")
    ] = False,
    actor: Actor = None,
) -> None:
    """Set an account's password (asked for twice); its open web sessions end."""
    with _open(ctx) as registry:
        password = _read_password(password_stdin)
        try:
            registry.set_password(username, password, actor=actor or _default_actor())
        except RegistryError as error:
            raise _fail(str(error)) from None
    typer.echo(f"password of {username!r} changed; its sessions have ended")


@registry_app.command("set-role")
def set_role_command(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account.", show_default=False)],
    role: Annotated[Role, typer.Argument(help="viewer, clinician or admin.", show_default=False)],
    actor: Actor = None,
) -> None:
    """Change an account's role (the last active admin cannot be demoted)."""
    with _open(ctx) as registry:
        try:
            user = registry.set_role(username, role, actor=actor or _default_actor())
        except RegistryError as error:
            raise _fail(str(error)) from None
    typer.echo(f"{user.username!r} is now {user.role.value}")


@registry_app.command("disable")
def disable_command(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account.", show_default=False)],
    enable: Annotated[bool, typer.Option("--enable", help="Enable a disabled account again instead.")] = False,
    actor: Actor = None,
) -> None:
    """Disable an account: it cannot sign in and its open web sessions end (--enable undoes it)."""
    with _open(ctx) as registry:
        try:
            user = registry.set_disabled(username, not enable, actor=actor or _default_actor())
        except RegistryError as error:
            raise _fail(str(error)) from None
    typer.echo(f"{user.username!r} is {'enabled' if user.active else 'disabled; its sessions have ended'}")


@registry_app.command("erase")
def erase_command(
    ctx: typer.Context,
    patient_id: Annotated[str, typer.Argument(help="The patient's identifier.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    actor: Actor = None,
) -> None:
    """Erase a patient: results, assessments and plans go, and the audit keeps no patient detail."""
    if not yes:
        typer.confirm(f"Erase patient {patient_id} and everything stored about them? This cannot be undone", abort=True)
    with _open(ctx) as registry:
        try:
            receipt = registry.erase_patient(patient_id, actor=actor or _default_actor())
        except RegistryError as error:
            raise _fail(str(error)) from None
    typer.echo(
        f"erased: {receipt.results} results, {receipt.assessments} assessments, {receipt.follow_up_plans} plans; "
        f"{receipt.audit_entries_scrubbed} audit entries scrubbed; audit reference {receipt.reference}"
    )


@registry_app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="Case JSON, FHIR Bundle or NDJSON, HL7 v2, or long-format CSV.", show_default=False)
    ],
    as_of: AsOf = None,
    actor: Actor = None,
) -> None:
    """Record every patient in a file and assess them; exit status 2 if any patient was not stored."""
    as_of_date = _as_of(as_of)
    from sigmd.adapters.detect import read_bytes
    from sigmd.errors import InputError

    try:
        data = read_bytes(file)  # decoded by the import's reader: HL7 v2 message by message, as MSH-18 declares
    except OSError as error:
        raise _fail(f"{file}: {error.strerror}") from None
    except InputError as error:
        raise _fail(f"{file}: {error}") from None
    with _open(ctx) as registry:
        try:
            outcomes = registry.import_text(data, actor=actor or _default_actor(), as_of=as_of_date, filename=file.name)
        except RegistryError as error:
            raise _fail(f"{file}: {error}") from None
    for outcome in outcomes:
        if outcome.assessment is not None:
            stored = outcome.assessment
            typer.echo(
                f"stored {outcome.patient_id}: {stored.label} ({stored.certainty}) "
                f"[profile {stored.profile_id}, reference set {stored.reference_set_id}]"
            )
        else:
            typer.echo(f"not stored {outcome.patient_id}: {outcome.error}", err=True)
    failed = sum(1 for o in outcomes if o.error is not None)
    typer.echo(f"patients: {len(outcomes)}, stored: {len(outcomes) - failed}, not stored: {failed}")
    typer.echo(DISCLAIMER)
    if failed:
        raise typer.Exit(EXIT_INVALID_INPUT)


@registry_app.command("list")
def list_command(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List the patients with their latest verdict and next review."""
    with _open(ctx) as registry:
        patients = registry.list_patients()
    if as_json:
        _json({"disclaimer": DISCLAIMER, "patients": [_plain(p) for p in patients]})
        return
    table = Table("patient", "name", "sex", "born", "label", "certainty", "profile", "reference set", "next review")
    for p in patients:
        table.add_row(
            p.patient_id,
            p.display_name or "",
            p.sex,
            str(p.birth_date or ""),
            p.label or "",
            p.certainty or "",
            p.profile_id or "",
            p.reference_set_id or "",
            str(p.next_follow_up or ""),
        )
    Console().print(table)
    typer.echo(DISCLAIMER)


@registry_app.command("show")
def show_command(
    ctx: typer.Context,
    patient_id: Annotated[str, typer.Argument(help="The patient's identifier.", show_default=False)],
    as_json: AsJson = False,
) -> None:
    """Show one patient: results and assessments (newest first)."""
    from sigmd.adapters.case_json import case_to_dict

    with _open(ctx) as registry:
        try:
            detail = registry.patient(patient_id)
        except RegistryError as error:
            raise _fail(str(error)) from None
    if as_json:
        _json(
            {
                "summary": _plain(detail.summary),
                "case": case_to_dict(detail.case),
                "assessments": [_plain(a) for a in detail.assessments],
                "disclaimer": DISCLAIMER,
            }
        )
        return
    summary = detail.summary
    console = Console()
    console.print(
        f"[bold]{summary.patient_id}[/bold] {summary.display_name or ''} {summary.sex}, born {summary.birth_date}"
    )
    results = Table("date", "analyte", "reported", "mg/dL", "laboratory range", "origin", title="Results")
    for r in detail.case.results:
        results.add_row(
            str(r.collected),
            r.analyte.value,
            f"{r.reported_value} {r.reported_unit}",
            r.quantity.describe("").strip(),
            r.lab_range.text if r.lab_range else "",
            r.origin,
        )
    console.print(results)
    assessments = Table(
        "assessed (UTC)",
        "as of",
        "label",
        "certainty",
        "profile",
        "reference set",
        "next review",
        "by",
        title="Assessments",
    )
    for a in detail.assessments:
        assessments.add_row(
            f"{a.created_at:%Y-%m-%d %H:%M}",
            str(a.as_of),
            a.label,
            a.certainty,
            a.profile_id,
            a.reference_set_id,
            str(a.next_follow_up or ""),
            a.actor,
        )
    console.print(assessments)
    if detail.assessments:
        console.print(detail.assessments[0].report.diagnosis.summary, markup=False)
    typer.echo(DISCLAIMER)


@registry_app.command("due")
def due_command(
    ctx: typer.Context,
    within: Annotated[int, typer.Option("--within", help="Include reviews due within this many days.")] = 30,
    as_of: AsOf = None,
    as_json: AsJson = False,
) -> None:
    """Patients due or overdue for review under their latest follow-up plan, soonest first."""
    as_of_date = _as_of(as_of)
    with _open(ctx) as registry:
        try:
            entries = registry.due_for_follow_up(as_of_date, within_days=within)
        except RegistryError as error:
            raise _fail(str(error)) from None
    if as_json:
        _json({"as_of": as_of_date, "disclaimer": DISCLAIMER, "due": [_plain(e) for e in entries]})
        return
    table = Table("patient", "name", "review", "days", "status", "label", "profile", "reference set", "tests")
    for e in entries:
        table.add_row(
            e.patient_id,
            e.display_name or "",
            str(e.next_follow_up),
            str(e.days_until),
            e.status,
            e.label or "",
            e.profile_id or "",
            e.reference_set_id or "",
            "; ".join(e.tests),
        )
    Console().print(table)
    typer.echo(f"{len(entries)} patient(s) due within {within} days of {as_of_date} or overdue")
    typer.echo(DISCLAIMER)


@registry_app.command("export")
def export_command(
    ctx: typer.Context,
    patient_id: Annotated[str, typer.Argument(help="The patient's identifier.", show_default=False)],
    fhir: Annotated[
        bool, typer.Option("--fhir", help="The latest assessment as a FHIR Bundle instead of case JSON.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of printing.")
    ] = None,
) -> None:
    """Export a patient as case JSON (everything stored), or the latest assessment as FHIR."""
    with _open(ctx) as registry:
        try:
            document = registry.export_fhir(patient_id) if fhir else registry.export_case_json(patient_id)
        except RegistryError as error:
            raise _fail(str(error)) from None
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {output}")


@registry_app.command("audit")
def audit_command(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Option("--patient", help="Only changes concerning this patient.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many entries (newest first).")] = 50,
    as_json: AsJson = False,
) -> None:
    """The audit log: who changed what, and when (newest first)."""
    with _open(ctx) as registry:
        try:
            entries = registry.audit(patient_id=patient, limit=limit)
        except RegistryError as error:
            raise _fail(str(error)) from None
    if as_json:
        _json([_plain(e) for e in entries])
        return
    table = Table("at (UTC)", "actor", "action", "entity", "id", "detail")
    for e in entries:
        detail = json.dumps(e.detail, ensure_ascii=False, default=str)
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.actor,
            e.action,
            e.entity,
            e.entity_id,
            detail if len(detail) <= 120 else detail[:117] + "...",
        )
    Console().print(table)
