"""Matching prompt text against an operator-editable term list (format: default_terms.txt).

Matching works on a normalised copy of the text (accents stripped, look-alike Cyrillic and
Greek letters folded to Latin, invisible characters removed) with patterns that accept the
usual leetspeak digits and symbols for each letter, repeated letters and letters spread out
with dots or dashes, but only at word boundaries, so "class" never matches "ass". Quantifiers
are possessive: a prompt of 6,000 repeated letters costs linear time, not a regex blow-up.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

# Characters commonly typed in place of a letter. Kept to single characters: each entry widens
# what a term matches, and every widening is a chance of a false positive.
_LEET: Final = {
    "a": "a4@",
    "b": "b8",
    "e": "e3",
    "g": "g96",
    "i": "i1!|",
    "l": "l1|",
    "o": "o0",
    "s": "s5$",
    "t": "t7+",
    "z": "z2",
}

# Letters from other scripts that render like Latin ones ("nаked" with a Cyrillic а).
_HOMOGLYPHS: Final = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
        "ј": "j", "ѕ": "s", "к": "k", "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w",
        "α": "a", "ο": "o", "ν": "v", "ι": "i", "κ": "k", "ρ": "p", "υ": "u", "χ": "x",
    }
)  # fmt: skip

# A letter, a digit, or a symbol that stands for a letter: what continues a word.
_NOT_AFTER_WORD: Final = r"(?<![^\W_])(?<![@$])"
_NOT_BEFORE_WORD: Final = r"(?![^\W_])(?![@$])"
# Between the letters of one word: "n.u.d.e", "s-e-x", "n_u_d_e".
_INSIDE_WORD: Final = r"[._\-~*]*+"
# Between the words of a phrase: any punctuation or space, or none ("sextoy").
_BETWEEN_WORDS: Final = r"(?:[^\w@$]|_)*+"


def normalize_text(text: str) -> str:
    """The form of a prompt that patterns are matched against."""
    decomposed = unicodedata.normalize("NFKD", text)
    # Combining marks (accents) and format characters (zero-width spaces, soft hyphens,
    # direction marks) only change how text looks or hide a word from a plain search.
    kept = "".join(
        c for c in decomposed if not unicodedata.combining(c) and unicodedata.category(c) != "Cf"
    )
    return kept.casefold().translate(_HOMOGLYPHS)


def _letter_run(char: str, count: int) -> str:
    variants = _LEET.get(char, char)
    char_class = "[" + "".join(re.escape(v) for v in variants) + "]"
    # "nuuude" still matches "nude"; "ass" needs at least two s's so it never matches "as".
    return f"{char_class}{{{count},}}+" if count > 1 else f"{char_class}++"


def term_pattern(term: str) -> str:
    """The regular expression (as text) for one term of the list."""
    prefix = term.endswith("*")
    words = normalize_text(term.rstrip("*")).replace("-", " ").split()
    if not words:
        raise ValueError(f"empty term: {term!r}")
    compiled_words = [
        _INSIDE_WORD.join(
            _letter_run(char, len(list(run))) for char, run in itertools.groupby(word)
        )
        for word in words
    ]
    body = _BETWEEN_WORDS.join(compiled_words)
    return _NOT_AFTER_WORD + body + ("" if prefix else _NOT_BEFORE_WORD)


def _alternatives(terms: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{term_pattern(t)})" for t in terms))


@dataclass(frozen=True)
class Rule:
    """One line of a term list: it matches when every group has a term in the text."""

    category: str
    groups: tuple[tuple[str, ...], ...]

    @property
    def text(self) -> str:
        """The line as an operator would write it (for logs)."""
        return " & ".join(" | ".join(group) for group in self.groups)


def parse_rule(line: str, category: str) -> Rule:
    groups = tuple(
        tuple(term.strip() for term in group.split("|") if term.strip())
        for group in line.split("&")
    )
    if not groups or any(not group for group in groups):
        raise ValueError(f"malformed term list line: {line!r}")
    return Rule(category=category, groups=groups)


def parse_terms(text: str, *, default_category: str = "custom") -> list[Rule]:
    """Rules from term-list text; terms before any ``[category]`` line get the default."""
    rules: list[Rule] = []
    category = default_category
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            category = line[1:-1].strip() or default_category
            continue
        rules.append(parse_rule(line, category))
    return rules


def default_rules() -> list[Rule]:
    """The term list that ships with dreamloom."""
    text = resources.files("dreamloom.safety").joinpath("default_terms.txt").read_text("utf-8")
    return parse_terms(text)


def load_rules(path: Path) -> list[Rule]:
    """An operator's own term list file (same format), replacing the default one."""
    return parse_terms(path.read_text("utf-8"))


@dataclass(frozen=True)
class Match:
    """A rule that matched, and the text (normalised) that each of its groups matched."""

    rule: Rule
    found: tuple[str, ...]

    @property
    def text(self) -> str:
        return " & ".join(self.found)


class TermMatcher:
    """A compiled term list plus the phrases the operator allows despite it.

    An allowed phrase is blanked out of the text before the list is applied, so allowing
    "sex pistols" lets that band's name through while "sex" elsewhere is still caught.
    """

    def __init__(self, rules: Sequence[Rule], allowed_terms: Iterable[str] = ()) -> None:
        self._rules = [(rule, [_alternatives(group) for group in rule.groups]) for rule in rules]
        # Every rule needs a term of its first group, so one search for any of those clears
        # a clean prompt. With the shared word-start test taken out of the alternation, the
        # search skips positions inside words at once: ~10x faster than rule by rule.
        firsts = [
            f"(?:{term_pattern(term).removeprefix(_NOT_AFTER_WORD)})"
            for rule in rules
            for term in rule.groups[0]
        ]
        self._any = re.compile(_NOT_AFTER_WORD + "(?:" + "|".join(firsts) + ")") if firsts else None
        allowed = [t for t in allowed_terms if t.strip()]
        self._allowed = _alternatives(allowed) if allowed else None

    def first_match(self, text: str) -> Match | None:
        normalized = normalize_text(text)
        if self._allowed is not None:
            normalized = self._allowed.sub(lambda m: " " * len(m.group()), normalized)
        if self._any is None or self._any.search(normalized) is None:
            return None
        for rule, groups in self._rules:
            found: list[str] = []
            for group in groups:
                hit = group.search(normalized)
                if hit is None:
                    break
                found.append(hit.group())
            else:
                return Match(rule, tuple(found))
        return None
