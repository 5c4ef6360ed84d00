"""One hierarchy of errors. The CLI maps `exit_code` to the process exit status and prints
`str(error)` as one line on stderr, never a traceback."""

from __future__ import annotations


class BookreaderError(Exception):
    """Base of every error the project raises on purpose."""

    exit_code = 1


class UsageError(BookreaderError):
    """The command line or a configuration file asks for something impossible."""

    exit_code = 2


class UnreadableBook(BookreaderError):
    """The input cannot be turned into a book (exit code 4)."""

    exit_code = 4


class UnsupportedFormat(UnreadableBook):
    """Neither PDF, EPUB, plain text nor Markdown."""


class CorruptBook(UnreadableBook):
    """Truncated or damaged container (zip, PDF) or undecodable content."""


class EncryptedBook(UnreadableBook):
    """A password-protected PDF that the empty password does not open."""


class DRMProtected(UnreadableBook):
    """An EPUB whose content is encrypted (beyond font obfuscation)."""


class NoTextLayer(UnreadableBook):
    """A PDF made of images only: it needs OCR."""


class EmptyBook(UnreadableBook):
    """The file opened but holds no readable text."""


class ModelUnavailable(BookreaderError):
    """A model name or folder that cannot be loaded (no local copy, no network)."""
