import logging

import pytest
import torch

from det.config import LazyConfig, get_config, instantiate
from det.structures import BitMasks, Boxes, Instances
from det.utils.events import EventStorage

IMG = 64


def _tiny(config="common/models/cascade_mask_rcnn_vitdet.py", **roi_heads):
    cfg = get_config(config)
    cfg.model.backbone.net.update(
        img_size=IMG, embed_dim=32, depth=2, num_heads=2, window_size=2, window_block_indexes=[0]
    )
    cfg.model.backbone.out_channels = 16
    cfg.model.proposal_generator.head.in_channels = 16
    cfg.model.proposal_generator.post_nms_topk = (40, 20)
    heads = cfg.model.roi_heads
    heads.update(num_classes=3, batch_size_per_image=16, **roi_heads)
    box_heads = heads.box_heads if "box_heads" in heads else [heads.box_head]
    for head in box_heads:
        head.update(conv_dims=[8], fc_dims=[16])
        head.input_shape.channels = 16
    for predictor in heads.box_predictors if "box_predictors" in heads else [heads.box_predictor]:
        predictor.input_shape.channels = 16
    heads.mask_head.update(conv_dims=[8, 8])
    heads.mask_head.input_shape.channels = 16
    torch.manual_seed(0)
    return instantiate(cfg.model)


def _instances(h, w, boxes, classes):
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.tensor(classes, dtype=torch.int64)
    masks = torch.zeros(len(classes), h, w, dtype=torch.bool)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        masks[k, int(y0) : int(y1), int(x0) : int(x1)] = True
    inst.gt_masks = BitMasks(masks)
    return inst


def _batch():
    g = torch.Generator().manual_seed(0)
    img = lambda h, w: torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)  # noqa: E731
    return [
        {
            "image": img(64, 48),
            "instances": _instances(64, 48, [[4, 6, 30, 40], [20, 30, 46, 62]], [0, 2]),
        },
        {"image": img(40, 64), "instances": _instances(40, 64, [[10, 5, 50, 35]], [1])},
        {"image": img(56, 56), "instances": _instances(56, 56, [], [])},  # no annotations
    ]


def _losses(model):
    with EventStorage():
        return model(_batch())


def test_seeded_forward_backward():
    model = _tiny().train()
    losses = _losses(model)
    expected = {f"{n}_stage{k}" for n in ("loss_cls", "loss_box_reg") for k in range(3)}
    expected |= {"loss_mask", "loss_rpn_cls", "loss_rpn_loc"}
    assert set(losses) == expected
    assert all(torch.isfinite(v) and v.dtype == torch.float32 for v in losses.values())
    sum(losses.values()).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    for name in (
        "backbone.net.blocks.0.attn.q_proj.weight",
        "backbone.simfp_2.0.weight",
        "proposal_generator.rpn_head.objectness_logits.weight",
        "roi_heads.box_predictor.2.cls_score.weight",
        "roi_heads.mask_head.predictor.weight",
    ):
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
    # Same seed, same model and data: the same losses.
    again = _losses(_tiny().train())
    assert {k: v.item() for k, v in again.items()} == {k: v.item() for k, v in losses.items()}


def test_amp_runs_only_the_backbone_in_low_precision():
    model = _tiny().train()
    dtypes = {}
    model.backbone.net.blocks[0].mlp.w3.register_forward_hook(
        lambda m, i, o: dtypes.__setitem__("backbone", o.dtype)
    )
    model.roi_heads.box_predictor[0].cls_score.register_forward_hook(
        lambda m, i, o: dtypes.__setitem__("roi_heads", o.dtype)
    )
    model.proposal_generator.rpn_head.register_forward_hook(
        lambda m, i, o: dtypes.__setitem__("rpn", o[0][0].dtype)
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = _losses(model)
    assert dtypes == {"backbone": torch.bfloat16, "rpn": torch.float32, "roi_heads": torch.float32}
    assert all(v.dtype == torch.float32 for v in losses.values())
    sum(losses.values()).backward()


def test_preprocess_pads_to_the_backbone_square():
    model = _tiny().eval()
    images = model.preprocess_image([{"image": torch.zeros(3, 40, 24, dtype=torch.uint8)}])
    assert images.tensor.shape == (1, 3, IMG, IMG)
    assert images.image_sizes == [(40, 24)]
    # Normalized zeros: padding is 0 *after* normalization, the image itself is -mean/std.
    assert images.tensor[0, 0, 0, 0].item() == pytest.approx(-123.675 / 58.395)
    assert images.tensor[0, 0, 50, 50].item() == 0.0


def test_image_larger_than_the_square_pads_to_its_own_size(caplog):
    model = _tiny().eval()
    with caplog.at_level(logging.WARNING):
        images = model.preprocess_image([{"image": torch.zeros(3, 80, 70, dtype=torch.uint8)}])
    assert images.tensor.shape[-2:] == (96, 96)  # 80, then a multiple of the stride 32
    assert "exceeds the backbone's square padding" in caplog.text


@pytest.mark.parametrize("config", ["mask_rcnn_vitdet", "cascade_mask_rcnn_vitdet"])
def test_inference_outputs_in_requested_size(config):
    # StandardROIHeads inference works (it raises TypeError in the EVA-02 fork).
    model = _tiny(f"common/models/{config}.py", override_score_thresh=0.0).eval()
    batch = _batch()
    with torch.no_grad():
        out = model([{"image": batch[0]["image"], "height": 128, "width": 96}])
    inst = out[0]["instances"]
    assert inst.image_size == (128, 96) and len(inst) > 0
    assert inst.pred_masks.shape == (len(inst), 128, 96) and inst.pred_masks.dtype == torch.bool
    assert inst.pred_boxes.tensor[:, 2].max() <= 96


def test_given_boxes_path_applies_maskness():
    plain = _tiny().eval()
    rescored = _tiny(maskness_thresh=0.5).eval()
    given = Instances((64, 48))
    given.pred_boxes = Boxes(torch.tensor([[4.0, 6, 30, 40], [20, 30, 46, 62]]))
    given.pred_classes = torch.tensor([0, 2])
    given.scores = torch.tensor([0.9, 0.8])
    inputs = [{"image": _batch()[0]["image"]}]
    with torch.no_grad():
        a = plain.inference(inputs, [given], do_postprocess=False)[0]
        b = rescored.inference(inputs, [given], do_postprocess=False)[0]
    assert torch.equal(a.pred_masks, b.pred_masks)
    probs = a.pred_masks
    above = probs > 0.5
    maskness = (probs * above).sum((1, 2, 3)) / above.sum((1, 2, 3)).clamp(min=1)
    assert torch.allclose(b.scores, torch.tensor([0.9, 0.8]) * maskness)
    assert torch.equal(a.scores, torch.tensor([0.9, 0.8]))


def test_readme_override_keys_instantiate_for_both_head_types():
    overrides = [
        "model.roi_heads.use_soft_nms=True",
        "model.roi_heads.class_wise=True",
        "model.roi_heads.method=linear",
        "model.roi_heads.iou_threshold=0.6",
        "model.roi_heads.sigma=0.5",
        "model.roi_heads.override_score_thresh=0.0",
        "model.roi_heads.maskness_thresh=0.5",
        "model.backbone.net.xattn=False",
    ]
    for name in ("mask_rcnn_vitdet", "cascade_mask_rcnn_vitdet"):
        cfg = LazyConfig.apply_overrides(get_config(f"common/models/{name}.py"), overrides)
        cfg.model.backbone.net.update(embed_dim=32, depth=1, num_heads=2, window_block_indexes=[])
        with torch.device("meta"):
            model = instantiate(cfg.model)
        heads = model.roi_heads
        assert heads.box_nms.class_wise and heads.box_nms.iou_threshold == 0.6
        assert heads.override_score_thresh == 0.0 and heads.maskness_thresh == 0.5


def test_vis_period_puts_a_training_image():
    model = _tiny().train()
    model.vis_period, model.input_format = 1, "RGB"
    with EventStorage() as storage:
        model(_batch())
    assert len(storage._vis_data) == 1
    name, image, _ = storage._vis_data[0]
    assert "Predicted proposals" in name and image.shape[0] == 3 and image.shape[2] == 2 * 48
