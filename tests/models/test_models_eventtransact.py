"""EventTransAct: variants, parameter count of the paper model, projections, local weights only."""

import pytest
import torch

import eventar
from eventar.errors import CheckpointError
from eventar.models.eventtransact import example_input


def test_variants_registered():
    names = eventar.list_models("eventtransact*")
    assert {"eventtransact_vitb16", "eventtransact_r50", "eventtransact_r18", "eventtransact_vit_tiny", "eventtransact_synthetic"} <= set(names)


def test_vitb16_parameter_count_next_to_research_estimate(capsys):
    m = eventar.create_model("eventtransact_vitb16")
    proj = sum(p.numel() for p in m.projection.parameters())
    total = sum(p.numel() for p in m.parameters())
    backbone = sum(p.numel() for p in m.backbone.parameters())
    print(f"EventTransAct ViT-B/16: {total / 1e6:.2f} M ({(total - proj) / 1e6:.2f} M + projection {proj / 1e6:.2f} M); research estimate ≈ 113 M + projection")
    assert backbone == pytest.approx(85.8e6, rel=0.01)  # ViT-B/16 with CLS, no head
    assert total - proj == pytest.approx(113e6, rel=0.02)


def test_forward_shapes_and_projection_head():
    torch.manual_seed(0)
    m = eventar.create_model("eventtransact_synthetic", num_classes=5).eval()
    x = example_input(m, batch_size=3, frames=6)
    logits, proj = m(x, return_projections=True)
    assert logits.shape == (3, 5) and proj.shape == (3, 6, m.cfg.proj_dim)
    assert torch.equal(m(x), logits)
    # frames of another size are resized to the backbone's
    assert m(torch.rand(1, 4, 3, 128, 128)).shape == (1, 5)


def test_resnet_variant_forward():
    m = eventar.create_model("eventtransact_r18", resnet_widths=(8, 16, 32, 64), temporal_heads=4, temporal_mlp_dim=64, head_hidden=32)
    assert m(torch.rand(2, 3, 3, 64, 64)).shape == (2, 11)


def test_pretrained_weights_from_local_file_only(tmp_path):
    from safetensors.torch import save_file

    src = eventar.create_model("eventtransact_synthetic")
    path = tmp_path / "backbone.safetensors"
    save_file({k: v.contiguous() for k, v in src.backbone.state_dict().items()}, str(path))
    m = eventar.create_model("eventtransact_synthetic", pretrained_path=str(path))
    assert all(torch.equal(a, b) for a, b in zip(m.backbone.state_dict().values(), src.backbone.state_dict().values()))
    bad = tmp_path / "bad.pt"
    torch.save({"patch_embed.weight": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="do not match"):
        eventar.create_model("eventtransact_synthetic", pretrained_path=str(bad))


def test_wrong_input_rank():
    m = eventar.create_model("eventtransact_synthetic")
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        m(torch.rand(2, 3, 64, 64))


def test_vit_position_table_init_is_the_backbones_unless_vit_pos_std_is_set():
    torch.manual_seed(0)
    from eventar.models.eventtransact import EventTransAct, EventTransActConfig

    paper_like = EventTransAct(EventTransActConfig(image_size=64, patch=8, vit_dim=64, vit_depth=1, vit_heads=4, temporal_heads=4))
    assert paper_like.backbone.pos_embed.std().item() == pytest.approx(0.02, rel=0.2)
    synthetic = eventar.create_model("eventtransact_synthetic", image_size=64)  # 65 x 64 entries
    assert synthetic.cfg.vit_pos_std == 0.5
    assert synthetic.backbone.pos_embed.std().item() == pytest.approx(0.5, rel=0.1)
    assert eventar.create_model("eventtransact_vit_tiny", vit_depth=1).cfg.vit_pos_std is None
