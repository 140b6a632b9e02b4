"""The numbers of a file read on a laptop, sent to a team server in chunks.

``fbcheck check --server URL INPUT`` reads and normalises its input where it is,
with the readers and limits of a local run, and sends the server only the
file's distinct valid numbers in E.164, :data:`MAX_CHUNK_NUMBERS` to a request
(well under the 5 MB that requests are kept under), in an upload session of
:mod:`addin.web.uploads`. The server checks every number again: one that is not
E.164 of a valid number is refused, never uploaded to the vendor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from addin.engine.phones import normalize
from addin.web.uploads import UploadBook, UploadSessions
from addin.web.xlwings_glue import SelectionError

#: Numbers in one chunk: 100,000 numbers of at most 16 characters make under 2 MB of JSON.
MAX_CHUNK_NUMBERS = 100_000
#: The fingerprint of an input (``addin.engine.checker.input_fingerprint``): hex digits.
Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16,64}$")]
#: One number as sent: ``+`` and 7 to 15 digits (E.164); validity is checked after.
E164Text = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]


@dataclass(frozen=True)
class FileHeader:
    """What the command line declared when it opened the upload."""

    fingerprint: str
    refresh: bool


@dataclass(frozen=True)
class FileNumbers:
    """A file's distinct numbers, assembled from all the chunks in order."""

    header: FileHeader
    numbers: list[str]


class OpenFileJob(BaseModel):
    """``POST /api/file-jobs``: the input's fingerprint, how many chunks follow, --refresh."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    fingerprint: Fingerprint
    chunks: int = Field(ge=1, le=10_000)
    refresh: bool = False


class NumbersChunk(BaseModel):
    """``PUT /api/file-jobs/uploads/<id>/chunks/<i>``: up to 100,000 numbers in E.164.

    A file without a valid number sends one empty chunk.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    numbers: list[E164Text] = Field(max_length=MAX_CHUNK_NUMBERS)


def checked_chunk(body: NumbersChunk) -> tuple[str, ...]:
    """Return the chunk's numbers; refuse one that is not a valid number (never uploaded)."""
    for position, number in enumerate(body.numbers):
        if normalize(number).e164 != number:
            raise SelectionError(
                "bad_upload",
                f"numbers[{position}] is not the E.164 form of a valid phone number;"
                " only valid numbers are sent (check the command line's version)",
            )
    return tuple(body.numbers)


def assemble_numbers(header: FileHeader, chunks: list[tuple[str, ...]]) -> FileNumbers:
    """Join the chunks in index order, each number once."""
    numbers: dict[str, None] = {}
    for chunk in chunks:
        numbers.update(dict.fromkeys(chunk))
    return FileNumbers(header, list(numbers))


#: Upload sessions of files' numbers.
FileUploads = UploadBook[FileHeader, tuple[str, ...], FileNumbers]


def file_uploads() -> FileUploads:
    """Return empty upload sessions for files' numbers, in memory."""
    return UploadSessions[FileHeader, tuple[str, ...], FileNumbers](assemble_numbers)
