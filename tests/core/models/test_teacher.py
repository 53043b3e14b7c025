"""The cross-modal teacher: masks make padding invisible; paper-compat reproduces the leak."""

from __future__ import annotations

import pytest
import torch

from dclip_core.models.teacher import CrossModalTeacher, cosine_mean_pool

DIM = 32


def _sample(n_text: int, n_regions: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, n_text, DIM, generator=g), torch.randn(1, n_regions, DIM, generator=g)


def _pad(x: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    padded = torch.zeros(x.shape[0], length, x.shape[2])
    padded[:, : x.shape[1]] = x
    mask = torch.zeros(x.shape[0], length, dtype=torch.bool)
    mask[:, : x.shape[1]] = True
    return padded, mask


def _ones(x: torch.Tensor) -> torch.Tensor:
    return torch.ones(x.shape[:2], dtype=torch.bool)


@pytest.mark.parametrize(("layers", "ffn"), [(1, False), (2, True)])
def test_padding_changes_no_output(layers: int, ffn: bool) -> None:
    torch.manual_seed(0)
    teacher = CrossModalTeacher(DIM, heads=4, layers=layers, ffn=ffn).eval()
    text, regions = _sample(5, 3, seed=1)
    alone = teacher(text, _ones(text), regions, _ones(regions))
    text_p, text_mask = _pad(text, 9)
    regions_p, region_mask = _pad(regions, 7)
    # padding filled with garbage, not zeros: the masks alone must hide it
    text_p[:, 5:] = 100.0
    regions_p[:, 3:] = -50.0
    padded = teacher(text_p, text_mask, regions_p, region_mask)
    torch.testing.assert_close(padded.global_embedding, alone.global_embedding)
    torch.testing.assert_close(padded.text_to_region[..., :5, :3], alone.text_to_region)
    torch.testing.assert_close(padded.region_to_text[..., :3, :5], alone.region_to_text)
    assert torch.all(padded.text_to_region[..., :, 3:] == 0)
    assert torch.all(padded.text_to_region[..., 5:, :] == 0)
    assert torch.all(padded.region_to_text[..., :, 5:] == 0)
    torch.testing.assert_close(padded.text_states[:, :5], alone.text_states)
    assert padded.text_to_region.shape == (1, layers, 4, 9, 7)


def test_batch_of_different_lengths_equals_each_sample_alone() -> None:
    torch.manual_seed(0)
    teacher = CrossModalTeacher(DIM, heads=8).eval()
    samples = [_sample(n_t, n_r, seed) for seed, (n_t, n_r) in enumerate([(2, 6), (7, 1), (4, 4)])]
    singles = [teacher(t, _ones(t), r, _ones(r)).global_embedding for t, r in samples]
    text = [_pad(t, 7) for t, _ in samples]
    regions = [_pad(r, 6) for _, r in samples]
    batch = teacher(
        torch.cat([t for t, _ in text]),
        torch.cat([m for _, m in text]),
        torch.cat([r for r, _ in regions]),
        torch.cat([m for _, m in regions]),
    )
    torch.testing.assert_close(batch.global_embedding, torch.cat(singles))


def test_paper_compat_lets_zero_padding_leak() -> None:
    torch.manual_seed(0)
    masked = CrossModalTeacher(DIM, heads=4).eval()
    compat = CrossModalTeacher(DIM, heads=4, paper_compat=True).eval()
    compat.load_state_dict(masked.state_dict())
    text, regions = _sample(4, 2, seed=3)
    # without padding both modes are the same computation
    torch.testing.assert_close(
        compat(text, _ones(text), regions, _ones(regions)).global_embedding,
        masked(text, _ones(text), regions, _ones(regions)).global_embedding,
    )
    text_p, text_mask = _pad(text, 8)
    regions_p, region_mask = _pad(regions, 5)
    leaked = compat(text_p, text_mask, regions_p, region_mask)
    clean = masked(text_p, text_mask, regions_p, region_mask)
    assert not torch.allclose(leaked.global_embedding, clean.global_embedding, atol=1e-3)
    # the released code gives padded keys attention weight
    assert leaked.text_to_region[..., :4, 2:].sum() > 0


def test_attention_maps_are_distributions_over_real_keys() -> None:
    teacher = CrossModalTeacher(DIM, heads=4, layers=2).eval()
    text, regions = _sample(3, 5, seed=4)
    text_p, text_mask = _pad(text, 4)
    out = teacher(text_p, text_mask, regions, _ones(regions))
    sums = out.text_to_region.sum(-1)
    torch.testing.assert_close(sums[..., :3], torch.ones_like(sums[..., :3]))
    torch.testing.assert_close(out.region_to_text.sum(-1), torch.ones(1, 2, 4, 5))


def test_parameter_count_matches_the_released_teacher() -> None:
    # two 8-head MHAs and two LayerNorms at d=512: 2,103,296 parameters in the authors' code
    teacher = CrossModalTeacher(512, heads=8)
    assert sum(p.numel() for p in teacher.parameters()) == 2_103_296


def test_pooling_weights_follow_cosine_to_mean() -> None:
    x = torch.tensor([[[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0]]])
    pooled = cosine_mean_pool(x, torch.ones(1, 3, dtype=torch.bool), temperature=2.0)
    mean = x.mean(1)
    cos = torch.nn.functional.cosine_similarity(x[0], mean.expand(3, 2), dim=-1)
    weights = torch.softmax(cos / 2.0, dim=0)
    torch.testing.assert_close(pooled[0], (weights[:, None] * x[0]).sum(0))


def test_a_regions_target_pools_the_attended_regions_alone() -> None:
    torch.manual_seed(0)
    fused = CrossModalTeacher(DIM, heads=4).eval()
    regions_only = CrossModalTeacher(DIM, heads=4, target="regions").eval()
    regions_only.load_state_dict(fused.state_dict())  # same weights: only the pooling differs
    text, regions = _sample(5, 3, seed=2)
    a = fused(text, _ones(text), regions, _ones(regions))
    b = regions_only(text, _ones(text), regions, _ones(regions))
    pooled_regions = cosine_mean_pool(b.region_states, _ones(regions), 2.0)
    pooled_text = cosine_mean_pool(a.text_states, _ones(text), 2.0)
    torch.testing.assert_close(b.global_embedding, pooled_regions)
    torch.testing.assert_close(a.global_embedding, 0.5 * pooled_text + 0.5 * pooled_regions)
    assert CrossModalTeacher.from_config(regions_only.config).config.target == "regions"
    with pytest.raises(ValueError, match="unknown teacher target 'spans'"):
        CrossModalTeacher(DIM, target="spans")  # type: ignore[arg-type]


def test_pair_logits_hold_every_caption_against_every_image() -> None:
    torch.manual_seed(3)
    teacher = CrossModalTeacher(DIM, heads=4, layers=2).eval()
    text, regions = torch.randn(3, 4, DIM), torch.randn(3, 5, DIM)
    text_mask, region_mask = torch.ones(3, 4, dtype=torch.bool), torch.ones(3, 5, dtype=torch.bool)
    region_mask[1, 3:] = False
    with torch.no_grad():
        out = teacher(text, text_mask, regions, region_mask, pairwise=True)
        plain = teacher(text, text_mask, regions, region_mask)
    assert plain.pair_logits is None  # the exported graph never computes them
    assert out.pair_logits is not None
    assert out.pair_logits.shape == (2, 3, 3, 4, 4, 5)
    for layer in range(2):
        for i in range(3):
            # the diagonal is the attention each sample actually computed
            torch.testing.assert_close(
                out.pair_logits[layer, i, i].softmax(-1), out.text_to_region[i, layer]
            )
    # caption 0 against image 1 sees only image 1's real regions
    assert bool((out.pair_logits[:, 0, 1, :, :, 3:] < -1e8).all())
    torch.testing.assert_close(out.global_embedding, plain.global_embedding)
