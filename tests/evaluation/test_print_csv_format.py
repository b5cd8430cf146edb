"""print_csv_format writes exactly the spec's copypaste lines; results helpers."""

import logging
from collections import OrderedDict

import pytest
from evaluation_testdata import LogCapture

from det.evaluation import flatten_results_dict, print_csv_format, verify_results


@pytest.fixture
def captured():
    # Attach to the logger itself: det's setup_logger may stop propagation to the root logger.
    logger = logging.getLogger("det.evaluation.testing")
    handler = LogCapture()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_detection_blocks(captured):
    # The EVA-02 README's COCO block, plus per-category and custom-range metrics that must be
    # skipped because their names contain "-".
    bbox = OrderedDict(
        [
            ("AP", 55.50171),
            ("AP50", 73.65423),
            ("AP75", 60.71328),
            ("APs", 39.02187),
            ("APm", 59.18526),
            ("APl", 70.33494),
            ("AP-person", 61.2),
            ("AP0-8", 1.0),
        ]
    )
    segm = OrderedDict(
        [
            ("AP", 47.0),
            ("AP50", 70.123456),
            ("AP75", 51.0),
            ("APs", 28.0),
            ("APm", 50.0),
            ("APl", 65.0),
            ("APr", 40.00004),
            ("APc", 45.0),
            ("APf", float("nan")),
        ]
    )
    print_csv_format(OrderedDict([("bbox", bbox), ("segm", segm), ("total_time", 3)]))
    assert captured == [
        "copypaste: Task: bbox",
        "copypaste: AP,AP50,AP75,APs,APm,APl",
        "copypaste: 55.5017,73.6542,60.7133,39.0219,59.1853,70.3349",
        "copypaste: Task: segm",
        "copypaste: AP,AP50,AP75,APs,APm,APl,APr,APc,APf",
        "copypaste: 47.0000,70.1235,51.0000,28.0000,50.0000,65.0000,40.0000,45.0000,nan",
        "copypaste: total_time=3",
    ]


def test_sem_seg_block_and_summary_table(captured):
    res = OrderedDict(
        [
            ("mIoU", 62.2551),
            ("fwIoU", 70.0),
            ("IoU-wall", 80.0),
            ("mACC", 75.5),
            ("pACC", 85.25),
            ("ACC-wall", 90.0),
            ("mmseg-aAcc", 85.25),
            ("mmseg-mIoU", 62.25),
            ("mmseg-mAcc", 75.5),
        ]
    )
    print_csv_format({"sem_seg": res})
    assert captured[:3] == [
        "copypaste: Task: sem_seg",
        "copypaste: mIoU,fwIoU,mACC,pACC",
        "copypaste: 62.2551,70.0000,75.5000,85.2500",
    ]
    table = captured[3].splitlines()
    assert table[0] == "Summary (sem_seg, mmsegmentation metrics):"
    assert table[1:] == [
        "+-------+-------+-------+",
        "|  aAcc |  mIoU |  mAcc |",
        "+-------+-------+-------+",
        "| 85.25 | 62.25 | 75.50 |",
        "+-------+-------+-------+",
    ]


def test_flatten_and_verify():
    results = {"bbox": {"AP": 50.0, "AP50": 70.0}, "segm": {"AP": 40.0}, "iter": 3}
    assert flatten_results_dict(results) == {
        "bbox/AP": 50.0,
        "bbox/AP50": 70.0,
        "segm/AP": 40.0,
        "iter": 3,
    }
    assert verify_results(results, [("bbox", "AP", 50.05, 0.1), ("segm", "AP", 40.0, 0.0)])
    assert not verify_results(results, [("bbox", "AP", 51.0, 0.1)])
    assert not verify_results(results, [("segm", "AP50", 40.0, 1.0)])  # missing metric
