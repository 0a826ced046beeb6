"""Numbers as French readers write them: « 11,67 », « 98,3 % » (reports, feedback pages, the terminal)."""

from __future__ import annotations


def formatted(x: float, spec: str) -> str:
    """`x` formatted with `spec` (".3g", ".1f"…), with a decimal comma: « 0,25 »."""
    return f"{x:{spec}}".replace(".", ",")


def number(x: float, digits: int = 2) -> str:
    """`x` rounded to `digits` decimals, without trailing zeros, with a decimal comma: « 11,67 », « 3 »."""
    return f"{round(float(x), digits):g}".replace(".", ",")


def percent(share: float, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage: « 98,3 % », « 100 % » (a narrow no-break space before %)."""
    return f"{number(100 * share, digits)}\u202f%"
