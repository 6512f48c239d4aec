"""``parse_prompt``: user text plus account context to one validated ``Prompt`` per job."""

from __future__ import annotations

import math
from itertools import product

from . import permutations
from .errors import PromptError
from .model import Prompt, PromptContext
from .options import expand_option_sets
from .resolve import collect, resolve_params
from .text import check_length, clean
from .tokens import RawParam, split_regions
from .versions import VersionRules, rules_for
from .weights import split_weights

_DEFAULT_CONTEXT = PromptContext()


def parse_prompt(text: str, ctx: PromptContext = _DEFAULT_CONTEXT) -> list[Prompt]:
    """Parse ``text`` as typed by the account described by ``ctx``.

    Returns one Prompt per job, in order: permutations expanded (the first group varies
    slowest), each repeated ``--repeat`` times. Raises PromptError, and only PromptError, for
    anything that cannot be run.
    """
    if not isinstance(text, str):
        raise PromptError("The prompt must be text")
    # Precedence, lowest first: /settings, then /prefer suffix, then the prompt itself.
    sources = (
        _prepare(text, "The prompt", ctx),
        _prepare(ctx.suffix, "The suffix", ctx),
        _prepare(ctx.settings, "The settings text", ctx),
    )
    trees = [permutations.parse(source) for source in sources]
    # Counted before expanding, so that "{a,b}" written 60 times is refused, not materialised.
    variants = math.prod(permutations.count(tree) for tree in trees)
    if variants > ctx.batch_cap:
        raise _too_many(variants, ctx.batch_cap)

    prompts = [
        _build(prompt, suffix, settings)
        for prompt, suffix, settings in product(*(permutations.expand(t) for t in trees))
    ]
    jobs = sum(prompt.params.repeat for prompt in prompts)
    if jobs > 1 and any(prompt.params.speed == "relax" for prompt in prompts):
        raise PromptError("You can not submit batch jobs in relax mode")
    if jobs > ctx.batch_cap:
        raise _too_many(jobs, ctx.batch_cap)
    for prompt in prompts:
        # The canonical form must itself be a valid prompt (it is what gets stored and re-run),
        # and it spells out defaults and long parameter names, so it is measured too.
        check_length(prompt.normalized(), "The prompt", " with all its parameters written out")
    return [prompt for prompt in prompts for _ in range(prompt.params.repeat)]


def _prepare(text: str, label: str, ctx: PromptContext) -> str:
    check_length(text, label)
    return expand_option_sets(clean(text), ctx.option_sets, label)


def _too_many(jobs: int, cap: int) -> PromptError:
    count = str(jobs) if jobs < 1_000_000 else "over a million"
    return PromptError(
        f"This prompt would submit {count} jobs, but you can submit at most {cap} jobs at once "
        "(permutations × --repeat)"
    )


def _params_only(text: str, label: str) -> tuple[RawParam, ...]:
    regions = split_regions(text)
    if regions.images or regions.text:
        stray = " ".join([*regions.images, regions.text]).strip()
        raise PromptError(f'{label} may only contain parameters such as --ar 16:9, not "{stray}"')
    return regions.params


def _build(prompt_text: str, suffix_text: str, settings_text: str) -> Prompt:
    regions = split_regions(prompt_text)
    given = collect(regions.params)
    suffix = collect(_params_only(suffix_text, "The suffix"))
    settings = collect(_params_only(settings_text, "The settings text"))
    params = resolve_params({**settings, **suffix, **given})
    rules = rules_for(params.version)

    parts, separated = split_weights(regions.text)
    if separated and not rules.multi_prompts:
        raise PromptError(f"Not compatible with {rules.flag}: multi-prompts (::)")
    if not parts:
        _check_images_only(len(regions.images), rules)
    if sum(part.weight for part in parts) <= 0 and parts:
        raise PromptError("The sum of all multi-prompt weights must be positive")
    return Prompt(regions.text, parts, regions.images, params)


def _check_images_only(images: int, rules: VersionRules) -> None:
    # Several image prompts need no text; one does (support FAQ, L2420-2425).
    if images == 1:
        raise PromptError(
            f"Cannot use {rules.flag} with only a single image prompt. "
            "Please add another image prompt, or a text prompt"
        )
    if images == 0:
        raise PromptError("The prompt is empty. Please add a text prompt")
