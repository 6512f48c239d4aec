"""The bundled model is reached by name through the engine, like any hub model."""

from __future__ import annotations

from pathlib import Path

from dreamloom.engine import load_backend, model_info, recipe_for_imagine
from dreamloom.prompt import parse_prompt


def test_bundled_by_name_runs_an_imagine_recipe(tmp_path: Path) -> None:
    info = model_info("bundled")
    assert info.name == "bundled" and info.native_size == 256
    backend = load_backend("bundled", cache_dir=tmp_path)
    assert backend.info == info
    prompt = parse_prompt("a red fox on a blue background --ar 2:1 --seed 3")[0]
    recipe = recipe_for_imagine(prompt, info, 3)
    result = backend.run(recipe)
    assert len(result.images) == 4
    assert all(img.size == (recipe.width, recipe.height) for img in result.images)
    assert recipe.width > recipe.height >= 64
