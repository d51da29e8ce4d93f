"""Spreadsheets staff send (worker lists, F1 contact lists): safe reading, row checks, XLSX out.

Everything here is synchronous and CPU-bound: callers run it in a worker thread.
"""

from __future__ import annotations

import csv
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from io import BytesIO, StringIO
from itertools import islice

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from core.areas import AreaCatalog
from core.dates import format_date, parse_date
from core.matching import fold
from core.phone import normalize_phone
from core.texts import t

_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # old binary .xls (and .doc): openpyxl cannot read it
_MACRO_SUFFIXES = (".xlsm", ".xltm")
_DELIMITERS = ",;\t"
# What openpyxl and zipfile raise on a damaged or foreign zip (a .docx, a truncated
# download, a forged size that fails its CRC): all of them mean "not a workbook we can read".
_BROKEN = (
    InvalidFileException,
    zipfile.BadZipFile,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
    SyntaxError,
    OSError,
)
_NAME = re.compile(r"[^\W\d_]+(?:[ '.-][^\W\d_]+)*")
# A phone typed into a number cell loses its leading 0: 0912345678 arrives as 912345678.
_BARE_MOBILE = re.compile(r"[35789]\d{8}")
_DOSE = re.compile(r"(?:mui|dose)?\s*(?:so|thu)?\s*(\d{1,2})")
_MAX_DOSE = 10
_NOTE = re.compile(r"\(.*?\)|\[.*?\]")  # "Ngày tiêm (dd/mm/yyyy)": a hint, not the name


@dataclass(frozen=True)
class SheetLimits:
    """How much of an upload we are willing to read."""

    max_bytes: int = 5_000_000
    max_rows: int = 20_000  # data rows, below the header
    max_columns: int = 30
    max_unzipped: int = 50_000_000  # sum of the zip members' declared sizes
    max_ratio: int = 100  # declared size / compressed size, per zip member
    max_members: int = 200


class SheetRefused(Exception):
    """An upload we will not read; `reason` names why, `columns` the missing fields."""

    def __init__(self, reason: str, columns: tuple[str, ...] = ()) -> None:
        super().__init__(reason, *columns)
        self.reason = reason
        self.columns = columns


@dataclass(frozen=True)
class Table:
    """A sheet as text: its headers, and each data row by its number in the sheet."""

    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]


@dataclass(frozen=True)
class Column:
    """A field a list may carry, the header names people give it, and whether it must be there."""

    field: str
    aliases: tuple[str, ...]
    required: bool = False


NAME = Column("name", ("Họ và tên", "Họ tên", "Tên", "Name", "Full name"), required=True)
PHONE = Column(
    "phone",
    ("Số điện thoại", "SĐT", "Điện thoại", "Số di động", "Di động", "Phone", "Mobile"),
    required=True,
)
AREA = Column("area", ("Xã", "Xã/phường", "Phường", "Xã/thị trấn", "Commune", "Area", "Ward"))
RESIDENCE = Column(
    "residence",
    ("Nơi ở hiện tại", "Nơi ở", "Chỗ ở", "Chỗ ở hiện tại", "Địa chỉ", "Residence", "Address"),
)
TEST_KIND = Column("test_kind", ("Loại xét nghiệm", "Xét nghiệm", "Test", "Test kind"))
TEST_DATE = Column("test_date", ("Ngày xét nghiệm", "Ngày XN", "Test date"))
TEST_RESULT = Column("test_result", ("Kết quả", "Kết quả xét nghiệm", "Result", "Test result"))
VACCINE_DOSE = Column("vaccine_dose", ("Mũi", "Mũi tiêm", "Mũi số", "Dose"))
VACCINE_DATE = Column("vaccine_date", ("Ngày tiêm", "Vaccination date", "Vaccine date"))
VACCINE_NAME = Column("vaccine_name", ("Loại vắc xin", "Vắc-xin", "Vaccine"))
START = Column(
    "start",
    ("Ngày bắt đầu", "Ngày tiếp xúc", "Ngày tiếp xúc cuối", "Start", "Start date", "Contact date"),
)

WORKER_COLUMNS = (
    NAME,
    PHONE,
    AREA,
    RESIDENCE,
    TEST_KIND,
    TEST_DATE,
    TEST_RESULT,
    VACCINE_DOSE,
    VACCINE_DATE,
    VACCINE_NAME,
)
CONTACT_COLUMNS = (NAME, PHONE, replace(AREA, required=True), RESIDENCE, START)


@dataclass(frozen=True)
class LabResult:
    """A test as a list reports it."""

    kind: str
    on: date
    result: str


@dataclass(frozen=True)
class Vaccination:
    """A vaccine dose as a list reports it."""

    dose: int
    on: date
    vaccine: str


@dataclass(frozen=True)
class ImportRow:
    """One checked row, ready to import."""

    row: int
    name: str
    phone: str  # E.164
    area: str  # a commune code, or "" when the list gives none
    residence: str = ""
    test: LabResult | None = None
    vaccination: Vaccination | None = None
    start: date | None = None


@dataclass(frozen=True)
class Problem:
    """Why a row was not taken: which cell, what is wrong, and what was typed there."""

    row: int
    field: str
    code: str
    value: str


@dataclass(frozen=True)
class Checked:
    """The rows to import and the problems of the others."""

    good: list[ImportRow]
    problems: list[Problem]


def read_rows(data: bytes, filename: str, limits: SheetLimits = SheetLimits()) -> Table:
    """The first sheet of an uploaded XLSX or CSV file as text cells; raise SheetRefused."""
    if len(data) > limits.max_bytes:
        raise SheetRefused("too_big")
    name = filename.lower()
    if name.endswith(_MACRO_SUFFIXES):
        raise SheetRefused("macros")
    if data.startswith(_OLE_MAGIC):
        raise SheetRefused("not_a_spreadsheet")
    if zipfile.is_zipfile(BytesIO(data)):
        return _read_xlsx(data, limits)
    return _read_csv(data, name, limits)


def _read_xlsx(data: bytes, limits: SheetLimits) -> Table:
    _check_zip(data, limits)
    try:
        book = load_workbook(BytesIO(data), read_only=True, data_only=True, keep_links=False)
        try:
            if not book.worksheets:
                raise SheetRefused("empty")
            rows = book.worksheets[0].iter_rows(
                max_row=limits.max_rows + 2, max_col=limits.max_columns, values_only=True
            )
            return _table(rows, limits)
        finally:
            book.close()  # read-only mode keeps the archive open until told
    except _BROKEN as error:
        raise SheetRefused("not_a_spreadsheet") from error


def _check_zip(data: bytes, limits: SheetLimits) -> None:
    """Refuse a zip bomb or a macro workbook from the zip directory alone, inflating nothing."""
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            members = archive.infolist()
    except _BROKEN as error:
        raise SheetRefused("not_a_spreadsheet") from error
    # zipfile stops inflating a member at its declared size (a forged one fails the CRC),
    # so the declared sizes bound what opening the workbook can cost.
    if (
        len(members) > limits.max_members
        or sum(member.file_size for member in members) > limits.max_unzipped
        or any(m.file_size > limits.max_ratio * max(m.compress_size, 1) for m in members)
    ):
        raise SheetRefused("zip_bomb")
    if any(member.filename.lower().endswith("vbaproject.bin") for member in members):
        raise SheetRefused("macros")


def _read_csv(data: bytes, name: str, limits: SheetLimits) -> Table:
    text = _decode(data, name)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(_DELIMITERS, key=first_line.count)
    reader = csv.reader(StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _table(islice(reader, limits.max_rows + 2), limits)
    except csv.Error as error:
        raise SheetRefused("not_a_spreadsheet") from error


def _decode(data: bytes, name: str) -> str:
    """CSV text: UTF-8 (with or without BOM) or UTF-16 with its BOM."""
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        text: str | None = data.decode(encoding)
    except UnicodeDecodeError:
        text = None
    if text is None or "\0" in text:  # binary, or UTF-16 without a BOM
        raise SheetRefused("encoding" if name.endswith(".csv") else "not_a_spreadsheet")
    return text


def _table(rows: Iterable[Sequence[object]], limits: SheetLimits) -> Table:
    """Text rows under the first non-blank row (the header), blank rows skipped."""
    columns: list[tuple[int, str]] | None = None
    body: list[tuple[int, dict[str, str]]] = []
    for number, row in enumerate(rows, start=1):
        cells = [_text(value) for value in row[: limits.max_columns]]
        if not any(cells):
            continue
        if number > limits.max_rows + 1:
            raise SheetRefused("too_many_rows")
        if columns is None:
            columns = _header(cells)
            continue
        body.append((number, {key: cells[i] if i < len(cells) else "" for i, key in columns}))
    if columns is None or not body:
        raise SheetRefused("empty")
    return Table([key for _, key in columns], body)


def _header(cells: list[str]) -> list[tuple[int, str]]:
    """Each named column's position and key; a repeated name gets its position appended."""
    columns: list[tuple[int, str]] = []
    for position, text in enumerate(cells):
        if text:
            taken = any(key == text for _, key in columns)
            columns.append((position, f"{text} ({position + 1})" if taken else text))
    return columns


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_date(value.date())
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    # Sheets made on a Mac or typed with some keyboards carry decomposed accents.
    return unicodedata.normalize("NFC", str(value)).strip()


def validate(
    table: Table,
    columns: Sequence[Column],
    areas: AreaCatalog,
    today: date,
    default_area: str = "",
) -> Checked:
    """Check every row against `columns`; a row with any problem is left out of `good`."""
    mapping = _map_columns(table.headers, columns, default_area)
    check = _Check(
        required=frozenset(c.field for c in columns if c.required),
        areas=areas,
        today=today,
        default_area=default_area,
    )
    good: list[ImportRow] = []
    problems: list[Problem] = []
    for number, cells in table.rows:
        row = _Row(number, {name: cells.get(header, "") for name, header in mapping.items()})
        imported = check.row(row)
        problems.extend(row.problems)
        if imported:
            good.append(imported)
    return Checked(good, problems)


def _map_columns(
    headers: list[str], columns: Sequence[Column], default_area: str
) -> dict[str, str]:
    """Field → the first header naming it; raise missing_columns for required fields."""
    folded = [(fold(_NOTE.sub(" ", header)), header) for header in headers]
    mapping: dict[str, str] = {}
    for column in columns:
        names = {fold(alias) for alias in column.aliases}
        header = next((header for key, header in folded if key in names), None)
        if header is not None:
            mapping[column.field] = header
    present = set(mapping) | ({AREA.field} if default_area else set())
    missing = tuple(c.field for c in columns if c.required and c.field not in present)
    if missing:
        raise SheetRefused("missing_columns", missing)
    return mapping


@dataclass
class _Row:
    """One row's cells by field, and the problems found so far."""

    number: int
    cells: dict[str, str]
    problems: list[Problem] = field(default_factory=list)

    def value(self, name: str) -> str:
        return self.cells.get(name, "")

    def flag(self, name: str, code: str) -> None:
        self.problems.append(Problem(self.number, name, code, self.value(name)))

    def given(self, *names: str) -> bool:
        return any(self.value(name) for name in names)


@dataclass
class _Check:
    """What checking rows needs, and the phones seen in earlier rows."""

    required: frozenset[str]
    areas: AreaCatalog
    today: date
    default_area: str
    phones: set[str] = field(default_factory=set)

    def row(self, row: _Row) -> ImportRow | None:
        name = self.name(row)
        phone = self.phone(row)
        area = self.area(row)
        test = self.test(row)
        vaccination = self.vaccination(row)
        start = self.day(row, "start", future=True) if row.given("start") else None
        if row.problems or name is None or phone is None or area is None:
            return None
        return ImportRow(
            row.number, name, phone, area, row.value("residence"), test, vaccination, start
        )

    def needed(self, row: _Row, name: str) -> str | None:
        """The cell's text; None (and a problem) when a required cell is empty."""
        value = row.value(name)
        if not value and name in self.required:
            row.flag(name, "missing")
            return None
        return value

    def name(self, row: _Row) -> str | None:
        typed = self.needed(row, "name")
        if not typed:
            return typed
        name = " ".join(typed.split())
        if not (2 <= len(name) <= 80 and _NAME.fullmatch(name)):
            row.flag("name", "bad_name")
            return None
        return name

    def phone(self, row: _Row) -> str | None:
        typed = self.needed(row, "phone")
        if not typed:
            return typed
        phone = normalize_phone("0" + typed if _BARE_MOBILE.fullmatch(typed) else typed)
        if phone is None:
            row.flag("phone", "bad_phone")
        elif phone in self.phones:
            row.flag("phone", "duplicate_phone")
        else:
            self.phones.add(phone)
        return phone

    def area(self, row: _Row) -> str | None:
        typed = row.value("area")
        if not typed:
            return self.default_area or self.needed(row, "area")
        area = self.areas.find(typed)
        if area is None:
            row.flag("area", "unknown_area")
        return area.code if area else None

    def day(self, row: _Row, name: str, *, future: bool = False) -> date | None:
        """A required date in the cell; dates after today only where `future` allows them."""
        typed = row.value(name)
        if not typed:
            row.flag(name, "missing")
            return None
        day = parse_date(typed, self.today)
        if day is None or (day > self.today and not future):
            row.flag(name, "bad_date")
            return None
        return day

    def test(self, row: _Row) -> LabResult | None:
        if not row.given("test_kind", "test_date", "test_result"):
            return None
        on = self.day(row, "test_date")
        result = row.value("test_result")
        if not result:
            row.flag("test_result", "missing")
        return LabResult(row.value("test_kind"), on, result) if on and result else None

    def vaccination(self, row: _Row) -> Vaccination | None:
        if not row.given("vaccine_dose", "vaccine_date", "vaccine_name"):
            return None
        dose = self.dose(row)
        on = self.day(row, "vaccine_date")
        return Vaccination(dose, on, row.value("vaccine_name")) if dose and on else None

    def dose(self, row: _Row) -> int | None:
        typed = row.value("vaccine_dose")
        if not typed:
            row.flag("vaccine_dose", "missing")
            return None
        match = _DOSE.fullmatch(fold(typed))
        if match is None or not 1 <= int(match[1]) <= _MAX_DOSE:
            row.flag("vaccine_dose", "bad_dose")
            return None
        return int(match[1])


def describe_refusal(lang: str, refused: SheetRefused) -> str:
    """Why an upload was refused, for the person who sent it."""
    if refused.reason == "missing_columns":
        labels = ", ".join(t(lang, f"sheet.column_{name}") for name in refused.columns)
        return t(lang, "sheet.missing_columns", columns=labels)
    return t(lang, f"sheet.{refused.reason}")


def describe_problem(lang: str, problem: Problem) -> str:
    """What is wrong with one cell, in words."""
    return t(lang, f"sheet.{problem.code}")


def xlsx_bytes(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[object]]]]) -> bytes:
    """An XLSX workbook with one sheet per (title, header, rows); texts always stay texts."""
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, header, rows in sheets:
        sheet = book.create_sheet(title)
        cells = [_text_cell(sheet, label) for label in header]
        for cell in cells:
            cell.font = bold
        sheet.append(cells)
        for row in rows:
            sheet.append([_value(sheet, value) for value in row])
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def _value(sheet: WriteOnlyWorksheet, value: object) -> object:
    return _text_cell(sheet, value) if isinstance(value, str) else value


def _text_cell(sheet: WriteOnlyWorksheet, text: str) -> Cell:
    cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("", text))
    # A value someone typed as "=HYPERLINK(…)" must reach staff's Excel as text, not a formula.
    cell.data_type = "s"
    return cell


def error_report(problems: Iterable[Problem], lang: str) -> bytes:
    """An XLSX listing each problem: row, column, what is wrong, the value as typed."""
    header = [t(lang, f"sheet.report_{part}") for part in ("row", "column", "problem", "value")]
    rows = (
        (p.row, t(lang, f"sheet.column_{p.field}"), describe_problem(lang, p), p.value)
        for p in problems
    )
    return xlsx_bytes([(t(lang, "sheet.report_title"), header, rows)])
