"""No patient data in logs: redaction at the logging boundary (standard library only).

`install()` (called by the `sigmd` command line and by the web app) makes every log record of the process
pass through `redact` when it is created, whoever logs it and whichever handler writes it, and routes
library warnings into logging so that they are redacted too. `uvicorn_log_config()` is uvicorn's own
logging configuration with the same filter on its handlers.

What a record may no longer carry:

- **query strings**: `GET /x?id=...` is logged as `GET /x?[query withheld]` (uvicorn's access log included);
- **exception messages**: a traceback keeps its frames (file, line, function) but every exception's text is
  replaced by its type and, for input errors, the field it names (`InputError at field results[0].value`);
  an error message may hold a value, a CSV row, an identifier or a birth date;
- **quoted values and dates** in a message: `'...'` / `"..."` literals become `'[withheld]'`, ISO dates `[date]`;
- **warning texts**: a library warning is logged as its category and where it was raised;
- records of loggers that write request bodies or SQL parameters (`python_multipart`, `sqlalchemy.engine`
  below WARNING) are dropped.

Plain (unquoted) message arguments are kept: sigmd's own log calls pass no patient data as arguments (job ids,
outcomes, client addresses), and a library's host names and ports must stay readable.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterator
from typing import Any

WITHHELD = "[withheld]"
QUERY_WITHHELD = "?[query withheld]"
DROPPED_LOGGERS = ("multipart", "python_multipart")
"""Loggers that write form data at debug level."""
PARAMETER_LOGGERS = ("sqlalchemy.engine",)
"""Loggers that write SQL parameters (patient values) below WARNING."""
_QUERY = re.compile(r"(?P<path>(?:https?://[^\s/?#\"']+)?/[^\s?#\"']*)\?[^\s\"']*")
_QUOTED = re.compile(r"'[^'\n]{1,500}'|\"[^\"\n]{1,500}\"")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\b")
_NAME = r"[a-z_][a-z0-9_]{0,40}(?:\[\d{1,6}\])?"
_FIELD_PREFIX = re.compile(rf"^(?P<field>(?:row \d{{1,9}}\.)?{_NAME}(?:\.{_NAME}){{0,6}}):")
"""A field path as sigmd's messages start (`results[2].value:`, `row 4.unit:`); nothing else counts as a field."""
_WARNING = re.compile(r"^(?P<where>.*?:\d+): (?P<category>\w+): ", re.S)
_MARK = "_sigmd_redacted"
_DROPPED = "_sigmd_dropped"
DROPPED_TEXT = "(record withheld: its logger writes request bodies or SQL parameters)"
_lock = threading.Lock()


def strip_query(target: str) -> str:
    """A request target without its query string (the path alone says which page)."""
    path, mark, _ = target.partition("?")
    return path + QUERY_WITHHELD if mark else path


def scrub_text(text: str) -> str:
    """A log message with query strings, quoted values and dates withheld."""
    text = _QUERY.sub(lambda m: m.group("path") + QUERY_WITHHELD, text)
    text = _QUOTED.sub(lambda m: m.group(0)[0] + WITHHELD + m.group(0)[0], text)
    return _DATE.sub("[date]", text)


def field_of(error: BaseException) -> str | None:
    """The field an error names: its `field` attribute, or the `field:` its message starts with."""
    field = getattr(error, "field", None)
    if isinstance(field, str) and field:
        return field
    found = _FIELD_PREFIX.match(str(error)) if error.args else None
    return found.group("field") if found else None


def describe(error: BaseException) -> str:
    """An exception as it may be logged: its type and the field it concerns, never its message."""
    kind = type(error)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    field = field_of(error)
    where = f" at field {field}" if field else ""
    return f"{name}{where}: [message withheld]"


def _chain(error: BaseException) -> Iterator[tuple[BaseException, str]]:
    """The exception and its causes, newest first, each with the line Python prints before the next."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__cause__ is not None:
            yield current, "The above exception was the direct cause of the following exception:"
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            yield current, "During handling of the above exception, another exception occurred:"
            current = current.__context__
        else:
            yield current, ""
            current = None


def redacted_traceback(error: BaseException) -> str:
    """The traceback with every frame and every exception's type (and field), and no exception text."""
    parts: list[str] = []
    for exc, joiner in reversed(list(_chain(error))):
        frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ is not None else []
        block = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) if frames else ""
        if joiner:
            parts.append(f"\n{joiner}\n")
        parts.append(block + describe(exc))
    return "\n".join(parts)


def _safe_arg(value: Any) -> Any:
    return describe(value) if isinstance(value, BaseException) else value


def redact(record: logging.LogRecord) -> bool:
    """Remove patient data from the record in place; False when the record is to be dropped altogether."""
    if getattr(record, _MARK, False):
        return True
    setattr(record, _MARK, True)
    name = record.name
    if name.startswith(DROPPED_LOGGERS):
        return False
    if name.startswith(PARAMETER_LOGGERS) and record.levelno < logging.WARNING:
        return False
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redacted_traceback(record.exc_info[1])
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = scrub_text(record.exc_text)
    if name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
        # uvicorn's AccessFormatter reads (client, method, target, http version, status) from args.
        client, method, target, version, status = record.args
        record.args = (client, method, strip_query(str(target)), version, status)
        return True
    if name == "py.warnings":
        found = _WARNING.match(str(record.msg) % record.args if record.args else str(record.msg))
        where = f"{found.group('where')}: {found.group('category')}" if found else "a warning"
        record.msg, record.args = f"{where} (text withheld: it may hold patient data)", None
        return True
    if isinstance(record.args, tuple):
        record.args = tuple(_safe_arg(a) for a in record.args)
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        message = f"{record.msg!s} (arguments withheld: they did not fit the message)"
    record.msg, record.args = scrub_text(message), None
    return True


class PatientDataFilter(logging.Filter):
    """A logging filter (for handlers) that applies `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, _DROPPED, False) and redact(record)


def _factory(previous: Any) -> Any:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = previous(*args, **kwargs)
        if not redact(record):
            # A factory cannot stop a record; it is emptied instead (handlers with the filter drop it).
            record.msg, record.args, record.exc_info, record.exc_text = DROPPED_TEXT, None, None, None
            setattr(record, _DROPPED, True)
        return record

    make.sigmd_redacts = True  # type: ignore[attr-defined]
    return make


def install() -> None:
    """Redact every log record of this process at creation, and log library warnings (redacted).

    Safe to call more than once. The filter is also put on every handler of the root and uvicorn loggers present
    at the time of the call, which then leave out the emptied records of dropped loggers.
    """
    with _lock:
        current = logging.getLogRecordFactory()
        if not getattr(current, "sigmd_redacts", False):
            logging.setLogRecordFactory(_factory(current))
        logging.captureWarnings(True)
        for logger in (logging.getLogger(), *(logging.getLogger(n) for n in ("uvicorn", "uvicorn.access"))):
            for handler in logger.handlers:
                if not any(isinstance(f, PatientDataFilter) for f in handler.filters):
                    handler.addFilter(PatientDataFilter())


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with `PatientDataFilter` on its handlers, and sigmd's loggers."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["sigmd_patient_data"] = {"()": "sigmd.logfilter.PatientDataFilter"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "sigmd_patient_data"]
    # sigmd's own lines (sign-in outcomes, failed screening jobs) go to the server's error log beside uvicorn's.
    config["loggers"]["sigmd"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
