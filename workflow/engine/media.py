"""What an evidence document is, judged by its content, never by its name.

`detect` reads the bytes: a PDF, a JPEG and a PNG by their signatures; DOC and XLS by
the streams of their OLE2 container; DOCX, XLSX, ODT and ODS by the parts of their ZIP
container (``[Content_Types].xml`` or ODF's ``mimetype``). What may never be evidence is
refused whatever the settings allow: an executable (PE, ELF, Mach-O, a script with
``#!``), an office file with macros (``vbaProject.bin``, an XLSM or DOCM content type, a
``_VBA_PROJECT`` or ``Macros`` stream, ODF ``Basic/``/``Scripts/`` libraries), a ZIP whose
parts unpack to more than `MAX_UNPACKED` (a zip bomb) or that cannot be read. A plain
ZIP is a type of its own (``zip``), refused unless the settings list it.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass

__all__ = ["MAX_UNPACKED", "TYPES", "FileType", "Refused", "detect"]

#: The largest total a ZIP-based document may unpack to (a 20 MB XLSX unpacks to ~200 MB
#: at most); more is a zip bomb, whoever opens it later.
MAX_UNPACKED = 512 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class FileType:
    """A type of document: its settings name, media type and name for people."""

    name: str
    media_type: str
    title: str


TYPES: dict[str, FileType] = {
    t.name: t
    for t in (
        FileType(name="pdf", media_type="application/pdf", title="PDF"),
        FileType(name="doc", media_type="application/msword", title="документ Word (DOC)"),
        FileType(
            name="docx",
            media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            title="документ Word (DOCX)",
        ),
        FileType(name="xls", media_type="application/vnd.ms-excel", title="таблица Excel (XLS)"),
        FileType(
            name="xlsx",
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            title="таблица Excel (XLSX)",
        ),
        FileType(
            name="odt",
            media_type="application/vnd.oasis.opendocument.text",
            title="документ OpenDocument (ODT)",
        ),
        FileType(
            name="ods",
            media_type="application/vnd.oasis.opendocument.spreadsheet",
            title="таблица OpenDocument (ODS)",
        ),
        FileType(name="jpg", media_type="image/jpeg", title="изображение JPEG"),
        FileType(name="png", media_type="image/png", title="изображение PNG"),
        FileType(name="zip", media_type="application/zip", title="архив ZIP"),
    )
}


class Refused(Exception):  # noqa: N818  # a verdict on content, not a fault of ours
    """The content may not be evidence; ``reason`` says why, in Russian."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_EXECUTABLE = (
    (b"MZ", "исполняемый файл Windows"),
    (b"\x7fELF", "исполняемый файл Linux (ELF)"),
    (b"\xfe\xed\xfa\xce", "исполняемый файл macOS"),
    (b"\xfe\xed\xfa\xcf", "исполняемый файл macOS"),
    (b"\xce\xfa\xed\xfe", "исполняемый файл macOS"),
    (b"\xcf\xfa\xed\xfe", "исполняемый файл macOS"),
    (b"\xca\xfe\xba\xbe", "исполняемый файл (macOS или Java)"),
    (b"#!", "сценарий (скрипт) для запуска"),
)
_ODF = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
}
_ODF_MACROS = re.compile(r"(Basic|Scripts)/[^/]+/.")


def _utf16(name: str) -> bytes:
    return name.encode("utf-16-le")


def detect(data: bytes) -> FileType:
    """The type of ``data``.

    Raises:
        Refused: an executable, a file with macros, a zip bomb, a damaged container, or
            content of no known type.
    """
    for magic, what in _EXECUTABLE:
        if data.startswith(magic):
            raise Refused(f"это {what}, а не документ")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return TYPES["png"]
    if data.startswith(b"\xff\xd8\xff"):
        return TYPES["jpg"]
    if data.startswith(_OLE):
        return _ole(data)
    if data.startswith(_ZIP):
        return _zip(data)
    # A PDF may have a few bytes before its header (the format allows up to 1024).
    if b"%PDF-" in data[:1024]:
        return TYPES["pdf"]
    raise Refused("содержимое не похоже ни на один допустимый вид документа")


def _ole(data: bytes) -> FileType:
    """DOC or XLS by the names in the OLE2 directory (UTF-16 names in the sectors)."""
    if _utf16("_VBA_PROJECT") in data or _utf16("Macros") in data:
        raise Refused("документ содержит макросы")
    if _utf16("WordDocument") in data:
        return TYPES["doc"]
    if _utf16("Workbook") in data or _utf16("Book") in data:
        return TYPES["xls"]
    if _utf16("EncryptedPackage") in data:
        raise Refused("документ зашифрован паролем — его содержимое не проверить")
    raise Refused("контейнер OLE, но не документ Word и не таблица Excel")


def _zip(data: bytes) -> FileType:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError):
        raise Refused("архив ZIP повреждён и не читается") from None
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_UNPACKED:
        raise Refused(
            f"архив распаковывается в {unpacked // (1024 * 1024)} МБ "
            f"(больше {MAX_UNPACKED // (1024 * 1024)} МБ): похоже на «zip-бомбу»"
        )
    names = {i.filename for i in infos}
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise Refused("документ содержит макросы (vbaProject.bin)")
    if "[Content_Types].xml" in names:
        return _ooxml(archive, names)
    if "mimetype" in names:
        try:
            mimetype = _small(archive, "mimetype").decode("ascii").strip()
        except UnicodeDecodeError:
            mimetype = ""
        if any(_ODF_MACROS.match(n) for n in names):
            raise Refused("документ содержит макросы (Basic/Scripts)")
        if mimetype in _ODF:
            return TYPES[_ODF[mimetype]]
        if mimetype.startswith("application/vnd.oasis.opendocument."):
            raise Refused("документ OpenDocument, но не текст (ODT) и не таблица (ODS)")
    return TYPES["zip"]


def _ooxml(archive: zipfile.ZipFile, names: set[str]) -> FileType:
    types = _small(archive, "[Content_Types].xml").decode("utf-8", "replace")
    if "macroEnabled" in types:
        raise Refused("документ с поддержкой макросов (XLSM, DOCM)")
    if "word/document.xml" in names:
        return TYPES["docx"]
    if "xl/workbook.xml" in names:
        return TYPES["xlsx"]
    raise Refused("документ Office, но не Word (DOCX) и не Excel (XLSX)")


def _small(archive: zipfile.ZipFile, name: str) -> bytes:
    """A container's part of a few kilobytes (its declared size was checked above)."""
    try:
        with archive.open(name) as part:
            return part.read(1024 * 1024)
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, NotImplementedError, OSError):
        raise Refused("архив ZIP повреждён и не читается") from None
