"""HierarchicalVQVAE: shapes, losses, learning planted structure, saving, determinism, the TEMPORAL path."""

from __future__ import annotations

import io
import json

import attrs
import pytest
import torch
from sklearn.metrics import adjusted_rand_score
from torch import nn

from spinlock.vqvae.model import HierarchicalVQVAE, VQVAEConfig, derived_latent_dim

SMALL = VQVAEConfig(codebook_sizes=(6, 8, 8), hidden_dims=(32,))


def _planted_static(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[list[int]]]:
    """Six planted labels in 12 columns: even columns are category A, odd ones category B; each category's
    columns are a label-specific centre plus noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(6, (n,), generator=generator)
    centres = 3.0 * torch.randn(2, 6, 6, generator=generator)
    categories = [list(range(0, 12, 2)), list(range(1, 12, 2))]
    static = torch.empty(n, 12)
    for index, columns in enumerate(categories):
        static[:, columns] = centres[index, labels] + 0.3 * torch.randn(n, 6, generator=generator)
    return static, labels, categories


def _train(
    model: HierarchicalVQVAE,
    static: torch.Tensor | None,
    temporal: torch.Tensor | None = None,
    *,
    steps: int,
    batch: int = 128,
    lr: float = 1e-3,
) -> None:
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    rows = static.shape[0] if static is not None else temporal.shape[0]  # type: ignore[union-attr]
    for _ in range(steps):
        index = torch.randint(rows, (batch,))
        out = model(
            static[index] if static is not None else None, temporal[index] if temporal is not None else None
        )
        optimiser.zero_grad()
        out.losses.total.backward()
        optimiser.step()


# -- shapes and losses -------------------------------------------------------------------------------------


def test_forward_shapes_and_losses() -> None:
    torch.manual_seed(0)
    model = HierarchicalVQVAE([[0, 3, 4], [1, 2], [5, 6, 7, 8]])
    static = torch.randn(32, 9)
    out = model(static)
    assert model.n_categories == 3 and model.n_levels == 3
    assert out.static_reconstruction is not None and out.static_reconstruction.shape == (32, 9)
    assert out.temporal_reconstruction is None
    assert out.codes.shape == (32, 3, 3) and out.codes.dtype == torch.long
    # default latent width: derived from each category's size (at least 4)
    assert [tuple(z.shape) for z in out.latents] == [(32, derived_latent_dim(n)) for n in (3, 2, 4)]
    assert out.perplexity.shape == (3, 3)
    losses = out.losses
    torch.testing.assert_close(losses.reconstruction, ((out.static_reconstruction - static) ** 2).mean())
    expected_total = (
        losses.reconstruction
        + losses.commitment
        + model.config.prefix_reconstruction_weight * losses.prefix_reconstruction
    )
    torch.testing.assert_close(losses.total, expected_total)
    # early stopping monitors the reconstruction terms alone
    torch.testing.assert_close(losses.objective, expected_total - losses.commitment)
    assert float(losses.orthogonality) == 0.0  # weight 0: not computed
    for name in ("total", "reconstruction", "commitment", "prefix_reconstruction"):
        assert getattr(losses, name).requires_grad, name


def test_each_category_trains_as_it_would_alone() -> None:
    """A category's share of the loss is its column share times its own standalone loss, commitment
    included: its gradients are the standalone ones scaled by size / D. (An unweighted commitment sum made
    β act as β · D / size on a small category.)"""
    torch.manual_seed(0)
    joint = HierarchicalVQVAE([[0, 1], [2, 3, 4, 5, 6, 7, 8, 9]]).eval()
    alone = HierarchicalVQVAE([[0, 1]]).eval()
    own = {k: v for k, v in joint.state_dict().items() if k.split(".")[1:2] == ["0"]}
    alone.load_state_dict(own, strict=False)
    static = torch.randn(64, 10)
    joint(static).losses.total.backward()
    alone(static[:, :2]).losses.total.backward()
    torch.testing.assert_close(joint.category_loss_weights, torch.tensor([2 / 10, 8 / 10]), rtol=0, atol=1e-7)
    for (name, p_joint), (_, p_alone) in zip(
        joint.static_encoders[0].named_parameters(), alone.static_encoders[0].named_parameters(), strict=True
    ):
        assert p_joint.grad is not None and p_alone.grad is not None
        torch.testing.assert_close(p_joint.grad, 0.2 * p_alone.grad, msg=name)


def test_reconstruction_keeps_the_input_column_order() -> None:
    """With identity-like linear encoders and decoders the reconstruction lands on the right columns."""
    config = VQVAEConfig(codebook_sizes=(2,), hidden_dims=(), latent_dim=2)
    model = HierarchicalVQVAE([[2, 0], [1, 3]], config=config).eval()
    with torch.no_grad():
        for encoder, decoder in zip(model.static_encoders, model.static_decoders, strict=True):
            assert isinstance(encoder, nn.Sequential) and isinstance(decoder, nn.Sequential)
            for layer in (encoder[0], decoder[0]):
                assert isinstance(layer, nn.Linear)
                layer.weight.copy_(torch.eye(2))
                layer.bias.zero_()
    static = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    latents = model.encode(static)
    torch.testing.assert_close(latents[0], torch.tensor([[30.0, 10.0]]))
    torch.testing.assert_close(latents[1], torch.tensor([[20.0, 40.0]]))
    reconstruction, _ = model.decode(latents)
    torch.testing.assert_close(reconstruction, static)


def test_encode_quantize_decode_agree_with_forward_in_eval_mode() -> None:
    torch.manual_seed(0)
    model = HierarchicalVQVAE([[0, 1, 2], [3, 4, 5]], temporal_dim=3)
    static, temporal = torch.randn(64, 6), torch.randn(64, 5, 3)
    model(static, temporal)  # k-means start
    model.eval()
    out = model(static, temporal)
    latents = model.encode(static, temporal)
    quantized = model.quantize(latents)
    assert torch.equal(quantized.codes, out.codes)
    assert torch.equal(model.tokenize(static, temporal), out.codes)
    static_rec, temporal_rec = model.decode_codes(out.codes, time_steps=5)
    assert static_rec is not None and temporal_rec is not None and out.static_reconstruction is not None
    torch.testing.assert_close(static_rec, out.static_reconstruction)
    torch.testing.assert_close(temporal_rec, out.temporal_reconstruction)


def test_tokenize_leaves_codebooks_alone_and_restores_training_mode() -> None:
    torch.manual_seed(0)
    model = HierarchicalVQVAE([[0, 1], [2, 3]]).train()
    static = torch.randn(64, 4)
    model(static)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    tokens = model.tokenize(torch.randn(64, 4))
    assert tokens.shape == (64, 2, 3)
    assert model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_orthogonality_term_has_a_gradient() -> None:
    torch.manual_seed(0)
    model = HierarchicalVQVAE([[0, 1, 2], [3, 4, 5]], config=VQVAEConfig(orthogonality_weight=0.5))
    shared = torch.randn(64, 1)
    static = torch.cat([shared.expand(64, 3), shared.expand(64, 3)], 1) + 0.1 * torch.randn(64, 6)
    out = model(static)
    assert float(out.losses.orthogonality.detach()) > 0.0
    out.losses.orthogonality.backward()
    encoder_grads = [p.grad for p in model.static_encoders.parameters()]
    assert all(g is not None for g in encoder_grads)
    assert any(float(g.abs().sum()) > 0 for g in encoder_grads if g is not None)


# -- learning ----------------------------------------------------------------------------------------------


def test_coarse_tokens_recover_planted_labels() -> None:
    static, labels, categories = _planted_static(768, seed=0)
    torch.manual_seed(0)
    model = HierarchicalVQVAE(categories, config=SMALL)
    _train(model, static, steps=300)
    tokens = model.tokenize(static)
    for category in range(2):
        score = adjusted_rand_score(labels.numpy(), tokens[:, category, 0].numpy())
        assert score >= 0.9, (category, score)


def test_coarse_perplexity_on_spread_out_data() -> None:
    torch.manual_seed(0)
    static = torch.randn(2048, 12)
    model = HierarchicalVQVAE([list(range(6)), list(range(6, 12))])  # default: 24 codes per level
    _train(model, static, steps=150, batch=256)
    model.eval()
    with torch.no_grad():
        out = model(static)
    coarse = out.perplexity[:, 0]
    assert bool((coarse >= 0.5 * 24).all()), coarse
    usage = torch.stack([q.quantizers[0].ema_perplexity() for q in model.residual_quantizers])
    assert bool((usage >= 0.5 * 24).all()), usage


# -- saving and determinism --------------------------------------------------------------------------------


def test_state_dict_round_trip_tokenizes_identically(tmp_path: object) -> None:
    torch.manual_seed(0)
    config = attrs.evolve(SMALL, latent_dim=None, temporal_encoder="conv")
    model = HierarchicalVQVAE([[0, 2, 4, 6], [1, 3, 5]], temporal_dim=2, config=config)
    static, temporal = torch.randn(256, 7), torch.randn(256, 4, 2)
    _train(model, static, temporal, steps=5, batch=64)

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    args = json.loads(json.dumps(model.constructor_args()))  # plain types only
    buffer.seek(0)
    restored = HierarchicalVQVAE.from_constructor_args(args)
    restored.load_state_dict(torch.load(buffer, weights_only=True))

    assert restored.constructor_args() == model.constructor_args()
    assert restored.latent_dims == (derived_latent_dim(4), derived_latent_dim(3), derived_latent_dim(2))
    assert torch.equal(restored.tokenize(static, temporal), model.tokenize(static, temporal))
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, restored.state_dict()[name]), name
    assert "category_columns" in model.state_dict() and "category_offsets" in model.state_dict()


def test_loading_a_state_dict_of_another_partition_fails() -> None:
    state = HierarchicalVQVAE([[0, 1], [2, 3]]).state_dict()
    other = HierarchicalVQVAE([[0, 2], [1, 3]])
    with pytest.raises(ValueError, match="another category partition"):
        other.load_state_dict(state)


def test_training_is_deterministic_given_the_seed() -> None:
    static, _, categories = _planted_static(256, seed=3)
    temporal = torch.randn(256, 6, 3, generator=torch.Generator().manual_seed(4))
    states = []
    for _ in range(2):
        torch.manual_seed(11)
        model = HierarchicalVQVAE(categories, temporal_dim=3, config=SMALL)
        _train(model, static, temporal, steps=20, batch=64)
        states.append((model.state_dict(), model.tokenize(static, temporal)))
    (first, tokens_a), (second, tokens_b) = states
    assert torch.equal(tokens_a, tokens_b)
    for name, tensor in first.items():
        assert torch.equal(tensor, second[name]), name


# -- TEMPORAL ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoder", ["gru", "conv"])
def test_temporal_path_shapes_and_gradients_to_every_parameter(encoder: str) -> None:
    torch.manual_seed(0)
    config = VQVAEConfig(temporal_encoder=encoder, temporal_layers=2, temporal_hidden=16)
    model = HierarchicalVQVAE([[0, 1, 2], [3, 4]], temporal_dim=4, config=config).train()
    static, temporal = torch.randn(48, 5), torch.randn(48, 7, 4)
    out = model(static, temporal)
    assert out.codes.shape == (48, 3, 3)
    assert out.temporal_reconstruction is not None and out.temporal_reconstruction.shape == (48, 7, 4)
    assert model.category_names == ("category_0", "category_1", "temporal")
    assert float(out.losses.temporal_reconstruction.detach()) > 0.0
    out.losses.total.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert bool((parameter.grad != 0).any()), name
    # any length: the same model takes another T
    model.eval()
    other_length = model(static[:4], torch.randn(4, 3, 4)).temporal_reconstruction
    assert other_length is not None and other_length.shape == (4, 3, 4)


def test_temporal_only_model() -> None:
    torch.manual_seed(0)
    model = HierarchicalVQVAE([], temporal_dim=3)
    temporal = torch.randn(32, 6, 3)
    out = model(None, temporal)
    assert out.static_reconstruction is None
    assert out.codes.shape == (32, 1, 3)
    assert float(out.losses.reconstruction) == 0.0


TEMPORAL_GROUPS = [[0, 3], [1, 2, 4]]


def test_temporal_categories_each_get_their_own_tokens() -> None:
    torch.manual_seed(0)
    model = HierarchicalVQVAE(
        [[0, 1], [2]], temporal_dim=5, config=SMALL, temporal_categories=TEMPORAL_GROUPS
    )
    assert model.category_names == ("category_0", "category_1", "temporal_0", "temporal_1")
    assert model.latent_dims[2:] == (derived_latent_dim(2), derived_latent_dim(3))
    # each category's commitment is weighted like its share of its reconstruction term
    torch.testing.assert_close(model.category_loss_weights, torch.tensor([2 / 3, 1 / 3, 2 / 5, 3 / 5]))
    static, temporal = torch.randn(64, 3), torch.randn(64, 6, 5)
    out = model(static, temporal)
    assert out.codes.shape == (64, 4, 3)
    out.losses.total.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and bool((parameter.grad != 0).any()), name

    model.eval()
    changed = temporal.clone()
    changed[:, :, TEMPORAL_GROUPS[1]] += torch.randn(64, 6, 3)
    before, after = model.tokenize(static, temporal), model.tokenize(static, changed)
    assert torch.equal(before[:, :3], after[:, :3])  # temporal_0 reads columns 0 and 3 only
    assert not torch.equal(before[:, 3], after[:, 3])
    codes = before.clone()
    codes[:, 3] = (codes[:, 3] + 1) % 6
    _, original = model.decode_codes(before, time_steps=6)
    _, recoded = model.decode_codes(codes, time_steps=6)
    assert original is not None and recoded is not None
    torch.testing.assert_close(original[:, :, TEMPORAL_GROUPS[0]], recoded[:, :, TEMPORAL_GROUPS[0]])
    assert not torch.allclose(original[:, :, TEMPORAL_GROUPS[1]], recoded[:, :, TEMPORAL_GROUPS[1]])


def test_temporal_partition_is_saved_and_checked_on_load() -> None:
    model = HierarchicalVQVAE([[0]], temporal_dim=5, temporal_categories=TEMPORAL_GROUPS)
    args = json.loads(json.dumps(model.constructor_args()))
    assert args["temporal_categories"] == TEMPORAL_GROUPS
    rebuilt = HierarchicalVQVAE.from_constructor_args(args)
    rebuilt.load_state_dict(model.state_dict())
    assert HierarchicalVQVAE([[0]], temporal_dim=5).constructor_args()["temporal_categories"] == [
        [0, 1, 2, 3, 4]
    ]
    other = HierarchicalVQVAE([[0]], temporal_dim=5, temporal_categories=[[0, 2], [1, 3, 4]])
    with pytest.raises(ValueError, match="another category partition \\('temporal_columns' differs\\)"):
        other.load_state_dict(model.state_dict())


@pytest.mark.parametrize(
    ("temporal_dim", "groups", "message"),
    [
        (3, [[0, 1], [1, 2]], r"columns \[1\] belong to more than one category"),
        (3, [[0], [2]], r"partition the temporal columns 0..1: missing \[1\], out of range \[2\]"),
        (3, [[0, 1, 2, 3]], "partition the temporal columns 0..2: they hold 4 columns"),
        (3, [[0, 1, 2], []], "temporal category 1 has no columns"),
        (None, [[0]], "'temporal_categories' were given without a 'temporal_dim'"),
    ],
)
def test_invalid_temporal_categories(temporal_dim: int | None, groups: list[list[int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HierarchicalVQVAE([[0]], temporal_dim=temporal_dim, temporal_categories=groups)


# -- validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"codebook_sizes": ()}, "at least one level"),
        ({"codebook_sizes": (24, 1)}, "codebook_sizes"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"hidden_dims": (16, 0)}, "hidden_dims"),
        ({"activation": "swish"}, "activation"),
        ({"commitment_weight": -0.1}, "commitment_weight"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"ema_eps": 0.0}, "ema_eps"),
        ({"dead_code_threshold": -1.0}, "dead_code_threshold"),
        ({"kmeans_iterations": -1}, "kmeans_iterations"),
        ({"temporal_encoder": "lstm"}, "temporal_encoder"),
        ({"temporal_hidden": 0}, "temporal_hidden"),
        ({"temporal_kernel_size": 4}, "temporal_kernel_size"),
        ({"orthogonality_weight": -1.0}, "orthogonality_weight"),
    ],
)
def test_invalid_config(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VQVAEConfig(**changes)  # type: ignore[arg-type]


def test_config_dict_round_trip_and_unknown_keys() -> None:
    config = VQVAEConfig(codebook_sizes=[16, 8], hidden_dims=[32])
    assert config.codebook_sizes == (16, 8)
    assert VQVAEConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown VQVAEConfig keys \\['decay'\\]"):
        VQVAEConfig.from_dict({"decay": 0.9})
    with pytest.raises(ValueError, match="categories"):
        HierarchicalVQVAE.from_constructor_args({"temporal_dim": 3})


@pytest.mark.parametrize(
    ("categories", "message"),
    [
        ([[0, 1], [1, 2]], r"columns \[1\] belong to more than one category"),
        ([[0, 1], [3]], r"missing \[2\], out of range \[3\]"),
        ([[0], []], "category 1 has no columns"),
        ([], "at least one static category"),
    ],
)
def test_invalid_categories(categories: list[list[int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HierarchicalVQVAE(categories)


def test_invalid_inputs() -> None:
    model = HierarchicalVQVAE([[0, 1], [2]])
    with pytest.raises(ValueError, match=r"'static' must have shape \(batch, 3\)"):
        model(torch.randn(4, 4))
    with pytest.raises(ValueError, match="no temporal category"):
        model(torch.randn(4, 3), torch.randn(4, 2, 2))
    with pytest.raises(ValueError, match="is required"):
        model(None)
    with pytest.raises(ValueError, match="floating-point"):
        model(torch.zeros(4, 3, dtype=torch.long))
    temporal_model = HierarchicalVQVAE([[0]], temporal_dim=2)
    with pytest.raises(ValueError, match="disagree on the batch size"):
        temporal_model(torch.randn(4, 1), torch.randn(5, 3, 2))
    with pytest.raises(ValueError, match=r"\(batch, time >= 1, 2\)"):
        temporal_model(torch.randn(4, 1), torch.randn(4, 3))
    with pytest.raises(ValueError, match="need 2 latents"):
        temporal_model.quantize([torch.randn(4, 8)])
    with pytest.raises(ValueError, match="codes must have shape"):
        temporal_model.decode_codes(torch.zeros(4, 2, 2, dtype=torch.long), time_steps=3)
