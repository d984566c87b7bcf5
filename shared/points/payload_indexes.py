"""Payload indexes a user asks for: which metadata fields Qdrant indexes, and how.

``create_index(..., payload_indexes={"lang": "keyword", "year": "integer", "tenant":
{"type": "keyword", "is_tenant": True}})``, ``Index.create_payload_index``, and ``vecq index
create --payload-index lang:keyword``. Each is checked whole before anything is created,
with an error naming the field. The engines turn them into Qdrant's own field indexes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from vecq.shared import keys
from vecq.shared.errors import InvalidInputError

TYPES = ("keyword", "integer", "float", "bool", "geo", "text", "datetime", "uuid")
# Qdrant's options: a tenant index (keyword, uuid) groups storage by the value; a principal
# one (integer, float, datetime) orders it, for filters on that field in most searches.
TENANT_TYPES = frozenset({"keyword", "uuid"})
PRINCIPAL_TYPES = frozenset({"integer", "float", "datetime"})


@dataclass(frozen=True)
class PayloadIndex:
    """One metadata field's index: its Qdrant type and options."""

    field: str
    type: str
    is_tenant: bool = False
    is_principal: bool = False

    def __post_init__(self) -> None:
        where = f"payload index {self.field!r}"
        if not isinstance(self.field, str) or not self.field:
            raise InvalidInputError(f"payload index field {self.field!r}: use a non-empty string")
        if self.field.startswith(keys.RESERVED_PREFIX):
            raise InvalidInputError(
                f"{where}: fields starting with {keys.RESERVED_PREFIX!r} are vecq's own"
            )
        if self.type not in TYPES:
            raise InvalidInputError(f"{where}: type {self.type!r} is not one of {', '.join(TYPES)}")
        if self.is_tenant and self.type not in TENANT_TYPES:
            raise InvalidInputError(
                f"{where}: is_tenant applies to keyword and uuid, not {self.type}"
            )
        if self.is_principal and self.type not in PRINCIPAL_TYPES:
            raise InvalidInputError(
                f"{where}: is_principal applies to integer, float and datetime, not {self.type}"
            )

    def describe(self) -> str:
        """``field:type`` with its options, as ``vecq index create --payload-index`` takes it."""
        flags = ":tenant" if self.is_tenant else ":principal" if self.is_principal else ""
        return f"{self.field}:{self.type}{flags}"

    def to_dict(self) -> dict[str, Any]:
        """As JSON (for the embedded service's calls)."""
        return asdict(self)

    def spec(self) -> dict[str, Any]:
        """The form ``create_index(payload_indexes={field: spec})`` takes."""
        return {"type": self.type, "is_tenant": self.is_tenant, "is_principal": self.is_principal}


def parse(indexes: Mapping[str, Any] | None) -> list[PayloadIndex]:
    """``{"field": "type" | {"type": ..., "is_tenant": ..., "is_principal": ...}}`` as specs."""
    if indexes is None:
        return []
    if not isinstance(indexes, Mapping):
        raise InvalidInputError(
            f"payload_indexes must map field names to types, not {type(indexes).__name__}"
        )
    found = []
    for field, spec in indexes.items():
        if isinstance(spec, str):
            found.append(PayloadIndex(field, spec))
            continue
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise InvalidInputError(
                f"payload index {field!r}: give a type name or a dict with 'type', not {spec!r}"
            )
        unknown = set(spec) - {"type", "is_tenant", "is_principal"}
        if unknown:
            raise InvalidInputError(
                f"payload index {field!r}: unknown option(s) {sorted(unknown)} (use type, "
                "is_tenant, is_principal)"
            )
        found.append(
            PayloadIndex(
                field, spec["type"], bool(spec.get("is_tenant")), bool(spec.get("is_principal"))
            )
        )
    return found


def parse_flag(text: str) -> PayloadIndex:
    """``field:type``, ``field:type:tenant`` or ``field:type:principal`` (the CLI's form)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidInputError(
            f"--payload-index {text!r}: use FIELD:TYPE or FIELD:TYPE:tenant|principal"
        )
    option = parts[2] if len(parts) == 3 else ""
    if option not in ("", "tenant", "principal"):
        raise InvalidInputError(f"--payload-index {text!r}: the option is tenant or principal")
    return PayloadIndex(parts[0], parts[1], option == "tenant", option == "principal")
