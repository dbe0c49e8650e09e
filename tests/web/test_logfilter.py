"""The logging boundary filter: what a log record may no longer carry, and what it keeps."""

from __future__ import annotations

import logging
import warnings

import pytest
from uvicorn.logging import AccessFormatter

from sigmd import logfilter
from sigmd.errors import InputError

MRN = "MRN-UNIT-2468"
BORN = "1955-05-05"
ACCESS = '%(client_addr)s - "%(request_line)s" %(status_code)s'


def record(
    name: str, msg: str, *args: object, level: int = logging.INFO, exc: BaseException | None = None
) -> logging.LogRecord:
    """A record made without the installed factory, as a library would make it before redaction."""
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(name, level, "x.py", 1, msg, args or None, exc_info)


def formatted(rec: logging.LogRecord) -> str:
    return logging.Formatter().format(rec)


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_an_access_line_loses_its_query_but_keeps_method_path_and_status() -> None:
    """uvicorn's access record for /patients?id=MRN is written without the query; a path without one is unchanged."""
    args = ("10.0.0.1:5000", "GET", f"/follow-up?id={MRN}", "1.1", 200)
    raw = record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', *args)
    assert MRN in AccessFormatter(ACCESS, use_colors=False).format(raw)
    assert logfilter.redact(raw)
    line = AccessFormatter(ACCESS, use_colors=False).format(raw)
    assert line == '10.0.0.1:5000 - "GET /follow-up?[query withheld] HTTP/1.1" 200 OK' and MRN not in line
    plain = record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "GET", "/patients", "1.1", 200)
    logfilter.redact(plain)
    assert AccessFormatter(ACCESS, use_colors=False).format(plain) == '10.0.0.1:5000 - "GET /patients HTTP/1.1" 200 OK'


def test_an_input_error_is_logged_by_its_field_and_never_its_value() -> None:
    """A traceback keeps its frames and the field of the input error, and loses the value and the message."""
    error = raised(InputError("results[2].value", f"{MRN},{BORN},IgM,12", "is not a number"))
    rec = record("sigmd.web", "could not read", level=logging.ERROR, exc=error)
    assert MRN in formatted(record("sigmd.web", "could not read", level=logging.ERROR, exc=error))
    logfilter.redact(rec)
    text = formatted(rec)
    assert "sigmd.errors.InputError at field results[2].value: [message withheld]" in text
    assert "Traceback (most recent call last)" in text and "test_logfilter.py" in text
    assert MRN not in text and BORN not in text and "is not a number" not in text


def test_a_chained_error_withholds_every_message_in_the_chain() -> None:
    """Both the cause (a CSV row) and the error raised from it lose their text; both types stay, in order."""
    try:
        try:
            raise ValueError(f"row 3.value: {MRN},{BORN}")
        except ValueError as cause:
            raise RuntimeError(f"import of {MRN} failed") from cause
    except RuntimeError as error:
        rec = record("sigmd.web.jobs", "job failed", level=logging.ERROR, exc=error)
    logfilter.redact(rec)
    text = formatted(rec)
    assert MRN not in text and BORN not in text
    assert (
        text.index("ValueError at field row 3.value")
        < text.index("direct cause")
        < text.index("RuntimeError: [message")
    )


def test_an_error_without_a_field_is_named_by_its_type_only() -> None:
    """An exception whose message does not start with a field name is described by its type alone."""
    assert logfilter.describe(KeyError(MRN)) == "KeyError: [message withheld]"
    assert logfilter.describe(ValueError("sex: 'x' is not a sex")) == "ValueError at field sex: [message withheld]"
    assert logfilter.describe(ValueError(f"{MRN}: unknown")) == "ValueError: [message withheld]"
    assert logfilter.describe(ValueError("patient 'p1': no results")) == "ValueError: [message withheld]"


def test_quoted_values_dates_and_queries_in_a_message_are_withheld_and_plain_words_kept() -> None:
    """`'MRN'`, a birth date and a URL query are withheld from a message; a message without them is unchanged."""
    rec = record("somelib", "patient %r born %s at /x?id=%s", MRN, BORN, MRN)
    logfilter.redact(rec)
    assert rec.getMessage() == "patient '[withheld]' born [date] at /x?[query withheld]"
    plain = record("somelib", "Started server process [%d]", 42)
    logfilter.redact(plain)
    assert plain.getMessage() == "Started server process [42]"


def test_an_exception_passed_as_an_argument_is_described_not_printed() -> None:
    """log.warning('failed: %s', error) writes the error's type and field, not its message."""
    rec = record("sigmd.web", "failed: %s", InputError("birth_date", BORN, "is in the future"), level=logging.WARNING)
    logfilter.redact(rec)
    assert rec.getMessage() == "failed: sigmd.errors.InputError at field birth_date: [message withheld]"


def test_a_library_warning_keeps_its_category_and_place_but_not_its_text() -> None:
    """A warning routed to logging says where and what kind it was; its text (which may quote data) is withheld."""
    text = f"/lib/reader.py:12: UserWarning: could not parse {MRN}\n  warnings.warn(x)\n"
    rec = record("py.warnings", "%s", text, level=logging.WARNING)
    logfilter.redact(rec)
    assert rec.getMessage() == "/lib/reader.py:12: UserWarning (text withheld: it may hold patient data)"


@pytest.mark.parametrize(
    ("name", "level", "kept"),
    [
        ("python_multipart.multipart", logging.DEBUG, False),
        ("sqlalchemy.engine.Engine", logging.INFO, False),
        ("sqlalchemy.engine.Engine", logging.WARNING, True),
        ("sigmd.web", logging.DEBUG, True),
    ],
)
def test_loggers_that_write_form_data_or_sql_parameters_are_dropped(name: str, level: int, kept: bool) -> None:
    """Form-parser records and SQL parameter records below WARNING are dropped; others are kept."""
    assert logfilter.redact(record(name, "data %s", MRN, level=level)) is kept


def test_install_redacts_records_at_creation_and_captures_warnings(caplog: pytest.LogCaptureFixture) -> None:
    """After install (twice: no double wrapping) a logged query and a warning reach the handlers redacted."""
    logfilter.install()
    factory = logging.getLogRecordFactory()
    logfilter.install()
    assert logging.getLogRecordFactory() is factory
    caplog.set_level(logging.DEBUG)
    logging.getLogger("anylib").info("GET /patients?id=%s", MRN)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(False)  # pytest replaced showwarning for this test: capture again from here
        logfilter.install()
        warnings.warn(f"bad value for {MRN}", UserWarning, stacklevel=1)
    assert MRN not in caplog.text and "GET /patients?[query withheld]" in caplog.text
    assert "UserWarning (text withheld" in caplog.text


def test_the_server_log_configuration_filters_both_uvicorn_handlers_and_logs_sigmd() -> None:
    """`sigmd serve` configures uvicorn with the filter on the access and error handlers, and sigmd at INFO."""
    config = logfilter.uvicorn_log_config()
    assert all("sigmd_patient_data" in handler["filters"] for handler in config["handlers"].values())
    assert config["filters"]["sigmd_patient_data"]["()"] == "sigmd.logfilter.PatientDataFilter"
    assert config["loggers"]["sigmd"]["level"] == "INFO"
    dropped = record("python_multipart", "x")
    dropped._sigmd_dropped = True
    assert not logfilter.PatientDataFilter().filter(dropped)
    assert logfilter.PatientDataFilter().filter(record("uvicorn.error", "Uvicorn running on %s", "http://h:1"))
