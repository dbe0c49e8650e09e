"""HL7 v2 result statuses, and the corrections, withdrawals and promotions they make (OBX-11, HL7 table 0085).

A corrected (C) or amended (A) result replaces the final one of the same analyte and collection time; a deleted (D)
or wrong (W) one withdraws it; U without a value makes the preliminary result of that analyte and time final. They
are applied in input order (`resolve`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sigmd.core.model import Analyte, InputNote, InputNoteKind, LabResult


class Use(StrEnum):
    """What the reader does with an OBX of a given result status."""

    FINAL = "final"
    CORRECTION = "correction"
    WITHDRAWAL = "withdrawal"
    NOT_FINAL = "not final"
    NO_RESULT = "no result"


STATUS: dict[str, tuple[Use, str]] = {
    "F": (Use.FINAL, "final"),
    "U": (Use.FINAL, "changed to final"),
    "V": (Use.FINAL, "verified final"),
    "B": (Use.FINAL, "final, appended report"),
    "C": (Use.CORRECTION, "corrected"),
    "A": (Use.CORRECTION, "amended"),
    "D": (Use.WITHDRAWAL, "deleted"),
    "W": (Use.WITHDRAWAL, "posted as wrong"),
    "P": (Use.NOT_FINAL, "preliminary"),
    "R": (Use.NOT_FINAL, "entered, not verified"),
    "S": (Use.NOT_FINAL, "partial"),
    "I": (Use.NO_RESULT, "pending"),
    "O": (Use.NO_RESULT, "order detail only"),
    "N": (Use.NO_RESULT, "not asked"),
    "X": (Use.NO_RESULT, "results cannot be obtained"),
}
"""HL7 table 0085 (http://terminology.hl7.org/CodeSystem/v2-0085) and what sigmd does with each status."""


@dataclass(frozen=True)
class Reading:
    """A usable OBX: its result, the test and collection time it stands for, and what its status does."""

    result: LabResult
    time: str
    use: Use
    status: str
    unfinished: str = ""
    """For a result that is not final: why it is not used (unless a later U makes it final)."""

    @property
    def origin(self) -> str:
        return self.result.origin.split(" (lab flag")[0]


@dataclass(frozen=True)
class Withdrawal:
    analyte: Analyte
    time: str
    status: str
    origin: str


@dataclass(frozen=True)
class Promotion:
    """OBX-11 U without a value: the preliminary result of that analyte and time is now final."""

    analyte: Analyte
    time: str
    origin: str


Event = Reading | Withdrawal | Promotion


def resolve(events: list[Event]) -> tuple[list[LabResult], list[InputNote]]:
    """Apply corrections, withdrawals and promotions in input order: the results that stand, and notes on the
    others."""
    active: list[Reading] = []
    pending: list[Reading] = []
    notes: list[InputNote] = []

    def matching(readings: list[Reading], analyte: Analyte, time: str) -> list[Reading]:
        return [r for r in readings if r.result.analyte is analyte and same_time(r.time, time)]

    def add_final(reading: Reading) -> None:
        corrections = [r for r in matching(active, reading.result.analyte, reading.time) if r.use is Use.CORRECTION]
        if not corrections:
            active.append(reading)
            return
        notes.append(
            InputNote(
                InputNoteKind.REPLACED,
                reading.origin,
                f"{reading.result.analyte}: {corrections[-1].origin} (OBX-11 {corrections[-1].status}) came "
                "earlier and corrects the same result, so the correction stands",
            )
        )

    for event in events:
        if isinstance(event, Withdrawal):
            meaning = STATUS[event.status][1]
            gone = matching(active, event.analyte, event.time)
            for reading in gone:
                notes.append(
                    InputNote(
                        InputNoteKind.IGNORED,
                        reading.origin,
                        f"{event.analyte} {reading.result.reported_value} {reading.result.reported_unit} was "
                        f"withdrawn by {event.origin} (OBX-11 {event.status}: {meaning})",
                    )
                )
            active = [r for r in active if r not in gone]
            removed = f"; it removed {len(gone)} earlier result(s)" if gone else "; no earlier result matched"
            notes.append(
                InputNote(
                    InputNoteKind.IGNORED,
                    event.origin,
                    f"{event.analyte}: its result status is {event.status} ({meaning}){removed}",
                )
            )
        elif isinstance(event, Promotion):
            promoted = matching(pending, event.analyte, event.time)
            pending = [r for r in pending if r not in promoted]
            for reading in promoted:
                add_final(reading)
            if not promoted:
                notes.append(
                    InputNote(
                        InputNoteKind.SKIPPED,
                        event.origin,
                        f"{event.analyte}: its result status is U (changed to final) without a value, and no "
                        "preliminary result of that collection time came before it",
                    )
                )
        elif event.use is Use.NOT_FINAL:
            pending.append(event)
        elif event.use is Use.CORRECTION:
            same = matching(active, event.result.analyte, event.time)
            for reading in same:
                notes.append(
                    InputNote(
                        InputNoteKind.REPLACED,
                        reading.origin,
                        f"{reading.result.analyte} {reading.result.reported_value} {reading.result.reported_unit} "
                        f"was corrected by {event.origin} (OBX-11 {event.status}) to {event.result.reported_value} "
                        f"{event.result.reported_unit}",
                    )
                )
            active = [r for r in active if r not in same]
            active.append(event)
        else:
            add_final(event)
    notes.extend(InputNote(InputNoteKind.SKIPPED, r.origin, r.unfinished) for r in pending)
    return [r.result for r in active], notes


def time_key(text: str) -> str:
    """A collection time's digits to the minute (YYYYMMDDHHMM at most), without seconds or time zone."""
    digits = re.match(r"\s*([0-9]*)", text)
    return (digits.group(1) if digits else "")[:12]


def same_time(first: str, second: str) -> bool:
    """Two collection times are the same when they agree to the precision both give (the day at least)."""
    shorter = min(len(first), len(second))
    return shorter >= 8 and first[:shorter] == second[:shorter]
