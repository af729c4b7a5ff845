"""The written notice of allocation as a one-page letter (fpdf2), from the figures in `notice_json`."""

from __future__ import annotations

from datetime import date
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

# The core PDF fonts cover Latin-1 only; anything else prints as "?" rather than failing the letter.
_ENCODING = "latin-1"
_MARGIN_MM = 20
_LINE_MM = 5
_AMOUNT_MM = 35


def _text(value: object) -> str:
    return str(value).encode(_ENCODING, "replace").decode(_ENCODING)


def money(cents: int) -> str:
    """Cents as dollars for a reader: $1,234.05."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def _long_date(iso: str) -> str:
    day = date.fromisoformat(iso)
    return f"{day:%B} {day.day}, {day.year}"


class _Letter(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="letter")
        self._footer_text = footer_text
        self.set_margins(_MARGIN_MM, _MARGIN_MM, _MARGIN_MM)
        self.set_auto_page_break(auto=True, margin=_MARGIN_MM)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.cell(0, 4, _text(self._footer_text), align="C")

    def line_of(self, text: str, *, style: str = "", size: float = 10) -> None:
        self.set_font("Helvetica", style=style, size=size)
        self.cell(0, _LINE_MM, _text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def paragraph(self, text: str) -> None:
        self.set_font("Helvetica", size=10)
        self.multi_cell(0, _LINE_MM, _text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def amount_row(self, label: str, cents: int, *, indent: int = 0, bold: bool = False) -> None:
        self.set_font("Helvetica", style="B" if bold else "", size=10)
        self.set_x(_MARGIN_MM + indent)
        self.cell(self.epw - indent - _AMOUNT_MM, 6, _text(label))
        self.cell(_AMOUNT_MM, 6, money(cents), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def notice_pdf(body: dict[str, Any]) -> bytes:
    """A letter from the co-op to the member: letterhead, date, the allocation and what it means."""
    coop = body["coop"]
    footer = " - ".join(filter(None, [coop["name"], f"Tax id {coop['tax_id']}" if coop["tax_id"] else None]))
    pdf = _Letter(footer)
    pdf.set_title(f"Written notice of allocation FY{body['fiscal_year']}")
    pdf.set_author(coop["name"])
    pdf.add_page()

    pdf.line_of(coop["name"], style="B", size=14)
    for address_line in coop["address_lines"]:
        pdf.line_of(address_line, size=9)
    if coop["tax_id"]:
        pdf.line_of(f"Tax id (EIN): {coop['tax_id']}", size=9)
    pdf.ln(8)
    pdf.line_of(_long_date(body["notice_date"]))
    pdf.ln(4)
    pdf.line_of(body["member_name"], style="B")
    pdf.line_of(f"Member no. {body['member_number']}")
    pdf.ln(6)
    status = "Qualified" if body["qualified"] else "Non-qualified"
    pdf.line_of(
        f"{status} written notice of allocation - fiscal year {body['fiscal_year']} (IRC section 1388)", style="B"
    )
    pdf.ln(3)
    pdf.paragraph(
        f"Dear member, your purchases through the co-op in fiscal year {body['fiscal_year']} came to "
        f"{money(body['patronage_cents'])}. From that year's margin, the co-op allocates to you a patronage "
        f"dividend of {money(body['stated_allocation_cents'])}, all of it from business done with members."
    )

    cash = body["cash"]
    pdf.amount_row("Patronage dividend allocated to you", body["stated_allocation_cents"], bold=True)
    pdf.amount_row("Paid in cash", body["cash_cents"], indent=6)
    pdf.amount_row("Applied to your membership share", cash["applied_to_membership_share_cents"], indent=12)
    pdf.amount_row("Paid to you", cash["paid_cents"], indent=12)
    pdf.amount_row("Retained in your capital account", body["retained_cents"], indent=6)
    pdf.ln(4)

    payment = f"The cash is paid on {_long_date(body['payment_date'])}"
    if body.get("payment_period_end"):
        payment += f", within the payment period that ends on {_long_date(body['payment_period_end'])}"
    pdf.paragraph(
        payment + ". The retained part is credited to your capital account; the board redeems retained "
        "equity in cash in later years."
    )
    pdf.paragraph(body["qualified_meaning"] + " Please ask your tax adviser how this applies to your business.")
    contact = coop["contact"] or coop["name"]
    pdf.paragraph(f"Questions about this notice: {contact}. Please keep this notice with your tax records.")
    pdf.ln(4)
    pdf.line_of("Sincerely,")
    pdf.line_of(f"The board of {coop['name']}")
    return bytes(pdf.output())


def _ratio_text(ratio: dict[str, Any]) -> str:
    if ratio["value"] is None:
        return "n/a (nothing to measure against)"
    exact = f"{money(ratio['numerator_cents'])} / {money(ratio['denominator_cents'])}"
    return f"{ratio['value']} ({exact}, {ratio['rounding']})"


def value_statement_pdf(body: dict[str, Any], coop_name: str) -> bytes:
    """The value of membership statement on one page, with the same figures as the JSON answer."""
    pdf = _Letter(coop_name)
    pdf.set_title(f"Value of membership FY{body['fiscal_year']}")
    pdf.set_author(coop_name)
    pdf.add_page()
    pdf.line_of(coop_name, style="B", size=14)
    pdf.ln(4)
    pdf.line_of(f"Value of membership - fiscal year {body['fiscal_year']}", style="B", size=12)
    pdf.line_of(f"{body['first_day']} to {body['last_day']}")
    pdf.line_of(f"{body['member_name']} (member no. {body['member_number']})")
    pdf.ln(4)
    pdf.line_of("Purchases", style="B")
    pdf.amount_row("Group buys", body["purchases"]["group_buys_cents"], indent=6)
    pdf.amount_row("Direct from contracted suppliers", body["purchases"]["direct_cents"], indent=6)
    pdf.amount_row("Total spend", body["spend_cents"], bold=True)
    pdf.ln(2)
    pdf.line_of("What membership returned", style="B")
    pdf.amount_row("Savings against first-tier prices", body["savings_cents"], indent=6)
    pdf.amount_row("Supplier rebates passed through", body["rebates_cents"], indent=6)
    pdf.amount_row("Patronage dividend paid in cash", body["patronage_cash_cents"], indent=6)
    pdf.amount_row("Patronage dividend retained", body["patronage_retained_cents"], indent=6)
    pdf.amount_row("Total return", body["return_cents"], bold=True)
    pdf.ln(2)
    equity = body["equity"]
    pdf.line_of("Your capital in the co-op", style="B")
    pdf.amount_row("Opening", equity["opening_cents"], indent=6)
    pdf.amount_row("Paid in", equity["paid_in_cents"], indent=6)
    pdf.amount_row("Retained patronage", equity["retained_cents"], indent=6)
    pdf.amount_row("Redeemed", -equity["redeemed_cents"], indent=6)
    pdf.amount_row("Closing", equity["closing_cents"], bold=True)
    pdf.ln(4)
    pdf.line_of(f"Return on spend: {_ratio_text(body['return_on_spend'])}")
    pdf.line_of(f"Return on opening equity: {_ratio_text(body['return_on_equity'])}")
    return bytes(pdf.output())
