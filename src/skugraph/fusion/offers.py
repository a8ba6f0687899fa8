"""An offer of a product: a listing's title and attributes as (attribute, value) fields, what
blocking, identity and the matchers compare (kept apart from the trained matcher, so that
fusion without one imports no neural network library)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CODE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])[a-z0-9][\w-]{2,}(?![\w-])", re.IGNORECASE)
_MEASURE = re.compile(r"\d+(\.\d+)?-?[a-z]{1,5}|\d+-[a-z]+|[a-z]+-?\d")
_TITLE_FIELDS = ("title", "name")


@dataclass(frozen=True, slots=True)
class Offer:
    """One offer of a product: (attribute, value) fields in a fixed order."""

    id: str
    fields: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str:
        return next((value for key, value in self.fields if key == name), "")

    @property
    def title(self) -> str:
        return next((value for key, value in self.fields if key in _TITLE_FIELDS and value), "")

    def codes(self) -> list[str]:
        """Model-code-like tokens (letters and digits mixed, not a measure such as ``256gb``) of the
        short fields (not the description), in order, once each."""
        found = (m.group(0).lower() for key, value in self.fields if key != "description" for m in _CODE.finditer(value))
        return [code for code in dict.fromkeys(found) if not _MEASURE.fullmatch(code)]

    def serialise(self) -> str:
        """``title VAL … COL codes VAL … COL brand VAL …``: title first, codes next, long text last."""
        fields = sorted((f for f in self.fields if f[1].strip()), key=lambda f: (f[0] not in _TITLE_FIELDS, f[0] == "description"))
        codes = self.codes()
        if codes:
            fields.insert(1 if fields and fields[0][0] in _TITLE_FIELDS else 0, ("codes", " ".join(codes)))
        return " ".join(f"COL {key} VAL {value.strip()}" for key, value in fields)
