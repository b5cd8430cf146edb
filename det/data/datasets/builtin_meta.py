"""Class names, ids and colors of the built-in datasets (facts, not code).

The long category tables ship as package data in ``metadata/`` (``lvis_v1_categories.json``: the
1203 LVIS v1 categories with ``frequency`` and training ``image_count``;
``objects365_v2_categories.json``: the 365 Objects365 v2 names), so a model can be built,
evaluated and analysed without the training annotation files on disk. They are read with
:func:`read_shipped_categories`.
"""

from __future__ import annotations

import colorsys
import json
from functools import cache
from importlib import resources

__all__ = [
    "COCO_CATEGORIES",
    "COCO_STUFF_ONLY_NAMES",
    "COCO_STUFF_CATEGORIES",
    "ADE20K_SEM_SEG_CATEGORIES",
    "OBJECTS365_CLASS_NAMES",
    "OBJECTS365_CATEGORIES",
    "distinct_colors",
    "get_coco_instances_meta",
    "get_coco_stuff_meta",
    "get_ade20k_sem_seg_meta",
    "get_objects365_meta",
    "read_shipped_categories",
]


@cache
def _read_metadata_file(file_name: str) -> tuple[dict, ...]:
    with resources.files(__package__).joinpath("metadata", file_name).open("rb") as f:
        return tuple(json.load(f))


def read_shipped_categories(file_name: str) -> list[dict]:
    """Reads a category table shipped with det, sorted by ``id``.

    Args:
        file_name: a file of ``det/data/datasets/metadata/``, e.g.
            ``"lvis_v1_categories.json"``.

    Returns:
        list of category dicts (fresh copies: callers may modify them).

    Raises:
        FileNotFoundError: if det was installed without its package data.
    """
    try:
        cats = _read_metadata_file(file_name)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"det/data/datasets/metadata/{file_name} is missing: det was installed without "
            "its package data (reinstall with 'pip install -e .' from a checkout)"
        ) from None
    return sorted((dict(c) for c in cats), key=lambda c: c["id"])


# fmt: off
# The 80 COCO instance categories: dataset id, name and visualization color (RGB).
COCO_CATEGORIES: list[dict] = [
    {"id": 1, "name": "person", "color": (220, 20, 60)},
    {"id": 2, "name": "bicycle", "color": (119, 11, 32)},
    {"id": 3, "name": "car", "color": (0, 0, 142)},
    {"id": 4, "name": "motorcycle", "color": (0, 0, 230)},
    {"id": 5, "name": "airplane", "color": (106, 0, 228)},
    {"id": 6, "name": "bus", "color": (0, 60, 100)},
    {"id": 7, "name": "train", "color": (0, 80, 100)},
    {"id": 8, "name": "truck", "color": (0, 0, 70)},
    {"id": 9, "name": "boat", "color": (0, 0, 192)},
    {"id": 10, "name": "traffic light", "color": (250, 170, 30)},
    {"id": 11, "name": "fire hydrant", "color": (100, 170, 30)},
    {"id": 13, "name": "stop sign", "color": (220, 220, 0)},
    {"id": 14, "name": "parking meter", "color": (175, 116, 175)},
    {"id": 15, "name": "bench", "color": (250, 0, 30)},
    {"id": 16, "name": "bird", "color": (165, 42, 42)},
    {"id": 17, "name": "cat", "color": (255, 77, 255)},
    {"id": 18, "name": "dog", "color": (0, 226, 252)},
    {"id": 19, "name": "horse", "color": (182, 182, 255)},
    {"id": 20, "name": "sheep", "color": (0, 82, 0)},
    {"id": 21, "name": "cow", "color": (120, 166, 157)},
    {"id": 22, "name": "elephant", "color": (110, 76, 0)},
    {"id": 23, "name": "bear", "color": (174, 57, 255)},
    {"id": 24, "name": "zebra", "color": (199, 100, 0)},
    {"id": 25, "name": "giraffe", "color": (72, 0, 118)},
    {"id": 27, "name": "backpack", "color": (255, 179, 240)},
    {"id": 28, "name": "umbrella", "color": (0, 125, 92)},
    {"id": 31, "name": "handbag", "color": (209, 0, 151)},
    {"id": 32, "name": "tie", "color": (188, 208, 182)},
    {"id": 33, "name": "suitcase", "color": (0, 220, 176)},
    {"id": 34, "name": "frisbee", "color": (255, 99, 164)},
    {"id": 35, "name": "skis", "color": (92, 0, 73)},
    {"id": 36, "name": "snowboard", "color": (133, 129, 255)},
    {"id": 37, "name": "sports ball", "color": (78, 180, 255)},
    {"id": 38, "name": "kite", "color": (0, 228, 0)},
    {"id": 39, "name": "baseball bat", "color": (174, 255, 243)},
    {"id": 40, "name": "baseball glove", "color": (45, 89, 255)},
    {"id": 41, "name": "skateboard", "color": (134, 134, 103)},
    {"id": 42, "name": "surfboard", "color": (145, 148, 174)},
    {"id": 43, "name": "tennis racket", "color": (255, 208, 186)},
    {"id": 44, "name": "bottle", "color": (197, 226, 255)},
    {"id": 46, "name": "wine glass", "color": (171, 134, 1)},
    {"id": 47, "name": "cup", "color": (109, 63, 54)},
    {"id": 48, "name": "fork", "color": (207, 138, 255)},
    {"id": 49, "name": "knife", "color": (151, 0, 95)},
    {"id": 50, "name": "spoon", "color": (9, 80, 61)},
    {"id": 51, "name": "bowl", "color": (84, 105, 51)},
    {"id": 52, "name": "banana", "color": (74, 65, 105)},
    {"id": 53, "name": "apple", "color": (166, 196, 102)},
    {"id": 54, "name": "sandwich", "color": (208, 195, 210)},
    {"id": 55, "name": "orange", "color": (255, 109, 65)},
    {"id": 56, "name": "broccoli", "color": (0, 143, 149)},
    {"id": 57, "name": "carrot", "color": (179, 0, 194)},
    {"id": 58, "name": "hot dog", "color": (209, 99, 106)},
    {"id": 59, "name": "pizza", "color": (5, 121, 0)},
    {"id": 60, "name": "donut", "color": (227, 255, 205)},
    {"id": 61, "name": "cake", "color": (147, 186, 208)},
    {"id": 62, "name": "chair", "color": (153, 69, 1)},
    {"id": 63, "name": "couch", "color": (3, 95, 161)},
    {"id": 64, "name": "potted plant", "color": (163, 255, 0)},
    {"id": 65, "name": "bed", "color": (119, 0, 170)},
    {"id": 67, "name": "dining table", "color": (0, 182, 199)},
    {"id": 70, "name": "toilet", "color": (0, 165, 120)},
    {"id": 72, "name": "tv", "color": (183, 130, 88)},
    {"id": 73, "name": "laptop", "color": (95, 32, 0)},
    {"id": 74, "name": "mouse", "color": (130, 114, 135)},
    {"id": 75, "name": "remote", "color": (110, 129, 133)},
    {"id": 76, "name": "keyboard", "color": (166, 74, 118)},
    {"id": 77, "name": "cell phone", "color": (219, 142, 185)},
    {"id": 78, "name": "microwave", "color": (79, 210, 114)},
    {"id": 79, "name": "oven", "color": (178, 90, 62)},
    {"id": 80, "name": "toaster", "color": (65, 70, 15)},
    {"id": 81, "name": "sink", "color": (127, 167, 115)},
    {"id": 82, "name": "refrigerator", "color": (59, 105, 106)},
    {"id": 84, "name": "book", "color": (142, 108, 45)},
    {"id": 85, "name": "clock", "color": (196, 172, 0)},
    {"id": 86, "name": "vase", "color": (95, 54, 80)},
    {"id": 87, "name": "scissors", "color": (128, 76, 255)},
    {"id": 88, "name": "teddy bear", "color": (201, 57, 1)},
    {"id": 89, "name": "hair drier", "color": (246, 0, 122)},
    {"id": 90, "name": "toothbrush", "color": (191, 162, 208)},
]

# The 91 COCO-Stuff stuff names, dataset ids 92..182 in order.
COCO_STUFF_ONLY_NAMES: list[str] = [
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage",
    "cardboard", "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter",
    "cupboard", "curtain", "desk-stuff", "dirt", "door-stuff", "fence", "floor-marble",
    "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower", "fog", "food-other",
    "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house", "leaves",
    "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper",
    "pavement", "pillow", "plant-other", "plastic", "platform", "playingfield", "railing",
    "railroad", "river", "road", "rock", "roof", "rug", "salad", "sand", "sea", "shelf",
    "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone", "straw",
    "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable",
    "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile",
    "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
]

# ADE20K SceneParsing, 150 classes in contiguous-id order. 'window ' keeps the trailing space
# it has upstream so names match other tools' per-class logs.
ADE20K_SEM_SEG_CATEGORIES: list[str] = [
    "wall", "building", "sky", "floor", "tree", "ceiling", "road, route", "bed", "window ", "grass",
    "cabinet", "sidewalk, pavement", "person", "earth, ground", "door", "table", "mountain, mount",
    "plant", "curtain", "chair", "car", "water", "painting, picture", "sofa", "shelf", "house",
    "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk", "rock, stone",
    "wardrobe, closet, press", "lamp", "tub", "rail", "cushion", "base, pedestal, stand", "box",
    "column, pillar", "signboard, sign", "chest of drawers, chest, bureau, dresser", "counter",
    "sand", "sink", "skyscraper", "fireplace", "refrigerator, icebox", "grandstand, covered stand",
    "path", "stairs", "runway", "case, display case, showcase, vitrine",
    "pool table, billiard table, snooker table", "pillow", "screen door, screen",
    "stairway, staircase", "river", "bridge, span", "bookcase", "blind, screen", "coffee table",
    "toilet, can, commode, crapper, pot, potty, stool, throne", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm, palm tree", "kitchen island", "computer", "swivel chair", "boat",
    "bar", "arcade machine", "hovel, hut, hutch, shack, shanty", "bus", "towel", "light", "truck",
    "tower", "chandelier", "awning, sunshade, sunblind", "street lamp", "booth", "tv", "plane",
    "dirt track", "clothes", "pole", "land, ground, soil",
    "bannister, banister, balustrade, balusters, handrail",
    "escalator, moving staircase, moving stairway", "ottoman, pouf, pouffe, puff, hassock",
    "bottle", "buffet, counter, sideboard", "poster, posting, placard, notice, bill, card", "stage",
    "van", "ship", "fountain", "conveyer belt, conveyor belt, conveyer, conveyor, transporter",
    "canopy", "washer, automatic washer, washing machine", "plaything, toy", "pool", "stool",
    "barrel, cask", "basket, handbasket", "falls", "tent", "bag", "minibike, motorbike", "cradle",
    "oven", "ball", "food, solid food", "step, stair", "tank, storage tank", "trade name",
    "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket, cover",
    "sculpture", "hood, exhaust hood", "sconce", "vase", "traffic light", "tray", "trash can",
    "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
    "glass, drinking glass", "clock", "flag",
]

# Objects365 v2 names in id order (id = index + 1), from the table shipped in metadata/, spelled
# exactly as in the official JSON: typos ('Bakset', 'Moniter/TV') and trailing spaces
# ('Cigar/Cigarette ', 'Formula 1 ', 'Table Tennis ') included.
OBJECTS365_CLASS_NAMES: list[str] = [
    c["name"] for c in read_shipped_categories("objects365_v2_categories.json")
]
# fmt: on


def distinct_colors(n: int, offset: int = 0) -> list[tuple[int, int, int]]:
    """Returns ``n`` well separated, deterministic RGB colors.

    Hues step by the golden ratio so neighbouring class ids get clearly different colors; the
    value and saturation alternate to separate classes whose hues end up close.

    Args:
        n: number of colors.
        offset: index of the first color, so two palettes can continue each other.

    Returns:
        list of ``(r, g, b)`` tuples with components in 0..255.
    """
    colors = []
    for i in range(offset, offset + n):
        hue = (0.13 + i * 0.6180339887) % 1.0
        sat = 0.55 + 0.35 * ((i // 3) % 2)
        val = 0.95 - 0.3 * ((i // 2) % 2)
        r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
        colors.append((round(r * 255), round(g * 255), round(b * 255)))
    return colors


# 171 COCO-Stuff classes = 80 things + 91 stuff, in dataset-id order. The contiguous id of a class
# is its index here, which equals mmseg's clsID_to_trID (raw PNG value = dataset id - 1).
COCO_STUFF_CATEGORIES: list[dict] = [
    {"id": c["id"], "name": c["name"], "color": c["color"]} for c in COCO_CATEGORIES
] + [
    {"id": 92 + i, "name": name, "color": color}
    for i, (name, color) in enumerate(
        zip(COCO_STUFF_ONLY_NAMES, distinct_colors(len(COCO_STUFF_ONLY_NAMES), offset=80))
    )
]

OBJECTS365_CATEGORIES: list[dict] = [
    {"id": i + 1, "name": name} for i, name in enumerate(OBJECTS365_CLASS_NAMES)
]


def get_coco_instances_meta() -> dict:
    """Metadata of the 80-class COCO instance datasets.

    Returns:
        dict with ``thing_classes`` (80 names), ``thing_colors`` and
        ``thing_dataset_id_to_contiguous_id`` (COCO ids 1..90 with gaps -> 0..79).
    """
    assert len(COCO_CATEGORIES) == 80, len(COCO_CATEGORIES)
    return {
        "thing_classes": [c["name"] for c in COCO_CATEGORIES],
        "thing_colors": [c["color"] for c in COCO_CATEGORIES],
        "thing_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(COCO_CATEGORIES)},
    }


def get_coco_stuff_meta() -> dict:
    """Metadata of COCO-Stuff-164K semantic segmentation (171 classes).

    Returns:
        dict with ``stuff_classes``, ``stuff_colors`` and ``stuff_dataset_id_to_contiguous_id``
        (COCO-Stuff ids 1..182 with 11 unused thing ids skipped -> 0..170).
    """
    assert len(COCO_STUFF_CATEGORIES) == 171, len(COCO_STUFF_CATEGORIES)
    return {
        "stuff_classes": [c["name"] for c in COCO_STUFF_CATEGORIES],
        "stuff_colors": [c["color"] for c in COCO_STUFF_CATEGORIES],
        "stuff_dataset_id_to_contiguous_id": {
            c["id"]: i for i, c in enumerate(COCO_STUFF_CATEGORIES)
        },
    }


def get_ade20k_sem_seg_meta() -> dict:
    """Metadata of ADE20K SceneParsing (150 classes).

    Returns:
        dict with ``stuff_classes`` and ``stuff_colors``.
    """
    assert len(ADE20K_SEM_SEG_CATEGORIES) == 150, len(ADE20K_SEM_SEG_CATEGORIES)
    return {
        "stuff_classes": list(ADE20K_SEM_SEG_CATEGORIES),
        "stuff_colors": distinct_colors(len(ADE20K_SEM_SEG_CATEGORIES)),
    }


def get_objects365_meta() -> dict:
    """Metadata of Objects365 v2 (365 classes).

    Returns:
        dict with ``thing_classes`` (official spelling, id order), ``thing_colors`` and
        ``thing_dataset_id_to_contiguous_id`` = ``{i + 1: i}``.
    """
    assert len(OBJECTS365_CLASS_NAMES) == 365, len(OBJECTS365_CLASS_NAMES)
    return {
        "thing_classes": list(OBJECTS365_CLASS_NAMES),
        "thing_colors": distinct_colors(len(OBJECTS365_CLASS_NAMES)),
        "thing_dataset_id_to_contiguous_id": {i + 1: i for i in range(365)},
    }
