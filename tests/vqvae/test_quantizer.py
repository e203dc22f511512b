"""EMAQuantizer and ResidualQuantizer: gradients, EMA arithmetic, k-means start, dead codes, residuals."""

from __future__ import annotations

import pytest
import torch

from spinlock.vqvae.quantizer import EMAQuantizer, ResidualQuantizer, kmeans, perplexity


def _two_code_quantizer(**options: object) -> EMAQuantizer:
    quantizer = EMAQuantizer(2, 2, **options)  # type: ignore[arg-type]
    quantizer.set_codebook(torch.tensor([[0.0, 0.0], [2.0, 2.0]]), cluster_size=1.0)
    return quantizer


def _planted(
    centres: torch.Tensor, per_cluster: int, noise: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(centres)).repeat_interleave(per_cluster)
    points = centres[labels] + noise * torch.randn(len(labels), centres.shape[1], generator=generator)
    order = torch.randperm(len(labels), generator=generator)
    return points[order], labels[order]


# -- gradients ---------------------------------------------------------------------------------------------


def test_straight_through_gradient_is_identity_on_two_codes() -> None:
    quantizer = _two_code_quantizer().eval()
    z = torch.tensor([[0.3, -0.2], [1.6, 2.5]], requires_grad=True)
    out = quantizer(z)
    assert out.codes.tolist() == [0, 1]
    torch.testing.assert_close(out.quantized.detach(), torch.tensor([[0.0, 0.0], [2.0, 2.0]]))
    weights = torch.tensor([[1.0, -2.0], [3.0, 0.5]])
    (out.quantized * weights).sum().backward()
    assert z.grad is not None
    torch.testing.assert_close(z.grad, weights)


def test_commitment_gradient_reaches_the_encoder_only() -> None:
    beta = 0.25
    quantizer = _two_code_quantizer(commitment_weight=beta).eval()
    z = torch.tensor([[0.3, -0.2], [1.6, 2.5]], requires_grad=True)
    out = quantizer(z)
    z_q = torch.tensor([[0.0, 0.0], [2.0, 2.0]])
    expected_loss = beta * ((z.detach() - z_q) ** 2).mean()
    torch.testing.assert_close(out.commitment_loss, expected_loss)
    out.commitment_loss.backward()
    assert z.grad is not None
    torch.testing.assert_close(z.grad, 2 * beta * (z.detach() - z_q) / z.numel())
    assert list(quantizer.parameters()) == []
    assert not quantizer.codebook.requires_grad
    assert quantizer.codebook.grad is None


# -- EMA ---------------------------------------------------------------------------------------------------


def test_ema_update_matches_hand_computation() -> None:
    decay, eps = 0.5, 1e-5
    quantizer = _two_code_quantizer(decay=decay, eps=eps, dead_code_threshold=0.0, ema_warmup=False).train()
    z = torch.tensor([[0.2, 0.0], [0.0, 0.4], [2.0, 2.2]])
    out = quantizer(z)
    assert out.codes.tolist() == [0, 0, 1]
    # the returned codewords are those before the update
    torch.testing.assert_close(out.quantized, torch.tensor([[0.0, 0.0], [0.0, 0.0], [2.0, 2.0]]))

    cluster_size = 0.5 * torch.tensor([1.0, 1.0]) + 0.5 * torch.tensor([2.0, 1.0])  # [1.5, 1.0]
    embed_sum = 0.5 * torch.tensor([[0.0, 0.0], [2.0, 2.0]]) + 0.5 * torch.tensor([[0.2, 0.4], [2.0, 2.2]])
    total = cluster_size.sum()
    smoothed = (cluster_size + eps) / (total + 2 * eps) * total
    torch.testing.assert_close(quantizer.cluster_size, cluster_size)
    torch.testing.assert_close(quantizer.embed_sum, embed_sum)
    torch.testing.assert_close(quantizer.codebook, embed_sum / smoothed[:, None])
    assert int(quantizer.updates) == 1


def test_eval_mode_changes_nothing() -> None:
    quantizer = _two_code_quantizer()
    before = {name: tensor.clone() for name, tensor in quantizer.state_dict().items()}
    quantizer.eval()(torch.randn(16, 2))
    for name, tensor in quantizer.state_dict().items():
        torch.testing.assert_close(tensor, before[name], msg=name)


def test_ema_warmup_schedule() -> None:
    quantizer = EMAQuantizer(4, 2, decay=0.99)
    assert quantizer.current_decay() == pytest.approx(0.1)
    quantizer.updates.fill_(80)
    assert quantizer.current_decay() == pytest.approx(0.9)
    quantizer.updates.fill_(10_000)
    assert quantizer.current_decay() == 0.99
    assert EMAQuantizer(4, 2, decay=0.99, ema_warmup=False).current_decay() == 0.99


# -- k-means start and dead codes --------------------------------------------------------------------------


def test_kmeans_init_finds_planted_cluster_centres() -> None:
    centres = torch.tensor(
        [[10.0, 0.0, 0.0], [-10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, -10.0, 0.0], [0.0, 0.0, 10.0]]
    )
    points, _ = _planted(centres, per_cluster=60, noise=0.3, seed=0)
    torch.manual_seed(0)
    quantizer = EMAQuantizer(5, 3, kmeans_iterations=10).train()
    assert not bool(quantizer.initialised)
    quantizer(points)
    assert bool(quantizer.initialised)
    distances = torch.cdist(centres, quantizer.codebook)
    # every planted centre has its own code, within the noise of a cluster mean
    assert sorted(distances.argmin(1).tolist()) == [0, 1, 2, 3, 4]
    assert float(distances.min(1).values.max()) < 0.15
    torch.testing.assert_close(quantizer.cluster_size, torch.full((5,), 60.0))


def test_kmeans_is_deterministic_given_the_seed() -> None:
    data = torch.randn(200, 4, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(7)
    first = kmeans(data, 6)
    torch.manual_seed(7)
    second = kmeans(data, 6)
    torch.testing.assert_close(first[0], second[0], rtol=0, atol=0)
    torch.testing.assert_close(first[1], second[1], rtol=0, atol=0)


def test_kmeans_with_fewer_rows_than_codes() -> None:
    centres, counts = kmeans(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), 4)
    assert centres.shape == (4, 2)
    assert float(counts.sum()) == 2.0


def test_dead_codes_are_revived_with_reset_ema_state() -> None:
    threshold = 0.5
    quantizer = EMAQuantizer(3, 2, decay=0.5, dead_code_threshold=threshold, ema_warmup=False).train()
    quantizer.set_codebook(torch.tensor([[0.0, 0.0], [4.0, 4.0], [100.0, 100.0]]), cluster_size=0.6)
    torch.manual_seed(0)
    z = torch.cat([torch.randn(8, 2) * 0.1, 4.0 + torch.randn(8, 2) * 0.1, torch.tensor([[9.0, -9.0]])])
    quantizer(z)
    # code 2 received nothing: 0.5 * 0.6 = 0.3 < 0.5, so it was re-seeded from a row of the batch
    revived = quantizer.codebook[2]
    assert bool((z == revived).all(1).any())
    assert float(quantizer.cluster_size[2]) == threshold
    torch.testing.assert_close(quantizer.embed_sum[2], revived * threshold)
    # the live codes follow the EMA rule and are untouched by the revival ((9, -9) is nearest to code 0)
    assert float(quantizer.cluster_size[0]) == pytest.approx(0.5 * 0.6 + 0.5 * 9)
    assert float(quantizer.cluster_size[1]) == pytest.approx(0.5 * 0.6 + 0.5 * 8)
    # the row worst served by the live codes is the likeliest pick; here it is far from everything else
    torch.testing.assert_close(revived, torch.tensor([9.0, -9.0]))


def test_revival_restores_usage_after_collapse() -> None:
    torch.manual_seed(0)
    quantizer = EMAQuantizer(8, 2, dead_code_threshold=1.0, kmeans_init=False).train()
    # a codebook far from the data: one code takes every row, the others are dead
    quantizer.set_codebook(torch.randn(8, 2) + 50.0)
    data = torch.randn(512, 2)
    first = quantizer(data[:128]).perplexity
    for _ in range(20):
        out = quantizer(data[torch.randint(512, (128,))])
    assert float(first) < 1.5
    assert float(out.perplexity) > 5.0


# -- residual levels ---------------------------------------------------------------------------------------


def test_finer_levels_reduce_the_residual_error() -> None:
    torch.manual_seed(0)
    data = torch.randn(1024, 4)
    quantizer = ResidualQuantizer([8, 8, 8], 4).train()
    for _ in range(30):
        quantizer(data[torch.randint(1024, (256,))])
    out = quantizer.eval()(data)
    assert out.codes.shape == (1024, 3)
    assert out.codewords.shape == (1024, 3, 4)
    errors = [float(((data - out.codewords[:, :depth].sum(1)) ** 2).mean()) for depth in (1, 2, 3)]
    assert errors[1] < 0.8 * errors[0]
    assert errors[2] < 0.8 * errors[1]
    torch.testing.assert_close(out.quantized, out.codewords.sum(1))
    torch.testing.assert_close(quantizer.decode_codes(out.codes), out.codewords.sum(1))


def test_residual_quantizer_gradients() -> None:
    torch.manual_seed(0)
    quantizer = ResidualQuantizer([4, 4, 4], 3, commitment_weight=0.25).train()
    z = torch.randn(64, 3, requires_grad=True)
    out = quantizer(z)
    weights = torch.randn(64, 3)
    (out.quantized * weights).sum().backward()
    assert z.grad is not None
    torch.testing.assert_close(z.grad, weights)  # identity once, not once per level

    z.grad = None
    out = quantizer(z)
    out.commitment_loss.backward()
    residuals = z.detach().unsqueeze(1) - torch.cat(
        [torch.zeros(64, 1, 3), out.codewords.cumsum(1)[:, :-1]], 1
    )
    expected = (2 * 0.25 / z.numel() * (residuals - out.codewords)).sum(1)
    torch.testing.assert_close(z.grad, expected)
    assert out.perplexity.shape == (3,)


def test_perplexity() -> None:
    assert float(perplexity(torch.zeros(10, dtype=torch.long), 4)) == pytest.approx(1.0)
    assert float(perplexity(torch.arange(8) % 4, 4)) == pytest.approx(4.0)


# -- validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"codebook_size": 0}, "codebook_size"),
        ({"dim": 0}, "dim"),
        ({"decay": 1.0}, "decay"),
        ({"eps": 0.0}, "eps"),
        ({"commitment_weight": -1.0}, "commitment_weight"),
        ({"dead_code_threshold": -1.0}, "dead_code_threshold"),
        ({"kmeans_iterations": -1}, "kmeans_iterations"),
    ],
)
def test_invalid_quantizer_options(options: dict[str, float], message: str) -> None:
    arguments: dict[str, float] = {"codebook_size": 4, "dim": 2, **options}
    with pytest.raises(ValueError, match=message):
        EMAQuantizer(**arguments)  # type: ignore[arg-type]


def test_wrong_input_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        EMAQuantizer(4, 2)(torch.randn(3, 5))
    with pytest.raises(ValueError, match="empty"):
        EMAQuantizer(4, 2)(torch.randn(0, 2))
    with pytest.raises(ValueError, match="codes must lie"):
        EMAQuantizer(4, 2).lookup(torch.tensor([4]))
    with pytest.raises(ValueError, match="at least one level"):
        ResidualQuantizer([], 2)
