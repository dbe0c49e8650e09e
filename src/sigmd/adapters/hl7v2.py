"""HL7 v2 ORU^R01 input, parsed with the `hl7` package (`pip install 'sigmd[hl7]'`).

Read: PID-3 (patient identifier, to group a batch), PID-7 birth date, PID-8 sex; for each OBX: OBX-3 code
(LOINC, or a local code through a mapping the caller gives), OBX-2 value type, OBX-5 value with `<`/`>`,
OBX-6 unit, OBX-7 reference range (the laboratory's own), OBX-8 abnormal flag, OBX-11 result status and
OBX-14 date (else OBR-7). A message may hold several patients: each OBX belongs to the PID before it.

Who the patient is (sigmd defaults, chosen to fail safe: one patient's results must never reach another's
verdict):

- PID-3.1 with its assigning authority PID-3.4 (namespace ID, else universal ID) names the patient. The same
  identifier from two authorities is two patients, keyed `SYN200^^^SYNTHHOSP` and `SYN200^^^OTHERHOSP` (FHIR
  refuses one id named at two servers for the same reason: they may be two people); an identifier from one
  authority only is keyed by PID-3.1 alone, and a message of it without PID-3.4 is that patient's. Beside two
  authorities, the identifier without one could be either patient: it is refused.
- PID-5 (surname and given name, compared without case and spacing) must agree across a patient's messages, as
  the birth date and sex must: a placeholder identifier (`UNKNOWN`) shared by two people refuses the patient. A
  message without a name does not disagree. Names appear in the refusal only, never in logs.
- PID-29, the date of death: a result collected after it (after the last day a date to the month or year
  allows) cannot be this patient's, and is skipped with the reason rather than used with a warning, so that it
  cannot carry a verdict. The earliest date of death given for the patient applies.

The specimen: sigmd judges serum or plasma immunoglobulins. The specimen an OBR states, in OBR-15.1 (to v2.4,
kept for backward compatibility after) or in SPM-4 of its SPM segments (v2.5 and later; they follow the OBR's
OBX segments), is read from HL7 tables 0487 and 0070: serum, plasma or blood (SER, PLAS, BLD, SER/PLAS...) is
used; CSF, urine, other body fluids and tissues skip the OBR's results with the reason; a code sigmd cannot
classify is used with a warning naming it; no specimen is read as serum. An OBX-3 text naming another
specimen (`IgM Urine`) is skipped too.

Every OBX that is not used is kept in the case's input notes with the reason (not an immunoglobulin code,
a code without a recognised coding system, a status that is not final, no collection time, a value that is
not a number...).

Result status (OBX-11, HL7 table 0085, http://terminology.hl7.org/CodeSystem/v2-0085). sigmd default,
chosen to fail safe: only results the laboratory has released as final are used.

- F (final), U (changed to final), V (verified, v2.8) and B (appended report, values unchanged, v2.8) are
  used as final results.
- C (correction, "replaces a final result") and A (amended after a change of demographics, v2.8) replace
  the earlier result of the same analyte at the same collection time (a time given only to the day matches
  any time on that day); the replaced one is listed as REPLACED. A correction at another collection time is a
  new result. A final result that comes after a correction of the same result does not undo it.
- D (deletes the OBX record) and W (posted as wrong, for example sent for the wrong patient) remove every
  earlier result of the same analyte and collection time; both the withdrawal and what it removed are listed
  as IGNORED. A correction or withdrawal without a collection day is refused: sigmd cannot tell which
  result it means, and keeping a possibly withdrawn value would be unsafe.
- P (preliminary), R (not verified) and S (partial) are not used: the laboratory may still change them, and a
  verdict about a deficiency should not rest on a value it has not released. The final result follows, either
  with its value (F) or as U without a value, which makes the earlier unfinished result of that analyte and
  time final. A result sigmd would not use refuses no one, even when its date, value or unit is wrong.
- I (pending), O (order only), N (not asked) and X (cannot be obtained) carry no result; an empty or unknown
  OBX-11 (the field is required) is not used either, since sigmd cannot tell whether the value is final.

The refusal boundary: whatever the `hl7` library or Python raises while reading one message becomes an
`InputError` naming the field and value, and refuses that message's patient (never the whole batch); the
other messages and patients are read on. A message that cannot be read at all refuses the patient named in
its PID-3 when that can still be found, else stands as its own entry (`message N`).

Input may be text or bytes. Bytes are decoded as UTF-8 unless MSH-18 declares ISO 8859-1 (`8859/1`); bytes
that cannot be decoded refuse their message, naming the byte position in the input.

Size limits (sigmd defaults: a laboratory's immunoglobulin ORU^R01 is a few kilobytes; the limits keep one
file from tying up a server; the population screening commands read tabular files instead):

- the input as a whole within `sigmd.adapters.limits.MAX_INPUT_CHARS`, like every reader;
- at most `MAX_MESSAGES` (10,000) messages per input, else the input is refused;
- at most `MAX_MESSAGE_CHARS` (100,000) characters per message (an ORU^R01 with several hundred OBX), else
  that message is refused. The `hl7` parser reads about 0.2-0.4 MB a second on a shared two-core machine
  (measured), so the limits bound the time one input can take; it grows with the input's length, not faster;
- at most `MAX_RESULTS_PER_PATIENT` (5,000) immunoglobulin results per patient (one a day for 13 years),
  else the patient is refused; beyond `MAX_NOTES_PER_PATIENT` (1,000) records not used, the rest are counted
  in one note rather than listed;
- OBX-5 values longer than `MAX_VALUE_CHARS` (64) characters are not numbers (not used, with the reason) and
  OBX-7 ranges longer than that are not used as ranges.

An OBX-5 value with an HL7 escape sequence other than a separator (`\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`), such as a
formatting command (`\\.br\\`, `\\H\\`) or a character code (`\\X30\\`), is text, not a number: it is skipped
with the reason (`0\\.br\\15` is not 015), and such an OBX-7 is not used as a range.

The `hl7` parser only splits segments on carriage returns, so line endings are normalised (`\\r\\n`, `\\n`,
`\\r`) and MLLP framing bytes (0x0b, 0x1c 0x0d) are stripped first. A batch (several MSH, with or without
FHS/BHS/BTS/FTS envelopes) gives one case per patient.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sigmd.adapters.grouping import LoadedCase, PatientIndex
from sigmd.adapters.hl7v2_corrections import STATUS, Event, Promotion, Reading, Use, Withdrawal, resolve, time_key
from sigmd.adapters.hl7v2_patients import (
    IMPRECISE_DATE,
    Death,
    PatientId,
    PatientKeys,
    Person,
    authority,
    folded,
    hl7_date,
    last_day,
)
from sigmd.adapters.limits import check_size
from sigmd.adapters.results import build_result, check_date, resolve_analyte
from sigmd.adapters.specimens import OTHER_WORDS, SpecimenKind, kind_of
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, InputNote, InputNoteKind, Sex
from sigmd.core.values import ValueFormatError, parse_reported_value
from sigmd.errors import InputError

MAX_MESSAGES = 10_000
"""Messages per input; more refuse the input (sigmd default, see the module notes)."""
MAX_MESSAGE_CHARS = 100_000
"""Characters per message; a longer message is refused on its own (sigmd default)."""
MAX_RESULTS_PER_PATIENT = 5_000
"""Immunoglobulin results (and withdrawals) per patient; more refuse the patient (sigmd default)."""
MAX_NOTES_PER_PATIENT = 1_000
"""Notes listed one by one per patient; the rest are counted in one note (sigmd default)."""
MAX_VALUE_CHARS = 64
"""Longest OBX-5 value or OBX-7 range read as numbers (sigmd default; longer text is not a lab number)."""

_SEX = {"F": Sex.FEMALE, "M": Sex.MALE, "O": Sex.OTHER, "A": Sex.OTHER, "U": Sex.UNKNOWN, "N": Sex.UNKNOWN}
_NUMERIC_TYPES = ("NM", "SN")
_ENVELOPE = ("FHS", "BHS", "BTS", "FTS")
_RANGE = re.compile(r"^\s*(?P<low>[0-9]*\.?[0-9]+)\s*(?:-|–|to)\s*(?P<high>[0-9]*\.?[0-9]+)\s*$")
_ONE_SIDED = re.compile(r"^\s*(?P<op><=|>=|<|>)\s*(?P<value>[0-9]*\.?[0-9]+)\s*$")
_FINAL_ONLY = "sigmd uses final (F) or corrected (C) results only"
_SERUM_ONLY = "sigmd judges serum IgM only"
_SEPARATOR_ESCAPES = ("F", "S", "T", "R", "E")
"""The HL7 escape sequences that stand for a separator character; every other one formats text."""
_SN_COMPARATORS = ("", "=", "<", ">", "<=", ">=")
_UTF8_CHARSETS = ("", "ASCII", "UNICODE UTF-8", "UTF-8", "UTF8")
_LATIN1_CHARSETS = ("8859/1",)
_NOT_TEXT = re.compile("[\ud800-\udfff]")
"""A lone surrogate: from bytes, one that was not UTF-8 (kept by the `surrogateescape` decoder so that its
position can be named); in text given as such, a character that is not text."""


def _hl7() -> Any:
    try:
        import hl7
    except ImportError as error:
        raise ImportError("HL7 v2 support needs the hl7 extra: pip install 'sigmd[hl7]'") from error
    return hl7


# --- splitting an input into messages -------------------------------------------------------------------


@dataclass
class _RawMessage:
    """The segments of one message, with each line as written and where it starts in the input."""

    number: int
    segments: list[str] = field(default_factory=list)
    lines: list[tuple[str, int]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\r".join(self.segments)


def _lines(text: str) -> list[tuple[str, str, int]]:
    """The non-blank segments of a text without MLLP framing, each with its line as written and its offset."""
    lines = []
    for match in re.finditer(r"[^\r\n]+", text):
        line = match.group()
        segment = line.replace("\x0b", "").replace("\x1c", "").lstrip("\ufeff")
        if segment.strip():
            lines.append((segment, line, match.start()))
    return lines


def _split(text: str) -> list[_RawMessage]:
    """Messages start at MSH; envelope segments are dropped; segments before the first MSH form message 0."""
    messages: list[_RawMessage] = []
    stray = _RawMessage(0)
    for segment, line, start in _lines(text):
        if segment.startswith(_ENVELOPE):
            continue
        if segment.startswith("MSH"):
            messages.append(_RawMessage(len(messages) + 1))
        target = messages[-1] if messages else stray
        target.segments.append(segment)
        target.lines.append((line, start))
    return [stray, *messages] if stray.segments else messages


def split_messages(text: str) -> list[str]:
    """The messages of a file or stream: each starts at an MSH segment; batch envelope segments are dropped."""
    return [message.text for message in _split(text) if message.number > 0]


# --- decoding ---------------------------------------------------------------------------------------------


class _BytePositions:
    """Byte offsets of character offsets in a decoded input, counted on from the last one asked for."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.chars = 0
        self.bytes = 0

    def at(self, chars: int) -> int:
        if chars < self.chars:
            self.chars = self.bytes = 0
        self.bytes += len(self.source[self.chars : chars].encode("utf-8", "surrogateescape"))
        self.chars = chars
        return self.bytes


def _decode(message: _RawMessage, positions: _BytePositions, from_bytes: bool) -> str:
    """The message's text; from bytes, decoded as its MSH-18 declares (UTF-8 unless 8859/1).

    Text that still holds bytes that were not UTF-8 (or, given as text, lone surrogates) is refused, naming
    the position of the first such byte (or character) in the input.
    """
    text = message.text
    charset = _charset(message.segments[0]) if from_bytes else ""
    if charset in _LATIN1_CHARSETS:
        return "\r".join(s.encode("utf-8", "surrogateescape").decode("latin-1") for s in message.segments)
    for line, start in message.lines:
        bad = _NOT_TEXT.search(line)
        if bad is None:
            continue
        if not from_bytes:
            raise InputError(
                f"message {message.number} character {start + bad.start()}",
                f"U+{ord(bad.group()):04X}",
                "is a lone surrogate, not text",
            )
        declared = f" (MSH-18 declares {charset!r}, which sigmd does not decode)" if charset else ""
        raise InputError(
            f"message {message.number} byte {positions.at(start + bad.start())}",
            f"0x{ord(bad.group()) - 0xDC00:02x}",
            f"is not UTF-8 text{declared}; save the file as UTF-8 or declare 8859/1 in MSH-18",
        )
    if charset not in _UTF8_CHARSETS and not text.isascii():
        raise InputError(f"message {message.number} MSH-18", charset, "is a character set sigmd does not decode")
    return text


def _charset(msh: str) -> str:
    """MSH-18 read without the parser (it decides how the rest is decoded)."""
    if len(msh) < 4:
        return ""
    parts = msh.split(msh[3])
    if len(parts) <= 17:
        return ""
    first = parts[17].split(msh[5] if len(msh) > 5 else "~")[0]
    return first.split(msh[4] if len(msh) > 4 else "^")[0].strip().upper()


# --- reading ---------------------------------------------------------------------------------------------


def load_hl7v2(
    data: str | bytes, knowledge: Knowledge, local_codes: Mapping[str, Analyte] | None = None
) -> list[LoadedCase]:
    """One case per patient (PID-3) from one ORU^R01 message or a batch of them (text, or bytes as received)."""
    hl7 = _hl7()
    check_size(len(data))
    from_bytes = isinstance(data, bytes)
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    raw_messages = _split(text)
    if not any(message.number > 0 for message in raw_messages):
        shown = text[:40].encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise InputError("(file)", shown, "holds no HL7 v2 message (no MSH segment)")
    if len(raw_messages) > MAX_MESSAGES:
        raise InputError(
            "(file)", f"{len(raw_messages)} messages", f"holds more than {MAX_MESSAGES} messages; split it"
        )
    read: list[_PatientPart | tuple[PatientId, InputError]] = []
    positions = _BytePositions(text)
    for raw in raw_messages:
        try:
            read.extend(_read_raw(hl7, raw, positions, from_bytes, knowledge, local_codes or {}))
        except InputError as error:
            read.append((_patient_id_of(raw), error))
    keys = PatientKeys([item.patient if isinstance(item, _PatientPart) else item[0] for item in read])
    index = PatientIndex()
    events: dict[str, list[Event]] = {}
    people: dict[str, Person] = {}
    for item in read:
        if not isinstance(item, _PatientPart):
            index.get(keys[item[0]]).errors.append(item[1])
            continue
        key = keys[item.patient]
        records = index.get(key)
        ambiguous = keys.ambiguous(item.patient, item.place)
        if ambiguous is not None:
            records.errors.append(ambiguous)
        if item.demographics is not None:
            records.guard(records.set_demographics, *item.demographics)
        records.guard(people.setdefault(key, Person(key)).add, item.name, item.death)
        records.warnings.extend(item.warnings)
        records.input_notes.extend(item.notes)
        events.setdefault(key, []).extend(item.events)
    for key, patient_events in events.items():
        records = index.get(key)
        if len(patient_events) > MAX_RESULTS_PER_PATIENT:
            records.errors.append(
                InputError(
                    f"patient {key}",
                    f"{len(patient_events)} immunoglobulin results",
                    f"are more than sigmd reads for one patient ({MAX_RESULTS_PER_PATIENT})",
                )
            )
            continue
        results, notes = resolve(patient_events)
        person = people.get(key)
        if person is not None and person.death is not None:
            results = person.drop_after_death(results, notes)
        records.results.extend(results)
        records.input_notes.extend(notes)
    for key in index.patient_keys():
        _shorten_notes(index.get(key).input_notes)
    return index.loaded_cases()


def _shorten_notes(notes: list[InputNote]) -> None:
    """Keep the first `MAX_NOTES_PER_PATIENT` notes and count the rest in one last note."""
    if len(notes) <= MAX_NOTES_PER_PATIENT:
        return
    rest = notes[MAX_NOTES_PER_PATIENT:]
    del notes[MAX_NOTES_PER_PATIENT:]
    counts = ", ".join(f"{sum(n.kind is kind for n in rest)} {kind.value}" for kind in InputNoteKind)
    notes.append(InputNote(InputNoteKind.SKIPPED, f"{len(rest)} more records", f"not listed one by one ({counts})"))


def _read_raw(
    hl7: Any,
    raw: _RawMessage,
    positions: _BytePositions,
    from_bytes: bool,
    knowledge: Knowledge,
    local: Mapping[str, Analyte],
) -> list[_PatientPart]:
    """One message read in full, or an InputError: the refusal boundary for everything the parser raises."""
    where = f"message {raw.number}"
    if raw.number == 0:
        raise InputError(f"{where} (before the first MSH)", raw.segments[0][:3], "is a segment outside any message")
    text = _decode(raw, positions, from_bytes)
    if len(text) > MAX_MESSAGE_CHARS:
        raise InputError(where, f"{len(text)} characters", f"is longer than {MAX_MESSAGE_CHARS} characters")
    reader = _MessageReader(where, knowledge, local)
    try:
        message = hl7.parse(text)
    except Exception as error:  # the parser raises plain exceptions (IndexError, AssertionError...) on bad text
        raise InputError(where, text[:40], f"is not a parsable HL7 v2 message ({_describe(error)})") from None
    try:
        return reader.read(message)
    except InputError:
        raise
    except Exception as error:  # the refusal boundary: nothing but an InputError leaves the reader
        field_name, value = reader.cursor
        raise InputError(field_name, _shown(value), f"could not be read ({_describe(error)})") from None


def _shown(value: object) -> str:
    """A field's text for an error message, cut to 80 characters (never raises)."""
    try:
        return str(value)[:80]
    except Exception:  # a value that cannot even be shown is named by its field alone
        return ""


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text[:80]}" if text else type(error).__name__


def _patient_id_of(raw: _RawMessage) -> PatientId:
    """PID-3.1 and PID-3.4 found without the parser, so that an unreadable message refuses its patient, not a
    stranger."""
    fallback = PatientId(f"message {raw.number}")
    header = raw.segments[0] if raw.segments else ""
    if raw.number > 0 and len(header) > 7:
        field_sep, component_sep, repetition_sep, subcomponent_sep = header[3], header[4], header[5], header[7]
    else:
        field_sep, component_sep, repetition_sep, subcomponent_sep = "|", "^", "~", "&"
    for segment in raw.segments:
        if segment.startswith("PID"):
            fields = segment.split(field_sep)
            if len(fields) <= 3:
                return fallback
            components = fields[3].split(repetition_sep)[0].split(component_sep)
            value = components[0].split(subcomponent_sep)[0].strip()
            assigner = components[3].split(subcomponent_sep)[:2] if len(components) > 3 else []
            if not value or _NOT_TEXT.search(fields[3]) is not None:
                return fallback
            return PatientId(value, authority(*assigner))
    return fallback


@dataclass(frozen=True)
class _Specimen:
    """A specimen stated for an OBR's results: the field (OBR-15 or SPM-4), as written, and what it is."""

    field: str
    written: str
    kind: SpecimenKind


@dataclass
class _Group:
    """The OBX segments of one OBR, read once the OBR's SPM segments (which follow its OBX) are known."""

    time: str = ""
    specimens: list[_Specimen] = field(default_factory=list)
    ordered: bool = False
    """Whether an OBR opened the group (else it holds what came after the PID, before any OBR)."""
    observations: list[tuple[Any, str, _PatientPart]] = field(default_factory=list)


@dataclass
class _PatientPart:
    """What one message says about one patient."""

    patient: PatientId
    place: str
    demographics: tuple[Sex, date, str] | None = None
    name: tuple[str, str, str, str] | None = None
    """PID-5: surname and given name as compared (case and spaces folded), the name as written, where."""
    death: Death | None = None
    events: list[Event] = field(default_factory=list)
    notes: list[InputNote] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _MessageReader:
    """Reads one parsed message; `cursor` names the field being read, for the refusal of anything unexpected."""

    def __init__(self, where: str, knowledge: Knowledge, local: Mapping[str, Analyte]) -> None:
        self.where = where
        self.knowledge = knowledge
        self.local = local
        self.cursor: tuple[str, object] = (where, "")
        """The field being read and its value (stringified only for a refusal)."""
        self.specimens: list[_Specimen] = []
        """The specimens stated for the OBR whose OBX segments are being read (OBR-15, SPM-4)."""

    def get(self, segment: Any, place: str, number: int, component: int = 1, subcomponent: int = 1) -> str:
        """One component of the first repetition of a field, unescaped ('' when absent); a bare field is its
        first component, and a component with subcomponents gives its first subcomponent (or the one asked for)."""
        name = str(segment[0])
        self.cursor = (f"{place} {name}-{number}", "")
        if number >= len(segment):
            return ""
        value = segment[number]
        self.cursor = (f"{place} {name}-{number}", value)
        if name == "MSH" and number in (1, 2):
            return str(value)
        if not len(value):
            return ""
        repetition = value[0]
        if isinstance(repetition, str):
            return _unescape(segment, repetition) if component == subcomponent == 1 else ""
        if component > len(repetition):
            return ""
        part = repetition[component - 1]
        if isinstance(part, str):
            return _unescape(segment, part) if subcomponent == 1 else ""
        return _unescape(segment, str(part[subcomponent - 1])) if subcomponent <= len(part) else ""

    def whole(self, segment: Any, place: str, number: int) -> str:
        """A whole field as written (every repetition and component)."""
        self.cursor = (f"{place} {segment[0]}-{number}", "")
        return str(segment[number]) if number < len(segment) else ""

    def repetitions(self, segment: Any, number: int) -> int:
        return len(segment[number]) if number < len(segment) else 0

    def components(self, segment: Any, number: int) -> int:
        """How many components the first repetition of a field has (1 for a bare value)."""
        if number >= len(segment) or not len(segment[number]):
            return 0
        first = segment[number][0]
        return 1 if isinstance(first, str) else len(first)

    def read(self, message: Any) -> list[_PatientPart]:
        segments = list(message)
        msh = segments[0]
        message_type = f"{self.get(msh, self.where, 9, 1)}^{self.get(msh, self.where, 9, 2)}"
        parts: list[_PatientPart] = []
        seen: set[str] = set()
        group = _Group()
        for position, segment in enumerate(segments[1:], start=2):
            name = str(segment[0])
            self.cursor = (f"{self.where} {name}", "")
            if name == "PID":
                self._read_group(group)
                parts.append(self._patient(segment, len(parts)))
                group = _Group()
            elif name == "OBR":
                self._read_group(group)
                # an SPM before any OBR of this patient is taken to state the specimen of what follows
                group = _Group(self.get(segment, self.where, 7), [] if group.ordered else group.specimens, True)
                group.specimens.extend(self._specimen(segment, "OBR-15", 15))
            elif name == "SPM":
                group.specimens.extend(self._specimen(segment, "SPM-4", 4))
            elif name == "OBX":
                if not parts:
                    raise InputError(f"{self.where} OBX", None, "comes before any PID segment; whose result is it?")
                set_id = self.get(segment, self.where, 1).strip() or "?"
                # OBX-1 restarts under each OBR in many messages: a repeated set ID also names the segment's place
                place = f"{self.where} OBX {set_id}" + (f" (segment {position})" if set_id in seen else "")
                seen.add(set_id)
                group.observations.append((segment, place, parts[-1]))
        self._read_group(group)
        if not parts:
            raise InputError(f"{self.where} PID", None, "is missing; sigmd needs the patient's birth date and sex")
        for part in parts:
            if message_type not in ("ORU^R01", "^"):
                part.warnings.append(f"{self.where} is {message_type}, not ORU^R01; its OBX segments were read")
            if not part.events and not part.notes:
                part.warnings.append(f"{self.where} has no OBX segment for patient {part.patient.value} (no results)")
        return parts

    def _specimen(self, segment: Any, field_name: str, number: int) -> list[_Specimen]:
        """The specimen OBR-15 or SPM-4 states (none when the field is empty), with what sigmd makes of it."""
        code = self.get(segment, self.where, number, 1).strip()
        if (
            field_name == "OBR-15"
        ):  # SPS: component 1 is the specimen (code&text); `CSF^Cerebrospinal fluid` is often sent
            text = self.get(segment, self.where, number, 1, 2).strip() or self.get(segment, self.where, number, 2)
        else:  # SPM-4 is a CWE: code^text
            text = self.get(segment, self.where, number, 2)
        if not code and not text:
            return []
        whole = self.whole(segment, self.where, number)
        written = whole if len(whole) <= MAX_VALUE_CHARS else f"{whole[:MAX_VALUE_CHARS]}..."
        return [_Specimen(field_name, written, kind_of(code, text))]

    def _read_group(self, group: _Group) -> None:
        """Read the OBX segments of one OBR (with the specimen the OBR and its SPM segments state)."""
        self.specimens = group.specimens
        for segment, place, part in group.observations:
            self._obx(segment, place, group.time, part)
        group.observations.clear()
        self.specimens = []

    def _patient(self, pid: Any, count: int) -> _PatientPart:
        place = self.where if count == 0 else f"{self.where} PID {count + 1}"
        value = self.get(pid, place, 3, 1).strip()
        assigner = authority(self.get(pid, place, 3, 4, 1), self.get(pid, place, 3, 4, 2))
        patient = PatientId(value, assigner) if value else PatientId(place)
        birth_text = self.get(pid, place, 7)
        birth = hl7_date(birth_text)
        if birth is None:
            raise InputError(f"{place} PID-7", birth_text, "is not a birth date (YYYYMMDD)")
        check_date(birth, f"{place} PID-7", birth_text)
        sex_text = self.get(pid, place, 8)
        sex = _SEX.get(sex_text.upper() or "U")
        if sex is None:
            raise InputError(f"{place} PID-8", sex_text, "is not an HL7 sex code (F, M, O, U, A, N)")
        part = _PatientPart(patient, place, (sex, birth, f"{place} PID"))
        family, given = self.get(pid, place, 5, 1).strip(), self.get(pid, place, 5, 2).strip()
        if family or given:
            written = f"{family}^{given}" if given else family
            part.name = (folded(family), folded(given), written, f"{place} PID-5")
        death_text = self.get(pid, place, 29).strip()
        if death_text:
            part.death = Death(last_day(death_text, f"{place} PID-29"), death_text, f"{place} PID-29")
        return part

    def _analyte(self, obx: Any, place: str) -> tuple[Analyte | None, str]:
        """The analyte from OBX-3 (identifier, or alternate identifier), or None and why it is not used."""
        pairs = [(self.get(obx, place, 3, 1), self.get(obx, place, 3, 3))]
        pairs.append((self.get(obx, place, 3, 4), self.get(obx, place, 3, 6)))
        loinc = self.knowledge.loinc
        for code, system in pairs:
            if code and system.strip().upper() in ("LN", "LOINC") and code.strip() in loinc:
                return loinc[code.strip()], ""
        for code, _ in pairs:
            if code and code.strip() in self.local:
                return self.local[code.strip()], ""
        written = "; ".join(f"{c}^{s}" if s else c for c, s in pairs if c) or "(no code)"
        for code, system in pairs:
            if code.strip() in loinc and system.strip().upper() not in ("LN", "LOINC"):
                shown = f"coding system {system!r}" if system else "no coding system"
                return None, (
                    f"its code {written} has {shown} in OBX-3 (LN for LOINC), so sigmd cannot tell it is the "
                    "LOINC immunoglobulin code; map local codes with a code map"
                )
        return None, f"its code {written} is not an immunoglobulin code that sigmd reads"

    def _obx(self, obx: Any, place: str, obr_time: str, part: _PatientPart) -> None:
        specimens = self.specimens

        def skip(reason: str) -> None:
            part.notes.append(InputNote(InputNoteKind.SKIPPED, place, reason))

        analyte, why_not = self._analyte(obx, place)
        if analyte is None:
            skip(why_not)
            return
        other = next((s for s in specimens if s.kind is SpecimenKind.OTHER), None)
        if other is not None:
            skip(f"{analyte}: its specimen {other.written!r} ({other.field}) is {other.kind}; {_SERUM_ONLY}")
            return
        for number in (2, 5):
            test_name = self.get(obx, place, 3, number)
            if OTHER_WORDS.search(test_name):
                skip(
                    f"{analyte}: its test name {test_name!r} (OBX-3) names a specimen that is not serum or plasma; "
                    f"{_SERUM_ONLY}"
                )
                return
        status = self.get(obx, place, 11).strip().upper()
        use, meaning = STATUS.get(status, (None, ""))
        if use is None:
            shown = f"is {status!r}, not a code of HL7 table 0085" if status else "is empty (the field is required)"
            skip(f"{analyte}: its result status (OBX-11) {shown}; {_FINAL_ONLY}")
            return
        if use is Use.NO_RESULT:
            skip(f"{analyte}: its result status is {status} ({meaning})")
            return
        unfinished = f"{analyte}: its result status is {status} ({meaning}); {_FINAL_ONLY}"
        own_time = self.get(obx, place, 14).strip()
        time_text = own_time or obr_time.strip()
        time_field = "OBX-14" if own_time or not time_text else "OBR-7"
        collected = hl7_date(time_text)
        if collected is None and time_text and not IMPRECISE_DATE.match(time_text):
            if use is Use.NOT_FINAL:
                skip(unfinished)
                return
            raise InputError(f"{place} {time_field}", time_text, "is not a date (YYYYMMDD[HHMM])")
        if collected is None and use in (Use.WITHDRAWAL, Use.CORRECTION):
            raise InputError(
                f"{place} {time_field}",
                time_text,
                f"does not give the collection day: sigmd cannot tell which {analyte} result "
                f"this {meaning} (OBX-11 {status}) result stands for",
            )
        if collected is None:
            skip(
                unfinished
                if use is Use.NOT_FINAL
                else f"{analyte}: its collection time {time_text!r} ({time_field}) is not precise to the day"
                if time_text
                else f"{analyte}: it has no collection time in OBX-14 or OBR-7"
            )
            return
        if use is Use.WITHDRAWAL:
            part.events.append(Withdrawal(analyte, time_key(time_text), status, place))
            return
        if status == "U" and not self.whole(obx, place, 5).strip():
            part.events.append(Promotion(analyte, time_key(time_text), place))
            return
        value_type = self.get(obx, place, 2).strip().upper()
        value, why_not = self._value(obx, place, value_type)
        if value is None:
            skip(unfinished if use is Use.NOT_FINAL else f"{analyte}: {why_not}")
            return
        unit = self.get(obx, place, 6)
        range_warnings: list[str] = []
        range_written = self.whole(obx, place, 7)
        range_escape = _text_escape(obx, range_written)
        if range_escape:
            low = high = range_text = None
            range_warnings.append(
                f"{place}: reference range {range_written[:MAX_VALUE_CHARS]!r} (OBX-7) holds the HL7 escape sequence "
                f"{range_escape!r} (formatting or a character code); it was not used"
            )
        else:
            low, high, range_text = self._range(self.get(obx, place, 7), place, range_warnings)
        flag = self.get(obx, place, 8)
        self.cursor = (f"{place} OBX-5", value)
        try:
            result, warnings = build_result(
                analyte=analyte,
                value=value,
                unit=unit,
                collected=collected,
                knowledge=self.knowledge,
                field=place,
                range_low=low,
                range_high=high,
                range_unit=unit,
                range_text=range_text,
                origin=f"{place}{f' (lab flag {flag})' if flag else ''}",
            )
        except InputError:
            if use is not Use.NOT_FINAL:
                raise
            skip(unfinished)  # an unfinished result sigmd would not use refuses no one
            return
        part.events.append(Reading(result, time_key(time_text), use, status, unfinished))
        if use is not Use.NOT_FINAL:
            if value_type not in _NUMERIC_TYPES:
                part.warnings.append(
                    f"{place} ({analyte}) has value type {value_type or '(none)'} but a numeric value; it was used"
                )
            part.warnings.extend([*range_warnings, *warnings])
            part.warnings.extend(
                f"{place} ({analyte}): its specimen {s.written!r} ({s.field}) is not a specimen type sigmd knows "
                "(HL7 tables 0487 and 0070); the result was used as a serum or plasma result"
                for s in specimens
                if s.kind is SpecimenKind.UNKNOWN
            )

    def _value(self, obx: Any, place: str, value_type: str) -> tuple[str | None, str]:
        """OBX-5 as a reported value (`30`, `<5`; SN `<^5` is joined), or None and why it is not a number."""
        whole = self.whole(obx, place, 5)
        if self.repetitions(obx, 5) > 1:
            return None, f"its value {whole[:MAX_VALUE_CHARS]!r} holds several repetitions (OBX-5), not one number"
        if len(whole) > MAX_VALUE_CHARS:
            return None, f"its value (OBX-5) is {len(whole)} characters long, too long for a number"
        escape = _text_escape(obx, whole)
        if escape:
            return None, (
                f"its value {whole!r} (OBX-5) holds the HL7 escape sequence {escape!r} (formatting or a character "
                "code), so sigmd does not read it as a number"
            )
        text = self.get(obx, place, 5, 1)
        if value_type == "SN" and self.components(obx, 5) > 1:
            comparator, number = self.get(obx, place, 5, 1).strip(), self.get(obx, place, 5, 2).strip()
            if self.get(obx, place, 5, 3).strip() or self.get(obx, place, 5, 4).strip():
                return None, f"its value {whole!r} (SN) is a range or ratio, not one number"
            if comparator not in _SN_COMPARATORS:
                return None, f"its value {whole!r} (SN) has the comparator {comparator!r}, not one sigmd reads"
            text = comparator + number
        elif self.components(obx, 5) > 1:
            return None, f"its value {whole!r} ({value_type or 'no type'}) has components, not one number"
        try:
            parse_reported_value(text)
        except ValueFormatError:
            return None, f"its value {whole!r} ({value_type or 'no type'}) is not a non-negative number"
        return text.strip(), ""

    def _range(self, text: str, place: str, warnings: list[str]) -> tuple[str | None, str | None, str | None]:
        """OBX-7 `low-high`, `>low` or `<high`; other text is reported and the reference set is used instead."""
        if not text.strip():
            return None, None, None
        if len(text) <= MAX_VALUE_CHARS:
            both = _RANGE.match(text)
            if both:
                return both.group("low"), both.group("high"), text.strip()
            one = _ONE_SIDED.match(text)
            if one:
                if one.group("op").startswith(">"):
                    return one.group("value"), None, text.strip()
                return None, one.group("value"), text.strip()
        shown = text if len(text) <= MAX_VALUE_CHARS else f"{text[:MAX_VALUE_CHARS]}..."
        warnings.append(f"{place}: reference range {shown!r} (OBX-7) is not a low-high range; it was not used")
        return None, None, None


def _text_escape(container: Any, text: str) -> str:
    """The first HL7 escape sequence in a field as written that stands for no separator (`\\.br\\`, `\\H\\`,
    `\\X30\\`...), or ''. Such a field is text to display, not a number: `0\\.br\\15` is not 015."""
    esc = str(getattr(container, "esc", "\\"))
    if len(esc) != 1 or esc not in text:
        return ""
    pieces = text.split(esc)
    for index in range(1, len(pieces) - 1, 2):
        if pieces[index] not in _SEPARATOR_ESCAPES:
            return f"{esc}{pieces[index]}{esc}"
    return ""


def _unescape(container: Any, text: str) -> str:
    """HL7 escape sequences (\\F\\, \\S\\, \\T\\, \\R\\, \\E\\, \\Xhh\\) replaced; formatting sequences dropped.

    Written here rather than taken from `hl7.util.unescape`, which logs the field's text (patient data) on
    sequences it does not know and expands `\\.sp<n>\\` to n characters, however large n is.
    """
    esc = str(getattr(container, "esc", "\\"))
    separators = str(getattr(container, "separators", "\r|~^&"))
    if len(esc) != 1 or esc not in text or len(separators) < 5:
        return text
    names = {"F": separators[1], "R": separators[2], "S": separators[3], "T": separators[4], "E": esc}
    pieces = text.split(esc)
    out = [pieces[0]]
    closed = len(pieces) % 2 == 1
    for index in range(1, len(pieces), 2):
        if index + 1 >= len(pieces) and not closed:
            out.append(esc + pieces[index])
            break
        sequence = pieces[index]
        if sequence in names:
            out.append(names[sequence])
        elif sequence[:1] == "X" and re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", sequence[1:]):
            out.append(bytes.fromhex(sequence[1:]).decode("latin-1"))
        out.append(pieces[index + 1] if index + 1 < len(pieces) else "")
    return "".join(out)


def read_code_map(text: str, knowledge: Knowledge) -> dict[str, Analyte]:
    """A local-code mapping from CSV with the header `code,analyte` (analyte: a name or a LOINC code)."""
    try:
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or not {"code", "analyte"} <= set(reader.fieldnames):
            raise InputError("code map", ",".join(reader.fieldnames or []), "needs the header columns code,analyte")
        mapping: dict[str, Analyte] = {}
        for number, row in enumerate(reader, start=2):
            code, analyte = row.get("code"), row.get("analyte")
            if not code or not analyte or not code.strip():
                raise InputError(f"code map line {number}", code or "", "needs a code and an analyte")
            mapping[code.strip()] = resolve_analyte(analyte, f"code map line {number}.analyte", knowledge)
    except csv.Error as error:
        raise InputError("code map", text[:40], f"is not CSV ({error})") from None
    return mapping


__all__ = [
    "MAX_MESSAGES",
    "MAX_MESSAGE_CHARS",
    "MAX_NOTES_PER_PATIENT",
    "MAX_RESULTS_PER_PATIENT",
    "MAX_VALUE_CHARS",
    "load_hl7v2",
    "read_code_map",
    "split_messages",
]
