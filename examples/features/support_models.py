"""The ticket model the order system parses extracted emails into (``Order.model_validate_json``).

The step ``Then the answer validates as "support_models:Order"`` grades with this very
class, so it checks what the JSON Schema in ``schemas/order.json`` cannot: that every
SKU is in the catalog, and that the issue and the requested action fit together.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CATALOG: dict[str, str] = {
    "KB-1040": "Acme Kettle Pro 1.7 L",
    "BL-2210": "Acme PowerBlend blender",
    "TW-0310": "Acme bath towel set (4 pieces)",
    "HP-5500": "Acme NoiseAway headphones",
    "LM-0770": "Acme Arc desk lamp",
    "CG-3300": "Acme burr coffee grinder",
}

Issue = Literal["damaged", "missing_item", "wrong_item", "late_delivery", "return_request", "cancel_request", "other"]
Action = Literal["refund", "replacement", "cancel", "status_update", "none"]


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str
    quantity: int = Field(ge=1, le=20)

    @field_validator("sku")
    @classmethod
    def known_sku(cls, sku: str) -> str:
        if sku not in CATALOG:
            raise ValueError(f"{sku!r} is not in the catalog")
        return sku


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str = Field(pattern=r"^ACME-\d{5}$")
    items: list[OrderItem] = Field(min_length=1)
    issue: Issue
    requested_action: Action

    @model_validator(mode="after")
    def action_fits_issue(self) -> Order:
        if self.issue == "cancel_request" and self.requested_action != "cancel":
            raise ValueError("a cancel_request must ask for 'cancel'")
        if self.requested_action == "replacement" and self.issue not in ("damaged", "missing_item", "wrong_item"):
            raise ValueError(f"a replacement is only offered for damaged, missing or wrong items, not {self.issue!r}")
        return self
