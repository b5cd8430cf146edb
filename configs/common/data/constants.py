"""Pixel statistics under detectron2's names (``constants.imagenet_rgb256_mean`` ...).

Configs written for detectron2 read them as ``get_config("common/data/constants.py").constants``
or with ``from ..data.constants import constants``; values in 0-255 pixel units.
"""

constants = dict(
    imagenet_rgb256_mean=[123.675, 116.28, 103.53],
    imagenet_rgb256_std=[58.395, 57.12, 57.375],
    imagenet_bgr256_mean=[103.530, 116.280, 123.675],
    # Detectron1 / MSRA ResNets fold the std into conv1, hence 1.0 (detectron2's convention).
    imagenet_bgr256_std=[1.0, 1.0, 1.0],
)
