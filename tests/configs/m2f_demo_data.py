"""Stand-in registration of the demo's ``synthetic_ade20k_sem_seg_{train,val}`` datasets.

det.data does not register a synthetic ADE20K dataset yet; until it does, the demo test runs
the training tool through a wrapper that calls this first. The data is written on first use
with ``det.data.datasets.synthetic.write_synthetic_ade20k`` in the real ADE20K layout.
"""

import os
from functools import partial

from det.data.catalog import DatasetCatalog, MetadataCatalog
from det.data.datasets.builtin_meta import get_ade20k_sem_seg_meta
from det.data.datasets.sem_seg import load_sem_seg
from det.data.datasets.synthetic import write_synthetic_ade20k

_SPLITS = {
    "synthetic_ade20k_sem_seg_train": ("training", 64),
    "synthetic_ade20k_sem_seg_val": ("validation", 16),
}


def _load(name, root):
    split, num_images = _SPLITS[name]
    base = os.path.join(root, "ADEChallengeData2016")
    if not os.path.isdir(os.path.join(base, "images", split)):
        write_synthetic_ade20k(root, split, num_images=num_images, image_size=(128, 160), seed=0)
    return load_sem_seg(
        os.path.join(base, "annotations", split),
        os.path.join(base, "images", split),
        reduce_zero_label=True,
        dataset_name=name,
    )


def register_synthetic_ade20k_stand_in(datasets_root):
    root = os.path.join(datasets_root, "synthetic")
    for name, (split, _) in _SPLITS.items():
        if name in DatasetCatalog:
            continue
        base = os.path.join(root, "ADEChallengeData2016")
        DatasetCatalog.register(name, partial(_load, name, root))
        MetadataCatalog.get(name).set(
            **get_ade20k_sem_seg_meta(),
            ignore_label=255,
            evaluator_type="sem_seg",
            image_root=os.path.join(base, "images", split),
            sem_seg_root=os.path.join(base, "annotations", split),
        )
