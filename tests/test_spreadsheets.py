"""Lists staff upload: what is accepted, what is refused and why, and the XLSX files we send."""

from __future__ import annotations

import random
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from io import BytesIO

import pytest
from openpyxl import Workbook, load_workbook

from core import spreadsheets
from core.areas import load_areas
from core.matching import fold
from core.spreadsheets import (
    CONTACT_COLUMNS,
    WORKER_COLUMNS,
    ImportRow,
    LabResult,
    Problem,
    SheetLimits,
    SheetRefused,
    Vaccination,
    describe_refusal,
    error_report,
    read_rows,
    validate,
    xlsx_bytes,
)
from core.texts import t

AREAS = load_areas()
TODAY = date(2026, 12, 4)
LIMITS = SheetLimits()
HOME = AREAS.areas[0]
# A commune written "Xã …" whose name has accents, to type it every way people do.
ACCENTED = next(
    a for a in AREAS.areas if a.name.startswith("Xã ") and fold(a.name) != a.name.casefold()
)
REASONS = (
    "too_big",
    "not_a_spreadsheet",
    "macros",
    "zip_bomb",
    "too_many_rows",
    "encoding",
    "empty",
    "missing_columns",
)


def workbook(rows: list[list[object]]) -> bytes:
    """An XLSX file whose first sheet holds `rows`."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def with_members(xlsx: bytes, extra: dict[str, bytes]) -> bytes:
    """The same workbook with more files inside its zip."""
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(xlsx)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            target.writestr(member, source.read(member))
        for name, data in extra.items():
            target.writestr(name, data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def semicolon_csv(*lines: str) -> bytes:
    """A CSV as Vietnamese Excel saves it with «CSV UTF-8»: a BOM and `;` between cells."""
    return "\r\n".join(lines).encode("utf-8-sig")


def refusal(data: bytes, filename: str, limits: SheetLimits = LIMITS) -> str:
    """Why read_rows refuses the upload."""
    with pytest.raises(SheetRefused) as refused:
        read_rows(data, filename, limits)
    return refused.value.reason


def workers(*lines: str, default_area: str = "") -> tuple[list[ImportRow], list[Problem]]:
    """A worker list as a CSV, read and checked."""
    checked = validate(
        read_rows(semicolon_csv(*lines), "ds.csv"), WORKER_COLUMNS, AREAS, TODAY, default_area
    )
    return checked.good, checked.problems


def test_an_excel_worker_list_is_read_with_its_dates_and_numeric_phones() -> None:
    data = workbook(
        [
            [
                "Họ và tên",
                "Số điện thoại",
                "Xã",
                "Nơi ở hiện tại",
                "Loại xét nghiệm",
                "Ngày xét nghiệm (dd/mm/yyyy)",
                "Kết quả",
                "Mũi",
                "Ngày tiêm",
                "Vắc-xin",
                "Ghi chú",
            ],
            [
                "  Nguyễn Văn An ",
                912345678,  # typed as a number: Excel dropped the leading 0
                ACCENTED.name,
                "Ấp 3",
                "Test nhanh",
                date(2026, 11, 27),
                "Âm tính",
                2.0,
                datetime(2026, 10, 1),
                "Pfizer",
                "ca sáng",
            ],
            [None, "", None],
            ["Lê Thị Cúc", "0987.654.321"],
        ]
    )

    table = read_rows(data, "danh-sach.xlsx")
    checked = validate(table, WORKER_COLUMNS, AREAS, TODAY, default_area=HOME.code)

    assert [number for number, _ in table.rows] == [2, 4]  # as Excel numbers them
    assert table.rows[0][1]["Ngày xét nghiệm (dd/mm/yyyy)"] == "27/11/2026"
    assert checked.problems == []
    assert checked.good == [
        ImportRow(
            2,
            "Nguyễn Văn An",
            "+84912345678",
            ACCENTED.code,
            "Ấp 3",
            LabResult("Test nhanh", date(2026, 11, 27), "Âm tính"),
            Vaccination(2, date(2026, 10, 1), "Pfizer"),
        ),
        ImportRow(4, "Lê Thị Cúc", "+84987654321", HOME.code),
    ]


def test_a_csv_with_bom_and_semicolons_keeps_commas_inside_cells() -> None:
    good, problems = workers(
        "Họ tên;SĐT;Xã/phường;Địa chỉ",
        f"Trần Thị Bình;0912 345 678;{HOME.code};Số 5, ấp 2",
    )

    assert problems == []
    assert good == [ImportRow(2, "Trần Thị Bình", "+84912345678", HOME.code, "Số 5, ấp 2")]


def test_excel_unicode_text_utf16_with_tabs_is_read() -> None:
    data = "Họ và tên\tSố điện thoại\nPhạm Minh Đức\t0905123456\n".encode("utf-16")

    table = read_rows(data, "ds.txt")

    assert table.rows == [(2, {"Họ và tên": "Phạm Minh Đức", "Số điện thoại": "0905123456"})]


@pytest.mark.parametrize(
    "data",
    [
        "Họ và tên;SĐT\nAn;0912345678\n".encode("utf-16-le"),  # UTF-16 without its BOM
        "Họ và tên;SĐT\nAn;0912345678\n".encode().replace(b"\xe1\xbb\x8d", b"\xf5"),
    ],
)
def test_a_csv_in_another_encoding_is_refused_with_how_to_save_it(data: bytes) -> None:
    assert refusal(data, "ds.csv") == "encoding"
    assert "CSV UTF-8" in describe_refusal("vi", SheetRefused("encoding"))


def test_missing_required_columns_are_named_in_the_refusal() -> None:
    table = read_rows(semicolon_csv("Họ và tên;Ghi chú", "Võ Văn Em;F1"), "f1.csv")

    with pytest.raises(SheetRefused) as refused:
        validate(table, CONTACT_COLUMNS, AREAS, TODAY)
    with pytest.raises(SheetRefused) as without_area:
        validate(table, CONTACT_COLUMNS, AREAS, TODAY, default_area=HOME.code)

    assert refused.value.reason == "missing_columns"
    assert refused.value.columns == ("phone", "area")
    assert describe_refusal("vi", refused.value) == (
        "Bảng tính thiếu cột: Số điện thoại, Xã, thị trấn. Dòng đầu tiên phải ghi tên các cột."
    )
    assert "Phone number, Commune" in describe_refusal("en", refused.value)
    assert without_area.value.columns == ("phone",)  # the staff member's commune fills it


def test_wrong_and_future_dates_are_reported_cell_by_cell() -> None:
    good, problems = workers(
        "Họ và tên;SĐT;Ngày xét nghiệm;Kết quả;Mũi;Ngày tiêm",
        "An;0912000001;31/02/2026;Âm tính;;",
        "Bình;0912000002;hôm qua;Âm tính;;",
        "Cúc;0912000003;25/12/2026;Âm tính;;",
        "Dũng;0912000004;;;1;05/12/2026",
        "Em;0912000005;03/12/2026;;;",
        "Giang;0912000006;3/12;Âm tính;1;1/6/25",
    )

    assert [(p.row, p.field, p.code, p.value) for p in problems] == [
        (2, "test_date", "bad_date", "31/02/2026"),
        (3, "test_date", "bad_date", "hôm qua"),
        (4, "test_date", "bad_date", "25/12/2026"),  # tested in the future: a typo
        (5, "vaccine_date", "bad_date", "05/12/2026"),
        (6, "test_result", "missing", ""),
    ]
    assert [(row.row, row.test, row.vaccination) for row in good] == [
        (
            7,
            LabResult("", date(2026, 12, 3), "Âm tính"),
            Vaccination(1, date(2025, 6, 1), ""),
        )
    ]


def test_a_contact_list_takes_a_start_date_in_the_future() -> None:
    table = read_rows(
        semicolon_csv(
            "Họ và tên;Số điện thoại;Xã;Ngày bắt đầu",
            f"Hồ Văn Hải;0912000001;{HOME.name};10/12/2026",
            f"Hồ Thị Lan;0912000002;{HOME.name};32/12/2026",
        ),
        "f1.csv",
    )

    checked = validate(table, CONTACT_COLUMNS, AREAS, TODAY)

    assert [(row.name, row.start) for row in checked.good] == [("Hồ Văn Hải", date(2026, 12, 10))]
    assert checked.problems == [Problem(3, "start", "bad_date", "32/12/2026")]


def test_the_second_row_with_a_phone_already_listed_is_refused() -> None:
    good, problems = workers(
        "Họ và tên;Số điện thoại",
        "Ngô Văn Tài;0912345678",
        "Ngô Thị Hoa;0912345679",
        "Ngô Văn Tài;+84 912 345 678",
        "Ngô Văn Tài;84912345678",
    )

    assert [row.row for row in good] == [2, 3]
    assert problems == [
        Problem(4, "phone", "duplicate_phone", "+84 912 345 678"),
        Problem(5, "phone", "duplicate_phone", "84912345678"),
    ]


def test_names_phones_and_doses_people_get_wrong() -> None:
    good, problems = workers(
        "Họ và tên;Số điện thoại;Mũi;Ngày tiêm",
        ";0912000001;;",
        "123;0912000002;;",
        "Đỗ Văn Quang;12345;;",
        "Đỗ Thị Mai;;;",
        "Đỗ Văn Hùng;0912000005;mũi ba;01/11/2026",
        "Đỗ Văn Long;0912000006;Mũi 3;01/11/2026",
        "Đỗ Thị Ngọc;0243 812 3456;;",
    )

    assert [(p.row, p.field, p.code) for p in problems] == [
        (2, "name", "missing"),
        (3, "name", "bad_name"),
        (4, "phone", "bad_phone"),
        (5, "phone", "missing"),
        (6, "vaccine_dose", "bad_dose"),
    ]
    assert [(row.name, row.phone) for row in good] == [
        ("Đỗ Văn Long", "+84912000006"),
        ("Đỗ Thị Ngọc", "+842438123456"),  # a landline is a phone too
    ]
    assert good[0].vaccination == Vaccination(3, date(2026, 11, 1), "")


@pytest.mark.parametrize(
    "typed",
    [
        ACCENTED.code,
        ACCENTED.name,
        ACCENTED.name.upper(),
        ACCENTED.name.removeprefix("Xã "),
        fold(ACCENTED.name.removeprefix("Xã ")),  # typed without accents
        f"  {ACCENTED.name.lower()} ",
    ],
)
def test_a_commune_is_found_by_code_or_by_name_ignoring_case_and_accents(typed: str) -> None:
    good, problems = workers("Họ và tên;SĐT;Xã", f"Lý Văn Sơn;0912345678;{typed}")

    assert problems == []
    assert [row.area for row in good] == [ACCENTED.code]


def test_a_commune_outside_the_district_is_reported_as_typed() -> None:
    good, problems = workers("Họ và tên;SĐT;Xã", "Lý Văn Sơn;0912345678;Xã Không Có Thật")

    assert good == []
    assert problems == [Problem(2, "area", "unknown_area", "Xã Không Có Thật")]


def test_a_contact_without_a_commune_takes_the_senders_commune_or_is_reported() -> None:
    table = read_rows(semicolon_csv("Họ và tên;SĐT;Xã", "Mai Văn Tư;0912345678;"), "f1.csv")

    defaulted = validate(table, CONTACT_COLUMNS, AREAS, TODAY, default_area=HOME.code)
    undefaulted = validate(table, CONTACT_COLUMNS, AREAS, TODAY)

    assert [row.area for row in defaulted.good] == [HOME.code]
    assert undefaulted.problems == [Problem(2, "area", "missing", "")]


def test_fifty_thousand_rows_are_refused_as_too_many() -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["Họ và tên", "Số điện thoại", "Xã"])
    for number in range(50_000):
        sheet.append([f"Người số {number}", f"09{number:08d}", HOME.name])
    out = BytesIO()
    book.save(out)

    assert refusal(out.getvalue(), "ds.xlsx") == "too_many_rows"


def test_the_row_limit_counts_data_rows_below_the_header() -> None:
    lines = ["Họ và tên;SĐT"] + [f"Người {i};09120000{i:02d}" for i in range(4)]
    limits = SheetLimits(max_rows=3)

    assert len(read_rows(semicolon_csv(*lines[:4]), "ds.csv", limits).rows) == 3
    assert refusal(semicolon_csv(*lines), "ds.csv", limits) == "too_many_rows"


def test_workbooks_with_macros_are_refused() -> None:
    xlsx = workbook([["Họ và tên", "SĐT"], ["An", "0912345678"]])
    with_macro = with_members(xlsx, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + bytes(500)})

    assert refusal(with_macro, "danh-sach.xlsx") == "macros"
    assert refusal(xlsx, "danh-sach.xlsm") == "macros"
    assert refusal(xlsx, "MAU.XLTM") == "macros"


def zeros_member(size: int) -> bytes:
    """A workbook carrying `size` bytes of zeros, deflated to a thousandth of that."""
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = bytes(1_000_000)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return out.getvalue()


def many_members(count: int) -> bytes:
    """A zip holding `count` tiny files."""
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for number in range(count):
            archive.writestr(f"xl/media/image{number}.png", b"x")
    return out.getvalue()


@pytest.mark.parametrize(
    "make",
    [
        partial(zeros_member, 100_000_000),  # expands past the total limit
        partial(zeros_member, 5_000_000),  # small in total, but 1000 times its compressed size
        partial(many_members, 201),
    ],
    ids=["huge", "ratio", "members"],
)
def test_a_zip_bomb_is_refused_before_the_workbook_is_opened(
    make: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make()

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("openpyxl opened a zip bomb")

    monkeypatch.setattr(spreadsheets, "load_workbook", never)

    assert len(data) < 200_000
    assert refusal(data, "ds.xlsx") == "zip_bomb"


def forged_size(xlsx: bytes, member: str, size: int) -> bytes:
    """The zip with `member`'s uncompressed size misdeclared in its central directory."""
    data = bytearray(xlsx)
    record = data.index(b"PK\x01\x02")
    while data[record + 46 : record + 46 + len(member)] != member.encode():
        record = data.index(b"PK\x01\x02", record + 4)
    data[record + 24 : record + 28] = size.to_bytes(4, "little")
    return bytes(data)


def test_a_forged_declared_size_is_not_trusted() -> None:
    xlsx = workbook([["Họ và tên", "SĐT"], ["An", "0912345678"]])
    sheet = "xl/worksheets/sheet1.xml"

    # Declared too big: refused from the directory; too small: inflating stops at the
    # declared size and the checksum fails, so the file is refused rather than read.
    assert refusal(forged_size(xlsx, sheet, 4_000_000_000), "ds.xlsx") == "zip_bomb"
    assert refusal(forged_size(xlsx, sheet, 10), "ds.xlsx") == "not_a_spreadsheet"


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (random.Random(7).randbytes(4096), "danh-sach.xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4088), "danh-sach.xls"),
        (many_members(3), "anh.xlsx"),  # a zip, but no workbook inside
        (workbook([["Họ và tên"]])[:3000], "cut-short.xlsx"),
    ],
    ids=["random", "old-xls", "other-zip", "truncated"],
)
def test_files_that_are_not_spreadsheets_are_refused(data: bytes, filename: str) -> None:
    assert refusal(data, filename) == "not_a_spreadsheet"


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (workbook([]), "trong.xlsx"),
        (workbook([[None, None], ["", " "]]), "trong.xlsx"),
        (workbook([["Họ và tên", "SĐT"]]), "chi-co-tieu-de.xlsx"),
        (b"", "trong.csv"),
    ],
)
def test_a_sheet_without_data_rows_is_refused_as_empty(data: bytes, filename: str) -> None:
    assert refusal(data, filename) == "empty"


def test_a_file_over_the_size_limit_is_refused_unread() -> None:
    assert refusal(b"x" * 1001, "ds.csv", SheetLimits(max_bytes=1000)) == "too_big"


def test_every_refusal_has_a_message_in_both_languages() -> None:
    for reason in REASONS:
        refused = SheetRefused(reason, ("name",))
        vietnamese, english = describe_refusal("vi", refused), describe_refusal("en", refused)
        assert vietnamese and english and vietnamese != english


def read_back(xlsx: bytes) -> dict[str, list[tuple[object, ...]]]:
    """Every sheet's values, as Excel would show them."""
    book = load_workbook(BytesIO(xlsx))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def test_the_error_report_lists_one_line_per_problem_in_vietnamese() -> None:
    _, problems = workers(
        "Họ và tên;Số điện thoại;Xã",
        '=HYPERLINK("http://x");0912345678;',
        "Phan Văn Tú;12345;Xã Không Có Thật",
        "Phan Văn Tú;0912345678;",
    )

    report = read_back(error_report(problems, "vi"))

    assert report == {
        "Các dòng bị lỗi": [
            ("Dòng", "Cột", "Lỗi", "Giá trị"),
            (2, "Họ và tên", t("vi", "sheet.bad_name"), '=HYPERLINK("http://x")'),
            (3, "Số điện thoại", "Số điện thoại không đúng (cần 10 số, bắt đầu bằng 0)", "12345"),
            (3, "Xã, thị trấn", t("vi", "sheet.unknown_area"), "Xã Không Có Thật"),
            (4, "Số điện thoại", t("vi", "sheet.duplicate_phone"), "0912345678"),
        ]
    }
    # What someone typed as a formula reaches staff's Excel as plain text.
    sheet = load_workbook(BytesIO(error_report(problems, "vi"))).worksheets[0]
    assert sheet["D2"].data_type == "s"
    assert read_back(error_report(problems, "en"))["Rows with problems"][0] == (
        "Row",
        "Column",
        "Problem",
        "Value",
    )


def test_an_export_has_one_sheet_per_part_with_a_bold_header() -> None:
    data = xlsx_bytes(
        [
            (
                "Người lao động",
                ["Họ và tên", "Ngày tiêm", "Mũi"],
                [["Bùi Văn Khoa", date(2026, 11, 2), 3]],
            ),
            ("Trống", ["Họ và tên"], []),
        ]
    )

    book = load_workbook(BytesIO(data))

    assert read_back(data) == {
        "Người lao động": [
            ("Họ và tên", "Ngày tiêm", "Mũi"),
            ("Bùi Văn Khoa", datetime(2026, 11, 2), 3),
        ],
        "Trống": [("Họ và tên",)],
    }
    assert book.worksheets[0]["A1"].font.bold
    assert not book.worksheets[0]["A2"].font.bold


def test_phones_that_lost_their_leading_zero_in_a_resaved_csv_are_restored() -> None:
    good, problems = workers("Tên;Phone", "Hà Văn Bảy;912345678", "Hà Thị Tám;812345678")

    assert problems == []
    assert [row.phone for row in good] == ["+84912345678", "+84812345678"]
