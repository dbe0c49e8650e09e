"""The Registry: patients, their results, assessments and follow-up plans, users, and the audit log.

One engine is shared (thread-safe; the web app calls in from worker threads) and every call opens its own
session. Every method that writes does so in one transaction that also holds its audit rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from sigmd import content
from sigmd.adapters.case_json import case_to_dict
from sigmd.core.assessment import AssessmentError
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case
from sigmd.registry import accounts, erasure, merge, rows, signin
from sigmd.registry.api import (
    AuditEntry,
    DueEntry,
    ErasureReceipt,
    ImportOutcome,
    LoginOutcome,
    LoginPolicy,
    LoginResult,
    PatientDetail,
    PatientSummary,
    RegistryError,
    Role,
    StoredAssessment,
    UserInfo,
)
from sigmd.registry.audit import read_audit, record_change
from sigmd.registry.database import Database, create_registry_engine, migrate, resolve_url
from sigmd.registry.follow_up import due_for_follow_up, latest_assessments
from sigmd.registry.imports import read_import
from sigmd.registry.models import Assessment as AssessmentRow
from sigmd.registry.models import FollowUpPlan
from sigmd.registry.models import Patient as PatientRow
from sigmd.report import Report, assess_every_profile

MAX_PATIENT_ID = 200


class Registry:
    """The follow-up registry on SQLite (default) or PostgreSQL."""

    def __init__(self, database: Database, url: str, knowledge: Knowledge) -> None:
        self._db = database
        self.url = url
        """The database URL, with any password hidden."""
        self.knowledge = knowledge

    @classmethod
    def open(
        cls, url: str | None = None, *, data_dir: Path | None = None, knowledge: Knowledge | None = None
    ) -> Registry:
        """Open (creating and migrating as needed) the registry at `url`, or the SQLite file in `data_dir`.

        Without either: $SIGMD_DATABASE_URL, else `registry.sqlite3` in $SIGMD_DATA_DIR or ~/.local/share/sigmd.
        `knowledge` is the clinical content imports and reassessments judge with (default: the bundled content).
        """
        resolved = resolve_url(url, data_dir)
        engine = create_registry_engine(resolved)
        try:
            migrate(engine)
        except Exception:
            engine.dispose()
            raise
        return cls(
            Database(engine),
            resolved.render_as_string(hide_password=True),
            knowledge if knowledge is not None else content.load(),
        )

    def close(self) -> None:
        self._db.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # accounts

    def has_users(self) -> bool:
        with self._db.reading() as session:
            return accounts.has_users(session)

    def create_user(self, username: str, password: str, role: Role, *, actor: str) -> UserInfo:
        try:
            with self._db.writing() as session:
                return accounts.create_user(session, username, password, role, actor=actor)
        except IntegrityError:
            raise RegistryError(f"username: {username!r} already exists") from None

    def authenticate(
        self,
        username: str,
        password: str,
        *,
        client: str | None = None,
        policy: LoginPolicy | None = None,
        now: datetime | None = None,
    ) -> LoginResult:
        """A sign-in attempt: throttled per account name and client address, counted and audited (no password).

        Two short transactions around the slow password check, so that a sign-in never holds the write lock
        while Argon2 runs; the attempt is counted in the first, so parallel guesses cannot pass the limit.
        """
        now = now or _now()
        with self._db.writing() as session:
            attempt = signin.begin(session, username, client=client, policy=policy or LoginPolicy(), now=now)
        if attempt.locked_until is not None:
            return LoginResult(LoginOutcome.LOCKED, locked_until=attempt.locked_until)
        right = accounts.verify_hash(attempt.password_hash, password)
        with self._db.writing() as session:
            return signin.finish(session, attempt, right, now)

    def change_password(
        self,
        username: str,
        current: str,
        new: str,
        *,
        keep_session: str | None = None,
        policy: LoginPolicy | None = None,
        now: datetime | None = None,
    ) -> None:
        """A user changes their own password: the current one must be right (wrong ones count towards the lock).

        Every other session of the account ends; `keep_session` (the token of the session asking) stays.
        """
        now = now or _now()
        replacement = accounts.new_password(new)  # hashed before the write transaction, which it never holds
        with self._db.writing() as session:
            until = signin.check_not_locked(session, username, now)
            if until is not None:
                raise RegistryError(f"username: {username!r} is locked until {until:%H:%M} UTC after failed attempts")
            user = accounts.user_row(session, username)
            if not accounts.verify_password(user, current):
                started = signin.count_failure(session, username, policy or LoginPolicy(), now)
                record_change(
                    session,
                    at=now,
                    actor=username,
                    action="user.password.failure",
                    entity="user",
                    entity_id=username,
                    detail={} if started is None else {"locked_until": started.isoformat()},
                )
                failed = True
            else:
                failed = False
                accounts.set_password(session, username, replacement, actor=username, now=now)
                signin.revoke_user_sessions(session, user, now, keep_token=keep_session)
        if failed:
            raise RegistryError("current password: is not right")

    def set_password(self, username: str, password: str, *, actor: str) -> None:
        """Set an account's password (administration, `sigmd registry passwd`); its sessions end."""
        now = _now()
        replacement = accounts.new_password(password)  # hashed before the write transaction, which it never holds
        with self._db.writing() as session:
            user = accounts.set_password(session, username, replacement, actor=actor, now=now)
            signin.revoke_user_sessions(session, user, now)

    def set_role(self, username: str, role: Role | str, *, actor: str) -> UserInfo:
        with self._db.writing() as session:
            return accounts.set_role(session, username, role, actor=actor, now=_now())

    def set_disabled(self, username: str, disabled: bool, *, actor: str) -> UserInfo:
        """Disable an account (it cannot sign in and its sessions end at once) or enable it again."""
        now = _now()
        with self._db.writing() as session:
            user = accounts.set_disabled(session, username, disabled, actor=actor, now=now)
            if disabled:
                signin.revoke_user_sessions(session, user, now)
            return accounts.user_info(user)

    # web sessions

    def open_session(self, user: UserInfo, *, lifetime: timedelta, now: datetime | None = None) -> str:
        """A new session token for a signed-in user; the registry keeps its hash to check and revoke it."""
        with self._db.writing() as session:
            return signin.open_session(session, user, lifetime=lifetime, now=now or _now())

    def session_user(self, token: str, *, now: datetime | None = None) -> UserInfo | None:
        """The user of a live session (None once revoked, expired, or the account is disabled or gone)."""
        with self._db.reading() as session:
            return signin.session_user(session, token, now or _now())

    def revoke_session(self, token: str, *, now: datetime | None = None) -> None:
        with self._db.writing() as session:
            signin.revoke_session(session, token, now or _now())

    def get_user(self, username: str) -> UserInfo | None:
        with self._db.reading() as session:
            return accounts.get_user(session, username)

    def list_users(self) -> list[UserInfo]:
        with self._db.reading() as session:
            return accounts.list_users(session)

    # patients

    def record(
        self,
        case: Case,
        *,
        patient_id: str,
        actor: str,
        as_of: date,
        profile_id: str | None = None,
        reference_set_id: str | None = None,
        display_name: str | None = None,
        source: str = "manual",
    ) -> StoredAssessment:
        """Merge `case` into the stored patient (created if new), assess the result and store it with its plan.

        Results are appended (exact duplicates ignored); the other parts of the case replace the stored ones when
        the new case states them. Nothing is stored if the merged case cannot be assessed.
        """
        actor = accounts.check_actor(actor)
        patient_id = _check_patient_id(patient_id)
        profile = self._profile(profile_id)
        reference = self._reference_set(reference_set_id)
        for attempt in (1, 2):
            try:
                with self._db.writing() as session:
                    return self._record(
                        session, case, patient_id, actor, as_of, profile, reference, display_name, source
                    )
            except IntegrityError as error:
                # Two writers created the same new patient at once (PostgreSQL; SQLite writers queue at BEGIN):
                # the loser's transaction is rolled back whole, and once more finds the patient and merges into it.
                if attempt == 2:
                    raise RegistryError(f"patient_id: {patient_id!r} could not be written ({error.orig})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _record(
        self,
        session: Session,
        case: Case,
        patient_id: str,
        actor: str,
        as_of: date,
        profile: str,
        reference: str,
        display_name: str | None,
        source: str,
    ) -> StoredAssessment:
        now = datetime.now(UTC)

        def audit(action: str, entity: str, entity_id: str, detail: dict[str, Any]) -> None:
            record_change(
                session,
                at=now,
                actor=actor,
                action=action,
                entity=entity,
                entity_id=entity_id,
                detail=detail,
                patient_id=patient_id,
            )

        row = self._merge_patient(session, case, patient_id, display_name, source, audit, now)
        added, duplicates = merge.new_results([rows.lab_result(r) for r in row.results], case.results)
        for result in added:
            row.results.append(rows.result_row(result, source, actor, now))
        audit(
            "results.add",
            "result",
            patient_id,
            {"added": [rows.result_summary(r) for r in added], "duplicates_ignored": duplicates, "source": source},
        )

        stored_case = self._stored_case(row, patient_id)
        assessed_case = replace(stored_case, warnings=tuple(dict.fromkeys((*stored_case.warnings, *case.warnings))))
        report = self._assess(assessed_case, patient_id, as_of, profile, reference)
        primary = report.assessment
        follow = primary.follow_up
        session.flush()  # gives a new patient its id
        assessment = AssessmentRow(
            patient_pk=row.id,
            created_at=now,
            actor=actor,
            source=source,
            as_of=as_of,
            profile_id=profile,
            reference_set_id=reference,
            content_version=primary.content_version,
            label=primary.diagnosis.label.value,
            certainty=primary.diagnosis.certainty.value,
            next_follow_up=None if follow is None else follow.next_date,
            report=report.to_json(),
        )
        session.add(assessment)
        session.flush()
        if follow is not None:
            session.add(
                FollowUpPlan(
                    assessment_id=assessment.id,
                    patient_pk=row.id,
                    next_follow_up=follow.next_date,
                    interval=str(follow.interval),
                    reason=follow.reason,
                    tests=list(follow.tests),
                )
            )
        audit(
            "assessment.create",
            "assessment",
            str(assessment.id),
            {
                "as_of": as_of.isoformat(),
                "profile": profile,
                "reference_set": reference,
                "content_version": primary.content_version,
                "label": assessment.label,
                "certainty": assessment.certainty,
                "next_follow_up": None if follow is None else follow.next_date.isoformat(),
                "source": source,
            },
        )
        return rows.stored(assessment, patient_id, row.public_id)

    def _merge_patient(
        self,
        session: Session,
        case: Case,
        patient_id: str,
        display_name: str | None,
        source: str,
        audit: Callable[[str, str, str, dict[str, Any]], None],
        now: datetime,
    ) -> PatientRow:
        """The patient's row, locked, created or with demographics and context merged (results come after)."""
        row = session.scalar(
            select(PatientRow)
            .where(PatientRow.patient_id == patient_id)
            .options(selectinload(PatientRow.results))
            .with_for_update()
        )
        new_context, new_origins = merge.split_context(case)
        if row is None:
            row = PatientRow(
                patient_id=patient_id,
                display_name=display_name,
                sex=case.patient.sex.value,
                birth_date=case.patient.birth_date,
                birth_date_is_estimated=case.patient.birth_date_is_estimated,
                context=new_context,
                origins=new_origins,
                created_at=now,
                updated_at=now,
                results=[],
            )
            session.add(row)
            audit(
                "patient.create",
                "patient",
                patient_id,
                {**rows.demographics(row), "source": source, "parts": sorted(new_context)},
            )
        else:
            patient, changes = merge.merge_patient(rows.core_patient(row), case.patient, patient_id)
            context, origins, replaced = merge.merge_context(row.context, row.origins, new_context, new_origins)
            if display_name is not None and display_name != row.display_name:
                changes["display_name"] = [row.display_name, display_name]
                row.display_name = display_name
            if replaced:
                changes["replaced"] = replaced
            if changes:
                row.sex, row.birth_date = patient.sex.value, patient.birth_date
                row.birth_date_is_estimated = patient.birth_date_is_estimated
                row.context, row.origins, row.updated_at = context, origins, now
                audit("patient.update", "patient", patient_id, {**changes, "source": source})
        return row

    def _assess(self, case: Case, patient_id: str, as_of: date, profile: str, reference: str) -> Report:
        """The report under `profile`, with every profile's verdict in `by_profile`."""
        try:
            return assess_every_profile(
                case, self.knowledge, as_of=as_of, patient_id=patient_id, profile_id=profile, reference_set_id=reference
            )
        except AssessmentError as error:
            raise RegistryError(f"patient {patient_id!r}: {error}") from None

    def _profile(self, profile_id: str | None) -> str:
        chosen = profile_id or self.knowledge.default_profile
        if chosen not in self.knowledge.profiles:
            raise RegistryError(
                f"profile_id: {chosen!r} is not a profile (known: {', '.join(self.knowledge.profiles)})"
            )
        return chosen

    def _reference_set(self, reference_set_id: str | None) -> str:
        chosen = reference_set_id or self.knowledge.default_reference_set
        if chosen not in self.knowledge.reference_sets:
            known = ", ".join(self.knowledge.reference_sets)
            raise RegistryError(f"reference_set_id: {chosen!r} is not a reference set (known: {known})")
        return chosen

    def import_text(self, data: str | bytes, *, actor: str, as_of: date, filename: str = "") -> list[ImportOutcome]:
        """Store every patient of an import file, each in its own transaction; one outcome per patient.

        Give a file's bytes as read: HL7 v2 is then decoded message by message as its MSH-18 declares
        (`sigmd.registry.imports.read_import`)."""
        actor = accounts.check_actor(actor)
        file_format, loaded = read_import(data, self.knowledge)
        source = f"import {file_format} {filename}".strip()
        outcomes: list[ImportOutcome] = []
        for item in loaded:
            if item.case is None:
                outcomes.append(ImportOutcome(item.patient_key, None, str(item.error or "could not be read")))
                continue
            try:
                stored = self.record(item.case, patient_id=item.patient_key, actor=actor, as_of=as_of, source=source)
            except RegistryError as error:
                outcomes.append(ImportOutcome(item.patient_key, None, str(error)))
            else:
                outcomes.append(ImportOutcome(item.patient_key, stored, None))
        with self._db.writing() as session:
            record_change(
                session,
                at=datetime.now(UTC),
                actor=actor,
                action="import",
                entity="file",
                entity_id=filename or "(text)",
                detail={
                    "format": file_format,
                    "as_of": as_of.isoformat(),
                    "stored": [o.patient_id for o in outcomes if o.error is None],
                    "not_stored": {o.patient_id: o.error for o in outcomes if o.error is not None},
                },
            )
        return outcomes

    def list_patients(self) -> list[PatientSummary]:
        latest = latest_assessments()
        query = (
            select(PatientRow, *rows.SUMMARY_COLUMNS)
            .outerjoin(latest, latest.c.patient_pk == PatientRow.id)
            .outerjoin(AssessmentRow, AssessmentRow.id == latest.c.assessment_id)
            .order_by(PatientRow.patient_id)
        )
        with self._db.reading() as session:
            return [rows.summary(found[0], *found[1:]) for found in session.execute(query)]

    def patient(self, patient_id: str) -> PatientDetail:
        with self._db.reading() as session:
            row = self._patient_row(session, patient_id)
            case = self._stored_case(row, patient_id)
            found = session.scalars(
                select(AssessmentRow).where(AssessmentRow.patient_pk == row.id).order_by(AssessmentRow.id.desc())
            )
            assessments = [rows.stored(a, patient_id, row.public_id) for a in found]
        latest = assessments[0] if assessments else None
        summary = rows.summary(row, *rows.latest_columns(latest))
        return PatientDetail(summary=summary, case=case, assessments=assessments)

    def patient_id_for(self, ref: str) -> str:
        """The identifier of the patient whose opaque page reference is `ref` (the reference is not echoed)."""
        with self._db.reading() as session:
            found = session.scalar(select(PatientRow.patient_id).where(PatientRow.public_id == ref))
        if found is None:
            raise RegistryError("patient reference: no patient in the registry has this reference")
        return found

    def erase_patient(self, patient_id: str, *, actor: str) -> ErasureReceipt:
        """Remove the patient with their results, assessments and plans (the right to erasure).

        Earlier audit entries about the patient lose every patient detail; one `patient.erase` entry, holding
        counts only, records who erased and when.
        """
        actor = accounts.check_actor(actor)
        with self._db.writing() as session:
            row = session.scalar(select(PatientRow).where(PatientRow.patient_id == patient_id).with_for_update())
            if row is None:
                raise RegistryError(f"patient_id: {patient_id!r} is not in the registry")
            return erasure.erase(session, row, actor=actor, now=_now())

    def _stored_case(self, row: PatientRow, patient_id: str) -> Case:
        """The core case of a stored patient: every stored result with the patient's context."""
        return merge.rebuild_case(
            rows.core_patient(row),
            [rows.lab_result(r) for r in row.results],
            row.context,
            row.origins,
            self.knowledge,
            patient_id,
        )

    def _patient_row(self, session: Session, patient_id: str) -> PatientRow:
        row = session.scalar(
            select(PatientRow).where(PatientRow.patient_id == patient_id).options(selectinload(PatientRow.results))
        )
        if row is None:
            raise RegistryError(f"patient_id: {patient_id!r} is not in the registry")
        return row

    def export_case_json(self, patient_id: str) -> dict[str, Any]:
        """Everything stored for the patient as a case document (valid against the case schema)."""
        document = case_to_dict(self.patient(patient_id).case)
        document["patient"] = {"id": patient_id, **document["patient"]}
        return document

    def export_fhir(self, patient_id: str) -> dict[str, Any]:
        """The latest assessment as a FHIR Bundle (`adapters.fhir_out.assessment_to_fhir`)."""
        from sigmd.adapters.fhir_out import assessment_to_fhir

        with self._db.reading() as session:
            row = self._patient_row(session, patient_id)
            report = session.scalar(
                select(AssessmentRow.report)
                .where(AssessmentRow.patient_pk == row.id)
                .order_by(AssessmentRow.id.desc())
                .limit(1)
            )
        if report is None:
            raise RegistryError(f"patient_id: {patient_id!r} has no assessment to export")
        return assessment_to_fhir(report, fhir_patient_reference(patient_id))

    def due_for_follow_up(self, as_of: date, *, within_days: int = 30) -> list[DueEntry]:
        """Patients due (within `within_days`) or overdue for review under their latest plan, soonest first."""
        with self._db.reading() as session:
            return due_for_follow_up(session, as_of, within_days=within_days)

    def audit(self, *, patient_id: str | None = None, limit: int = 200) -> list[AuditEntry]:
        """The audit log, newest first."""
        if limit < 1:
            raise RegistryError(f"limit: {limit!r} must be at least 1")
        with self._db.reading() as session:
            return read_audit(session, patient_id=patient_id, limit=limit)


def _now() -> datetime:
    return datetime.now(UTC)


def fhir_patient_reference(patient_id: str) -> str:
    """`Patient/<id>`, with the characters a FHIR id does not allow replaced (as `sigmd assess --fhir-out`)."""
    return "Patient/" + re.sub(r"[^A-Za-z0-9\-.]", "-", patient_id)[:64]


def _check_patient_id(patient_id: str) -> str:
    if not isinstance(patient_id, str) or not patient_id.strip() or len(patient_id.strip()) > MAX_PATIENT_ID:
        raise RegistryError(f"patient_id: {patient_id!r} must be 1-{MAX_PATIENT_ID} characters")
    return patient_id.strip()
