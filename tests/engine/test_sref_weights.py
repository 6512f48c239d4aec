"""`--sref` `::` weights reach the references: each link or code at its share of --sw."""

from __future__ import annotations

from dreamloom.engine.references import ReferenceKind, links_of, references_for
from dreamloom.prompt import parse_prompt

A = "https://example.com/a.png"
B = "https://example.com/b.png"


def test_weights_scale_each_style_reference() -> None:
    prompt = parse_prompt(f"cat --sref {A}::2 {B} 483::0.5 --sw 200")[0]
    assert links_of(prompt) == (A, B)
    refs = references_for(prompt, {A: b"a", B: b"b"})
    assert [(r.kind, r.weight, r.image, r.code) for r in refs] == [
        (ReferenceKind.STYLE, 4.0, b"a", None),
        (ReferenceKind.STYLE, 2.0, b"b", None),
        (ReferenceKind.STYLE, 1.0, None, 483),
    ]


def test_a_zero_weight_drops_that_reference_only() -> None:
    prompt = parse_prompt(f"cat --sref {A}::0 483")[0]
    refs = references_for(prompt, {A: b"a"})
    assert [(r.weight, r.code) for r in refs] == [(1.0, 483)]


def test_links_of_a_weight_of_zero_are_not_read() -> None:
    (prompt,) = parse_prompt("a cat --sref https://x.example/a.png::0 https://x.example/b.png")
    assert links_of(prompt) == ("https://x.example/b.png",)
    (none,) = parse_prompt(
        "https://x.example/c.png a cat --iw 0 --sref https://x.example/d.png --sw 0"
    )
    assert links_of(none) == ()
