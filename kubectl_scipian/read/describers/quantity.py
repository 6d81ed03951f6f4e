"""resource.Quantity: parsing, adding and its canonical String(), for the sums describe prints."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}
_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(.*)$")


@dataclass(frozen=True)
class Quantity:
    value: Fraction
    format: str  # "BinarySI", "DecimalSI" or "DecimalExponent"

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value + other.value, self.format)  # keeps the left format, as Go

    def milli(self) -> int:
        return _ceil(self.value * 1000)

    def whole(self) -> int:
        return _ceil(self.value)

    def __str__(self) -> str:
        v = _round_nano(self.value)
        if v == 0:
            return "0"
        fmt = self.format
        if fmt == "BinarySI" and (-1024 < v < 1024 or v.denominator != 1):
            fmt = "DecimalSI"
        if fmt == "BinarySI":
            n, exp = int(v), 0
            while n % 1024 == 0 and exp < 6:
                n //= 1024
                exp += 1
            return f"{n}{_BINARY_SUFFIX.get(exp, '')}"
        # mantissa * 10**exp, all factors of ten taken out, exp lowered to a multiple of 3
        exp = -9
        n = int(v * 10**9)
        while n % 10 == 0:
            n //= 10
            exp += 1
        extra = exp % 3
        n *= 10**extra
        exp -= extra
        if fmt == "DecimalExponent":
            return f"{n}e{exp}" if exp else str(n)
        if exp in _DECIMAL_SUFFIX:
            return f"{n}{_DECIMAL_SUFFIX[exp]}"
        return f"{n}e{exp}"


ZERO = Quantity(Fraction(0), "DecimalSI")


def _ceil(f: Fraction) -> int:
    return -((-f.numerator) // f.denominator)


def _round_nano(f: Fraction) -> Fraction:
    return Fraction(_ceil(f * 10**9), 10**9)


def parse(text: str) -> Quantity:
    m = _NUMBER.match(str(text).strip())
    if not m:
        return ZERO
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix in _BINARY:
        return Quantity(number * 1024 ** _BINARY[suffix], "BinarySI")
    if suffix in _DECIMAL:
        return Quantity(number * Fraction(10) ** _DECIMAL[suffix], "DecimalSI")
    if suffix[:1] in ("e", "E"):
        return Quantity(number * Fraction(10) ** int(suffix[1:]), "DecimalExponent")
    return ZERO


ResourceList = dict[str, Quantity]


def add_lists(into: ResourceList, other: ResourceList) -> None:
    for name, q in other.items():
        into[name] = into[name] + q if name in into else q


def max_lists(into: ResourceList, other: ResourceList) -> None:
    for name, q in other.items():
        if name not in into or q.value > into[name].value:
            into[name] = q


def parse_list(values: dict[str, str] | None) -> ResourceList:
    return {k: parse(v) for k, v in (values or {}).items()}
