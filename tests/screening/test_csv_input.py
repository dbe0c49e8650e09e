"""CSV input is read with a stated dialect: every line is a record, used or rejected with its reason (synthetic rows)."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sigmd.cli import app
from sigmd.screening import delimited
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.delimited import split_line
from sigmd.screening.run import ScreenResult, screen
from tests.screening.conftest import AS_OF

HEADER = ",".join(CANONICAL_COLUMNS)


def good(number: int) -> str:
    """A usable IgM result of patient G<number> (normal for an adult woman)."""
    return f"G{number},female,1980-01-01,2025-01-{1 + number % 28:02d},IgM,{60 + number % 50},mg/dL,,,"


def _file(tmp_path: Path, lines: list[bytes], name: str = "labs.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _records_in(path: Path) -> int:
    """The records of a file as the dialect defines them: non-blank lines (LF or CRLF ends) after the header."""
    lines = path.read_bytes().split(b"\n")
    return sum(1 for line in lines[1:] if line.removesuffix(b"\r"))


def _screen(path: Path, out: Path) -> tuple[ScreenResult, dict[int, str]]:
    result = screen(path, out, as_of=AS_OF, progress=False, csv=True, sensitivity=False)
    with (out / "rejects.csv").open(encoding="utf-8") as handle:
        return result, {int(r["row_no"]): r["reason"] for r in csv.DictReader(handle)}


BAD_LINES = {
    "extra cells": (b"B1,female,1980-01-01,2025-01-01,IgM,60,mg/dL,,,,surplus", "cells: line 7 has 11 cells"),
    "missing cells": (b"B1,female,1980-01-01,2025-01-01,IgM,60", "cells: line 7 has 6 cells"),
    "stray quote": (b'B1,fem"ale,1980-01-01,2025-01-01,IgM,60,mg/dL,,,', "quotes: line 7 has a double quote inside"),
    "unterminated quote": (
        b'B1,"female,1980-01-01,2025-01-01,IgM,60,mg/dL,,,',
        "quotes: line 7 has a quoted cell with no",
    ),
    "text after a quote": (b'B1,"female"x,1980-01-01,2025-01-01,IgM,60,mg/dL,,,', "quotes: line 7 has text after"),
    "bad bytes": (
        b"B1,female,1980-01-01,2025-01-01,IgM,6\xff0,mg/dL,,,",
        "value: '6\\xff0' is not UTF-8 text (line 7)",
    ),
    "bare CR": (b"B1,female,1980-01-01,2025-01-01,IgM,60\r,mg/dL,,,", "line_end: line 7 has a carriage return"),
}


@pytest.mark.parametrize("shape", list(BAD_LINES))
def test_a_malformed_line_is_one_reject_with_its_reason_and_the_other_lines_are_used(
    tmp_path: Path, shape: str
) -> None:
    """A line that does not fit the dialect is rejected with the reason; the lines around it are used."""
    line, reason = BAD_LINES[shape]
    path = _file(tmp_path, [HEADER.encode(), *(good(i).encode() for i in range(5)), line, good(6).encode()])
    result, rejects = _screen(path, tmp_path / "out")
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (_records_in(path), 6, 1) == (7, 6, 1)
    assert list(rejects) == [6] and rejects[6].startswith(reason), rejects


def test_quoted_cells_crlf_line_ends_a_bom_and_blank_lines_are_read_not_rejected(tmp_path: Path) -> None:
    """Well-formed RFC 4180 quoting, CRLF ends, a byte-order mark and blank lines are the dialect, not errors."""
    lines = [
        b"\xef\xbb\xbf" + HEADER.encode() + b"\r",
        b'"Q1","female","1980-01-01","2025-01-01","IgM","60","mg/dL","","",""\r',
        b"",
        b'Q2,female,1980-01-01,2025-01-01,"immunoglobulin m","< 5","mg/dL",,,\r',
        b'Q3,female,1980-01-01,2025-01-01,IgM,60,mg/dL,,"25","200"',
    ]
    path = _file(tmp_path, lines)
    result, rejects = _screen(path, tmp_path / "out")
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (3, 3, 0), rejects
    assert split_line('a,"b,""c""",', ",") == (["a", 'b,"c"', ""], "")


def test_a_bad_row_after_thirty_thousand_good_rows_is_rejected_not_a_crash(tmp_path: Path) -> None:
    """A ragged line deep in the file is rejected with its line number; every row before and after is used."""
    lines = [HEADER.encode(), *(good(i).encode() for i in range(30_000))]
    lines += [b"B1,female,1980-01-01,2025-01-01,IgM,60,mg/dL,,,,surplus", good(1).encode()]
    path = _file(tmp_path, lines)
    result, rejects = _screen(path, tmp_path / "out")
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (_records_in(path), 30_001, 1)
    assert rejects == {30_001: "cells: line 30002 has 11 cells where the header has 10 (extra cells)"}


def test_row_numbers_follow_the_file_across_read_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file read in many small blocks keeps every record, in order, with its own row number and line number."""
    monkeypatch.setattr(delimited, "BLOCK_BYTES", 997)
    lines = [HEADER.encode()]
    expected = {}
    for number in range(1, 401):
        if number % 37 == 0:
            lines.append(b"B" + str(number).encode() + b",female,1980-01-01")
            expected[number] = f"cells: line {number + 1} has 3 cells where the header has 10 (missing cells)"
        elif number % 41 == 0:
            lines.append(b'"Q' + str(number).encode() + b'","female","1980-01-01","2025-01-01","IgM","60","mg/dL",,,')
        else:
            lines.append(good(number).encode())
    path = _file(tmp_path, lines)
    target = tmp_path / "converted.parquet"
    assert delimited.convert_delimited(path, {"patient_id": "patient_id"}, target) == 400
    ids = pq.read_table(target).column("patient_id").to_pylist()
    assert ids[41 - 1] == "Q41" and ids[37 - 1] == "B37" and ids[400 - 1] == "G400"
    result, rejects = _screen(path, tmp_path / "out")
    assert rejects == expected and (result.rows_in, result.rows_rejected) == (400, len(expected))


def test_a_file_with_only_a_header_has_no_rows_and_an_empty_file_is_refused(tmp_path: Path) -> None:
    """A header alone is a file of zero records; an empty file has no header, so sigmd cannot know its columns."""
    result, _ = _screen(_file(tmp_path, [HEADER.encode()], "header.csv"), tmp_path / "out")
    assert (result.rows_in, result.rows_used, result.rows_rejected, result.patients) == (0, 0, 0, 0)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty: it has no header line"):
        screen(empty, tmp_path / "out2", as_of=AS_OF, progress=False, csv=True)


def test_a_header_that_is_not_utf8_or_has_a_stray_quote_refuses_the_file(tmp_path: Path) -> None:
    """The header names the columns: when it cannot be read the whole file is refused, naming the header line."""
    latin1 = _file(tmp_path, [HEADER.replace("sex", "s\xe9x").encode("latin-1"), good(1).encode()], "latin1.csv")
    with pytest.raises(ValueError, match=r"header \(line 1 of 'latin1.csv'\): .* is not UTF-8 text"):
        screen(latin1, tmp_path / "out", as_of=AS_OF, progress=False, csv=True)
    quoted = _file(tmp_path, [HEADER.replace("sex", 'se"x').encode(), good(1).encode()], "quoted.csv")
    with pytest.raises(ValueError, match=r"header \(line 1 of 'quoted.csv'\): .* double quote inside a cell"):
        screen(quoted, tmp_path / "out", as_of=AS_OF, progress=False, csv=True)


def test_a_tsv_file_is_split_at_tabs(tmp_path: Path) -> None:
    """A .tsv file is read with the tab as separator (a comma inside a cell is then plain text)."""
    lines = [HEADER.replace(",", "\t").encode(), good(1).replace(",", "\t").encode()]
    lines.append(b"T1\tfemale\t1980-01-01\t2025-01-01\tIgM, serum\t60\tmg/dL\t\t\t")
    result, rejects = _screen(_file(tmp_path, lines, "labs.tsv"), tmp_path / "out")
    assert (result.rows_in, result.rows_used) == (2, 1)
    assert rejects[2].startswith("loinc: 'IgM, serum' is not a known analyte")


# Wrong columns: refused with the names, `sigmd screen` exits 2.

WRONG_HEADER = "MRN,sex,birth_date,collected_date,TEST_CODE,value,unit"


def test_missing_columns_are_named_with_the_unknown_ones_and_the_cli_exits_2(tmp_path: Path) -> None:
    """A file without patient_id and loinc is refused, naming them and the file's unknown columns; exit code 2."""
    path = _file(tmp_path, [WRONG_HEADER.encode(), b"P1,female,1980-01-01,2025-01-01,IgM,60,mg/dL"])
    result = CliRunner().invoke(app, ["screen", str(path), "--out", str(tmp_path / "out"), "--as-of", "2026-01-01"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "patient_id is missing; loinc is missing" in message and "'MRN', 'TEST_CODE'" in message
    assert not (tmp_path / "out" / "patients.parquet").exists()


def test_a_semicolon_separated_file_is_refused_saying_how_it_is_separated(tmp_path: Path) -> None:
    """A European export separated by ';' reads as one unknown column: the refusal says what the separator looks like."""
    header = "patient_id;sex;birth_date;collected_date;loinc;value;unit"
    path = _file(tmp_path, [header.encode(), b"P1;female;1980-01-01;2025-01-01;IgM;60;mg/dL"])
    result = CliRunner().invoke(app, ["screen", str(path), "--out", str(tmp_path / "out"), "--as-of", "2026-01-01"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "columns: the header looks separated by ';', but sigmd reads comma-separated CSV;" in message


def test_mapping_the_unknown_columns_makes_the_same_file_usable(tmp_path: Path) -> None:
    """With --column patient_id=MRN --column loinc=TEST_CODE the file is read and its row used."""
    path = _file(tmp_path, [WRONG_HEADER.encode(), b"P1,female,1980-01-01,2025-01-01,IgM,60,mg/dL"])
    args = ["screen", str(path), "--out", str(tmp_path / "out"), "--as-of", "2026-01-01", "--no-sensitivity"]
    result = CliRunner().invoke(app, [*args, "--column", "patient_id=MRN", "--column", "loinc=TEST_CODE"])
    assert result.exit_code == 0, result.output
    assert "rows in: 1  used: 1  rejected: 0" in result.output


def test_a_column_named_like_an_optional_one_is_refused_but_an_unrelated_extra_column_is_ignored(
    tmp_path: Path,
) -> None:
    """`Ref Low` would silently drop the laboratory's range, so it is refused; an unrelated extra column is not."""
    lines = [(HEADER.replace("ref_low", "Ref Low") + ",order_id").encode(), (good(1) + ",X1").encode()]
    with pytest.raises(ValueError, match=r"ref_low is missing, but the file has 'Ref Low'.*--column ref_low=Ref Low"):
        screen(_file(tmp_path, lines), tmp_path / "out", as_of=AS_OF, progress=False, csv=True)
    lines = [(HEADER + ",order_id").encode(), (good(1) + ",X1").encode()]
    result, _ = _screen(_file(tmp_path, lines, "extra.csv"), tmp_path / "out2")
    assert (result.rows_in, result.rows_used) == (1, 1)


@pytest.mark.parametrize("column", ["result_status", "Status", "specimen", "Specimen Type", "sample_type", "fluid"])
def test_a_status_or_specimen_column_sigmd_does_not_read_refuses_the_file(tmp_path: Path, column: str) -> None:
    """A column that may mark results as withdrawn, preliminary or measured in CSF would be ignored, and such results
    judged as final serum ones: the file is refused, naming the column, while a specimen's id is no such column."""
    lines = [(HEADER + f",{column}").encode(), (good(1) + ",entered-in-error").encode()]
    with pytest.raises(ValueError, match=rf"{column!r} may say that some results are not final or not serum"):
        screen(_file(tmp_path, lines), tmp_path / "out", as_of=AS_OF, progress=False, csv=True)
    lines = [(HEADER + ",specimen_id").encode(), (good(1) + ",S1").encode()]
    result, _ = _screen(_file(tmp_path, lines, "with_id.csv"), tmp_path / "out2")
    assert (result.rows_in, result.rows_used) == (1, 1)


def test_a_mapping_to_a_column_the_file_lacks_is_refused_for_parquet_too(tmp_path: Path) -> None:
    """--column pointing at no column of a Parquet file, or a Parquet file without `value`, is refused by name."""
    columns = [c for c in CANONICAL_COLUMNS if c != "value"]
    path = tmp_path / "labs.parquet"
    pq.write_table(pa.table({c: ["x"] for c in columns}), path)
    with pytest.raises(
        ValueError, match=r"columns: value is missing \(columns of the file that sigmd does not know: none"
    ):
        screen(path, tmp_path / "out", as_of=AS_OF, progress=False, csv=True)
    with pytest.raises(ValueError, match=r"unit is mapped to 'UNIT', which is not a column of the file"):
        screen(path, tmp_path / "out", as_of=AS_OF, progress=False, csv=True, columns={"unit": "UNIT"})


def test_omop_csv_tables_are_read_with_the_same_dialect_and_bad_lines_become_rejects(tmp_path: Path) -> None:
    """A ragged measurement line and an unreadable person line are rejects with their reasons; readable rows are used."""
    folder = tmp_path / "omop"
    folder.mkdir()
    (folder / "person.csv").write_bytes(
        b'person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth\n1,8532,1980,1,1\n2,8532,"1980,1,1\n'
    )
    header = (
        b"person_id,measurement_concept_id,measurement_date,value_as_number,measurement_source_value,unit_source_value"
    )
    (folder / "measurement.tsv").write_bytes(
        header.replace(b",", b"\t") + b"\n"
        b"1\t0\t2025-01-01\t60\t2472-9\tmg/dL\n"
        b"1\t0\t2025-02-01\t61\t2472-9\tmg/dL\textra\n"
        b"2\t0\t2025-01-01\t60\t2472-9\tmg/dL\n"
    )
    result = screen(folder, tmp_path / "out", as_of=AS_OF, progress=False, csv=True, sensitivity=False)
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (3, 1, 2)
    with (tmp_path / "out" / "rejects.csv").open(encoding="utf-8") as handle:
        reasons = {int(r["row_no"]): r["reason"] for r in csv.DictReader(handle)}
    assert reasons[-2] == "cells: line 3 has 7 cells where the header has 6 (extra cells) (measurement table)"
    assert reasons[-3].startswith("person_id: '2' has a row in the person table that could not be read (quotes: line 3")


def test_patients_read_are_screened_or_refused_by_reason(tmp_path: Path) -> None:
    """Every patient id read is screened or counted as refused, with the reason: no patient vanishes unseen."""
    lines = [
        HEADER,
        good(1),
        good(2),
        "U1,female,1980-01-01,2025-01-01,IgM,0.6,mmol/L,,,",  # every row refused on its own
        "U1,female,1980-01-01,2025-02-01,IgM,sixty,mg/dL,,,",
        "D1,female,1980-01-01,2025-01-01,IgM,60,mg/dL,,,",  # two birth dates
        "D1,female,1981-01-01,2025-02-01,IgM,60,mg/dL,,,",
        "S1,female,1980-01-01,2025-01-01,IgM,60,mg/dL,,,",  # two sexes
        "S1,male,1980-01-01,2025-02-01,IgM,60,mg/dL,,,",
        "N1,female,1980-01-01,2025-01-01,IgG,900,mg/dL,,,",  # no IgM result
        ",female,1980-01-01,2025-01-01,IgM,60,mg/dL,,,",  # no patient id: a row, not a patient
    ]
    path = _file(tmp_path, [line.encode() for line in lines])
    result, _ = _screen(path, tmp_path / "out")
    assert result.summary["patients"] == result.patients == 2
    assert result.summary["patients_refused"] == {
        "total": 4,
        "every_row_refused": 1,
        "birth_dates_conflict": 1,
        "sexes_conflict": 1,
        "no_usable_igm": 1,
        "refused_by_core": 0,
    }
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (10, 2, 8)


def test_a_patient_id_with_spaces_around_it_is_the_same_patient(tmp_path: Path) -> None:
    """`W1` and `W1 ` are one patient (as the registry's import of this format reads them): split in two, the later
    normal IgM of `W1 ` would not count for `W1`, whose earlier low IgM would then stand alone."""
    rows = [
        "W1,female,1980-01-01,2024-01-10,2472-9,20,mg/dL,,,",
        "W1 ,female,1980-01-01,2024-09-10,2472-9,150,mg/dL,,,",
    ]
    lines = [HEADER.encode(), *(row.encode() for row in rows)]
    result, _ = _screen(_file(tmp_path, lines), tmp_path / "out")
    assert (result.rows_in, result.rows_used, result.patients) == (2, 2, 1)
    table = pq.read_table(tmp_path / "out" / "patients.parquet").to_pylist()
    assert [(r["patient_id"], r["latest_igm_mg_dl"]) for r in table] == [("W1", 150.0)]
