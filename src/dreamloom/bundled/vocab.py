"""The words the bundled model knows: concepts, colours, backgrounds, layouts and art styles.

Everything a caption can say is listed here so that the dataset builder, the describer and the
benchmark agree on one vocabulary. Pure data and string functions: no I/O, no torch.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

# Emoji chosen for distinct silhouettes at 32 px, named by their everyday word. The key is the
# CLDR short name (how the emoji packages name files); the value is the word captions use.
CONCEPTS: dict[str, str] = {
    "fox": "fox", "cat face": "cat", "dog face": "dog", "tiger face": "tiger", "lion": "lion",
    "rabbit face": "rabbit", "pig face": "pig", "cow face": "cow", "horse face": "horse",
    "elephant": "elephant", "panda": "panda", "bear": "bear", "koala": "koala",
    "monkey face": "monkey", "mouse face": "mouse", "giraffe": "giraffe", "zebra": "zebra",
    "camel": "camel", "deer": "deer", "hedgehog": "hedgehog", "unicorn": "unicorn",
    "wolf": "wolf", "owl": "owl", "penguin": "penguin", "duck": "duck", "rooster": "rooster",
    "bird": "bird", "flamingo": "flamingo", "parrot": "parrot", "swan": "swan",
    "spouting whale": "whale", "dolphin": "dolphin", "fish": "fish", "octopus": "octopus",
    "crab": "crab", "shark": "shark", "snail": "snail", "butterfly": "butterfly",
    "honeybee": "bee", "lady beetle": "ladybug", "spider": "spider", "turtle": "turtle",
    "snake": "snake", "dragon face": "dragon", "t-rex": "dinosaur", "frog": "frog",
    "red apple": "apple", "banana": "banana", "grapes": "grapes", "watermelon": "watermelon",
    "lemon": "lemon", "pineapple": "pineapple", "pear": "pear", "cherries": "cherries",
    "strawberry": "strawberry", "carrot": "carrot", "broccoli": "broccoli",
    "eggplant": "eggplant", "avocado": "avocado", "ear of corn": "corn",
    "mushroom": "mushroom", "doughnut": "doughnut", "cookie": "cookie",
    "birthday cake": "cake", "lollipop": "lollipop", "ice cream": "ice cream",
    "pizza": "pizza", "hamburger": "hamburger", "croissant": "croissant",
    "rose": "rose", "tulip": "tulip", "sunflower": "sunflower", "cactus": "cactus",
    "palm tree": "palm tree", "evergreen tree": "pine tree", "four leaf clover": "clover",
    "maple leaf": "maple leaf", "sun": "sun", "crescent moon": "moon", "star": "star",
    "cloud": "cloud", "rainbow": "rainbow", "snowflake": "snowflake", "fire": "fire",
    "droplet": "water drop", "umbrella": "umbrella", "snowman without snow": "snowman",
    "ringed planet": "planet", "high voltage": "lightning bolt", "rocket": "rocket",
    "airplane": "airplane", "helicopter": "helicopter", "automobile": "car", "bus": "bus",
    "bicycle": "bicycle", "sailboat": "sailboat", "locomotive": "train", "tractor": "tractor",
    "guitar": "guitar", "trumpet": "trumpet", "violin": "violin", "drum": "drum",
    "soccer ball": "soccer ball", "basketball": "basketball", "crown": "crown",
    "glasses": "glasses", "t-shirt": "t-shirt", "backpack": "backpack", "top hat": "top hat",
    "gem stone": "gem", "house": "house", "light bulb": "light bulb", "key": "key",
    "alarm clock": "alarm clock", "hourglass done": "hourglass", "balloon": "balloon",
    "wrapped gift": "gift", "teddy bear": "teddy bear", "anchor": "anchor",
}  # fmt: skip

# Colour words for objects, with the hue (degrees) a recoloured object gets. Only hues that a
# hue histogram can tell apart, so the benchmark's colour check needs no learned model.
HUES: dict[str, float] = {
    "red": 0.0,
    "orange": 28.0,
    "yellow": 55.0,
    "green": 120.0,
    "teal": 175.0,
    "blue": 220.0,
    "purple": 275.0,
    "pink": 320.0,
}

RGB = tuple[int, int, int]

# Plain background colours: the hued ones above plus neutrals.
BACKGROUNDS: dict[str, RGB] = {
    "white": (245, 245, 245),
    "black": (18, 18, 22),
    "grey": (128, 128, 132),
    "red": (205, 40, 40),
    "orange": (235, 130, 30),
    "yellow": (240, 215, 50),
    "green": (50, 165, 70),
    "teal": (30, 160, 150),
    "blue": (40, 90, 210),
    "purple": (130, 60, 190),
    "pink": (235, 120, 185),
}

# Simple scenes: a vertical two-colour layout (top colour, bottom colour), named in words.
SCENES: dict[str, tuple[RGB, RGB]] = {
    "a blue sky over green grass": ((110, 170, 240), (60, 160, 60)),
    "a sunset sky": ((250, 140, 60), (140, 60, 140)),
    "the night sky": ((10, 15, 50), (35, 40, 90)),
    "the sea": ((150, 200, 240), (20, 80, 160)),
    "a sandy beach": ((120, 190, 240), (230, 200, 130)),
    "snow": ((200, 215, 235), (250, 250, 252)),
}

POSITIONS: tuple[str, ...] = ("centre", "left", "right", "top", "bottom")
SIZES: tuple[str, ...] = ("normal", "small", "large")

# Art styles of the source sets, with the words a prompt may use for them.
STYLES: dict[str, str] = {
    "noto": "cartoon",
    "fluent-flat": "flat",
    "fluent-high-contrast": "outline",
}


@dataclass(frozen=True)
class Layout:
    """What one training picture shows; the caption is derived from it."""

    concept: str  # caption word from CONCEPTS
    style: str  # key of STYLES
    colour: str | None  # key of HUES, None for the artwork's own colours
    background: str  # key of BACKGROUNDS, or of SCENES, or "from-to" for a gradient
    position: str = "centre"
    size: str = "normal"
    second: str | None = None  # a second concept, placed to the right of the first
    mention_style: bool = True


def article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def background_phrase(background: str) -> str:
    if background in SCENES:
        return f"in {background}" if background != "snow" else "in the snow"
    if "-" in background:
        start, end = background.split("-", 1)
        return f"on a {start} to {end} gradient background"
    return f"on a {background} background"


def caption(layout: Layout) -> str:
    """The training caption: "a small red fox on the left, on a blue background, flat style"."""
    noun = layout.concept
    if layout.colour is not None:
        noun = f"{layout.colour} {noun}"
    if layout.size != "normal":
        noun = f"{layout.size} {noun}"
    subject = f"{article(noun)} {noun}"
    if layout.second is not None:
        subject += f" and {article(layout.second)} {layout.second}"
    words = [subject]
    if layout.position != "centre":
        words.append(f"at the {layout.position}")
    words.append(background_phrase(layout.background))
    text = " ".join(words)
    if layout.mention_style:
        text += f", {STYLES[layout.style]} style"
    return text


def hue_rgb(hue: float, saturation: float = 0.8, value: float = 0.85) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(hue / 360.0, saturation, value)
    return (round(r * 255), round(g * 255), round(b * 255))


def nearest_hue_word(hue: float) -> str:
    """The colour word whose hue is closest on the colour wheel."""

    def distance(word: str) -> float:
        diff = abs(HUES[word] - hue) % 360.0
        return min(diff, 360.0 - diff)

    return min(HUES, key=distance)
