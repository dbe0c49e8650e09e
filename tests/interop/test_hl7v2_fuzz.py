"""Property: however a valid ORU^R01 is damaged, the HL7 v2 reader gives cases or InputErrors, never a crash.

A bounded run (a few seconds) in the normal suite; `scripts/fuzz_readers.py --format hl7` runs the long one.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sigmd.adapters.hl7v2 import load_hl7v2
from sigmd.core.knowledge import Knowledge
from sigmd.errors import InputError

DELIMITERS = "|^~\\&\r\n\x0b\x1c"
STATUSES = st.sampled_from(["F", "C", "D", "W", "P", "X", "", "Q"])
VALUES = st.sampled_from(["18", "<5", "0.27", "1e308", "12,5", "", "<^5", "^18", "^10^-^20", "18~19", "\\.sp9\\"])
CODES = st.sampled_from(["2472-9^IgM^LN", "2465-3^IgG^LN", "2472-9", "2472-9^IgM^L", "15074-8^Glucose^LN"])
TIMES = st.sampled_from(["20240110083000", "20240110", "00010101", "99991231", "2024", ""])


@st.composite
def oru_messages(draw: st.DrawFn) -> str:
    """A valid synthetic ORU^R01 with one patient and one to four OBX segments."""
    segments = [
        "MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240110120000||ORU^R01|MSG1|P|2.5.1",
        f"PID|1||P{draw(st.integers(0, 3))}^^^HOSP^MR||Synthetic^Pat||19800501|{draw(st.sampled_from('FMU'))}",
        f"OBR|1||ORD1|IG^Ig^L|||{draw(TIMES)}",
    ]
    for set_id in range(1, draw(st.integers(1, 4)) + 1):
        value_type = draw(st.sampled_from(["NM", "SN", "ST"]))
        segments.append(
            f"OBX|{set_id}|{value_type}|{draw(CODES)}||{draw(VALUES)}|{draw(st.sampled_from(['mg/dL', 'g/L', '']))}"
            f"|{draw(st.sampled_from(['40-230', '<9', 'x']))}||||{draw(STATUSES)}|||{draw(TIMES)}"
        )
    return "\r".join(segments)


MUTATION = st.tuples(
    st.sampled_from(["delimiter", "truncate", "insert", "delete", "segment", "repeat", "framing"]),
    st.floats(0, 1),
    st.text(alphabet=DELIMITERS + "0123456789<>.eMSHPIDOBX\x00\ufeff\u00e9 ", min_size=1, max_size=12),
)


def mutate(text: str, mutations: list[tuple[str, float, str]]) -> str:
    """Apply each mutation at its relative position."""
    for kind, where, payload in mutations:
        position = int(where * len(text))
        if kind == "delimiter" and text:
            text = text[:position] + payload[0] + text[position + 1 :]
        elif kind == "truncate":
            text = text[:position]
        elif kind == "insert":
            text = text[:position] + payload + text[position:]
        elif kind == "delete":
            text = text[:position] + text[position + len(payload) :]
        elif kind == "segment":
            lines = text.split("\r")
            spot = int(where * len(lines))
            lines.insert(spot, lines[min(spot, len(lines) - 1)] if payload[0] in "0123" else f"OBX{payload}")
            text = "\r".join(lines)
        elif kind == "repeat":
            fields = text.split("|")
            spot = min(int(where * len(fields)), len(fields) - 1)
            fields[spot] = "~".join([fields[spot]] * 3)
            text = "|".join(fields)
        else:
            text = "\x0b" + text.replace("\r", "\n" if payload[0] in "0123" else "\r\n") + "\x1c\r"
    return text


def assert_cases_or_refusals(data: str | bytes, knowledge: Knowledge) -> None:
    try:
        loaded = load_hl7v2(data, knowledge)
    except InputError:
        return
    for item in loaded:
        assert (item.case is None) != (item.error is None)
        assert item.error is None or isinstance(item.error, InputError)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=oru_messages(), mutations=st.lists(MUTATION, min_size=1, max_size=4))
@example(message="MSH|^~\\&\rPID|1||P1||x||19800501|F\rOBX|1|NM|2472-9||18", mutations=[("truncate", 1.0, "x")])
def test_a_damaged_message_gives_cases_or_refusals_only(message: str, mutations, knowledge: Knowledge) -> None:
    """A valid ORU^R01 with delimiters changed, cut short, bytes or segments inserted, or fields repeated is read
    into cases or refused with InputErrors; nothing else is raised."""
    assert_cases_or_refusals(mutate(message, mutations), knowledge)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=oru_messages(), position=st.floats(0, 1), byte=st.integers(0x80, 0xFF))
def test_a_message_with_a_stray_byte_gives_cases_or_refusals_only(
    message: str, position: float, byte: int, knowledge: Knowledge
) -> None:
    """Bytes with one byte that is not UTF-8 are read into cases or refused with InputErrors; nothing else."""
    data = message.encode("utf-8")
    spot = int(position * len(data))
    assert_cases_or_refusals(data[:spot] + bytes([byte]) + data[spot:], knowledge)


def test_the_undamaged_messages_are_read_as_cases(knowledge: Knowledge) -> None:
    """The property's starting point is real: an undamaged generated message gives one case and no refusal."""
    text = "\r".join(
        [
            "MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240110120000||ORU^R01|MSG1|P|2.5.1",
            "PID|1||P1^^^HOSP^MR||Synthetic^Pat||19800501|F",
            "OBR|1||ORD1|IG^Ig^L|||20240110083000",
            "OBX|1|NM|2472-9^IgM^LN||18|mg/dL|40-230||||F|||20240110083000",
        ]
    )
    [loaded] = load_hl7v2(text, knowledge)
    assert loaded.error is None and loaded.case is not None and len(loaded.case.results) == 1
    assert_cases_or_refusals(mutate(text, [("truncate", 0.0, "x")]) + "MSH", knowledge)
