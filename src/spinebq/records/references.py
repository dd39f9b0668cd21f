"""A bibliography entry of ``spinebq/data/references.json`` (the package's one bibliography)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reference:
    """One published source, with the fields that could be checked (None where not).

    Attributes
    ----------
    key : str
        The key methods, cutoffs and registry entries cite (``pickhardt2013``).
    authors : tuple of str
        ``"Pickhardt PJ"``...; a trailing ``"et al."`` when the rest were not checked.
    title, journal : str or None
    year : int or None
    volume, pages, doi : str or None
    note : str or None
        What a reader should know about the entry (a printed DOI that looks truncated...).
    checked : str
        ``full text``, ``abstract`` or ``secondary``: what the entry's numbers were checked against.
    """

    key: str
    authors: tuple[str, ...]
    title: str | None
    journal: str | None
    year: int | None
    volume: str | None
    pages: str | None
    doi: str | None
    note: str | None
    checked: str

    @classmethod
    def from_json(cls, key: str, document: dict[str, Any]) -> "Reference":
        return cls(key=key, authors=tuple(document.get("authors") or ()), title=document.get("title"),
                   journal=document.get("journal"), year=document.get("year"),
                   volume=None if document.get("volume") is None else str(document["volume"]),
                   pages=None if document.get("pages") is None else str(document["pages"]), doi=document.get("doi"),
                   note=document.get("note"), checked=document.get("checked", "secondary"))

    def short(self) -> str:
        """``Pickhardt 2013``: first author's surname and year, for a table cell."""
        surname = self.authors[0].split(" ")[0] if self.authors else self.key
        return f"{surname}{' et al.' if len(self.authors) > 1 else ''} {self.year or ''}".strip()

    def citation(self) -> str:
        """The full reference: authors. Title. Journal year;volume:pages. doi."""
        authors = ", ".join(self.authors)
        source = self.journal or "journal not named in the stored text"
        where = f"{source} {self.year}" if self.year else source
        if self.volume:
            where += f";{self.volume}"
        if self.pages:
            where += f":{self.pages}"
        text = f"{authors.rstrip('.')}. {self.title}. {where}."
        return text + (f" doi:{self.doi}" if self.doi else " DOI not available")
