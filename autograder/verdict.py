"""A check's verdict as data, and the ways it is written for people.

A `Result` is the points of one check and its `Remark`s. A remark is a French sentence
with blanks — `{output}` (the output it is about), `{case}` (where the case it was seen on
goes) and the names of its measured `values` — plus what fills them. The grader writes the
whole `Result` into the graded cell as JSON of MIME type `MIME`, beside its text; the
feedback pages, the class and course reports and the self-check read that and render it,
each in its own way:

* for the student (`Result.lines`, `Result.report`), with the case and the values, and one line
  for a remark made on several outputs: « `dl_dw1` … (de même pour `dl_db1`) »;
* for the class (`class_text`), without the case, the values kept only where every copy
  measured the same, the outputs of every copy listed.

Nothing parses verdict text: a remark's `text` is its identity across copies, cases and outputs.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from autograder.french import number

MIME = "application/vnd.autograder.verdict+json"
BLANK = re.compile(r"\{(\w+)\}")
ELIDED = "…"


def fill(text: str, blanks: dict[str, str]) -> str:
    """`text` with each `{name}` of `blanks` replaced (other braces stay as they are: no escaping needed)."""
    return BLANK.sub(lambda m: blanks.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True, kw_only=True)
class Remark:
    """One thing a verdict says (see the module's docstring)."""

    text: str
    output: str = ""
    case: str = ""
    values: dict[str, str] = field(default_factory=dict)

    def for_student(self, others: Iterable[str] = ()) -> str:
        """The sentence with its case and values; `others`: outputs the same remark was made on."""
        blanks = {**self.values, "output": self.output, "case": f" (essai : {self.case})" if self.case else ""}
        return fill(self.text, blanks) + _same_for(others)

    def grouping_key(self) -> tuple:
        """Remarks of one copy said once: the same sentence with the same values, whatever the output or case."""
        return self.text, tuple(sorted(self.values.items()))

    @property
    def names_output(self) -> bool:
        return "{output}" in self.text


def _same_for(others: Iterable[str]) -> str:
    listed = ", ".join(f"`{name}`" for name in others)
    return f" (de même pour {listed})" if listed else ""


def plain(text: str) -> Remark:
    """A remark without blanks to fill (an error message, a TP's judgement in full)."""
    return Remark(text=text)


def grouped(remarks: Iterable[Remark]) -> list[tuple[Remark, list[str]]]:
    """Each remark once, with the other outputs it was made on (when its sentence names its output)."""
    groups: dict[tuple, tuple[Remark, list[str]]] = {}
    for remark in remarks:
        first, others = groups.setdefault(remark.grouping_key(), (remark, []))
        if remark is not first and remark.names_output and remark.output not in (first.output, *others):
            others.append(remark.output)
    return list(groups.values())


def class_text(remark: Remark, outputs: list[str], values: dict[str, str] | None) -> str:
    """A remark as the class report shows it: no case, `values` (or `…` for each when None), `outputs` listed."""
    blanks = {**({k: ELIDED for k in remark.values} if values is None else values), "case": ""}
    if remark.names_output and outputs:
        blanks["output"] = outputs[0]
        return fill(remark.text, blanks) + _same_for(outputs[1:])
    return fill(remark.text, blanks)


@dataclass(frozen=True, kw_only=True)
class Result:
    """The verdict of one check: points out of `possible`, and what the student is told."""

    function: str
    points: float
    possible: float
    remarks: tuple[Remark, ...] = ()
    complete: bool = False  # every output right on every case, nothing refused (penalties aside)

    @property
    def passed(self) -> bool:
        return self.points == self.possible

    @property
    def mark(self) -> str:
        return "ok" if self.passed else ("partial" if self.points > 0 else "ko")

    @property
    def head(self) -> str:
        """« ✅ relu : 1 / 1 point(s) »: the mark, the function, its points."""
        symbol = {"ok": "✅", "partial": "🟠", "ko": "❌"}[self.mark]
        return f"{symbol} {self.function} : {number(self.points)} / {number(self.possible)} point(s)"

    @property
    def messages(self) -> list[str]:
        """The remarks as the student reads them, one line each."""
        return [remark.for_student(others) for remark, others in grouped(self.remarks)]

    def report(self) -> str:
        """The verdict as text: the heading with its mark, then one `   - ` line per remark."""
        return "\n".join([self.head, *(f"   - {m}" for m in self.messages)])

    def html(self) -> str:
        """The verdict as a block of HTML (feedback pages): lines that wrap, `code` in backticks."""
        items = "".join(f"<li>{inline_code(m)}</li>" for m in self.messages)
        return (f'<div class="verdict verdict-{self.mark}"><p class="verdict-head">{inline_code(self.head)}</p>'
                + (f'<ul class="verdict-lines">{items}</ul>' if items else "") + "</div>")

    def adding(self, *remarks: Remark) -> Result:
        return Result(function=self.function, points=self.points, possible=self.possible,
                      remarks=(*self.remarks, *remarks), complete=self.complete)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "remarks": [asdict(r) for r in self.remarks]}

    @classmethod
    def from_json(cls, data: Any) -> Result:
        """Read back from an autograded notebook (its own output: still checked, ValueError if malformed)."""
        try:
            remarks = tuple(Remark(text=str(r["text"]), output=str(r.get("output", "")), case=str(r.get("case", "")),
                                   values={str(k): str(v) for k, v in dict(r.get("values", {})).items()})
                            for r in data["remarks"])
            return cls(function=str(data["function"]), points=float(data["points"]),
                       possible=float(data["possible"]), remarks=remarks, complete=bool(data.get("complete")))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"malformed verdict: {error}") from None


def read(output: Any) -> Result | None:
    """The verdict an output of an autograded cell holds, if it holds a readable one."""
    data = output.get("data", {}) if isinstance(output, dict) else {}
    try:
        return Result.from_json(data[MIME]) if MIME in data else None
    except ValueError:
        return None


_CODE = re.compile(r"`([^`\n]+)`")


def inline_code(text: str) -> str:
    """HTML of plain text, each `span in backticks` as <code>."""
    parts = _CODE.split(text)  # even: text, odd: code
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))
