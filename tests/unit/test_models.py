import pytest
import torch

from al4ml.models import MODELS, create_model


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("channels", [1, 3])
def test_logits_and_embeddings(name, channels):
    model = create_model(name, channels, 7)
    x = torch.randn(4, channels, 28, 28)
    model.eval()
    logits, emb = model.forward_with_embedding(x)
    assert logits.shape == (4, 7) and emb.shape == (4, model.embed_dim)
    assert torch.allclose(model(x), logits) and torch.allclose(model.embed(x), emb)


def test_resnet18_has_the_cifar_stem():
    net = create_model("resnet18", 3, 10).features
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, torch.nn.Identity)
    # 28 px in, 4x4 feature map before pooling (three stride-2 stages).
    feats = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.layer1, net.layer2, net.layer3, net.layer4)(
        torch.randn(1, 3, 28, 28)
    )
    assert feats.shape[-2:] == (4, 4)


def test_dropout_makes_train_mode_stochastic():
    model = create_model("tiny_cnn", 1, 3, dropout=0.5)
    model.train()
    x = torch.randn(8, 1, 28, 28)
    assert not torch.equal(model(x), model(x))


def _models(name: str, k: int, channels: int = 3, classes: int = 5) -> list:
    out = []
    for i in range(k):
        torch.manual_seed(i)
        out.append(create_model(name, channels, classes))
    return out


@pytest.mark.parametrize("name", MODELS.names())
def test_a_stack_computes_each_member_exactly(name):
    from al4ml.models.stack import StackedClassifier

    members = _models(name, 3)
    stack = StackedClassifier(members)
    x = torch.randn(3, 6, 3, 28, 28)
    for mode in ("train", "eval"):
        for m in (*members, stack):
            getattr(m, mode)()
        logits, emb = stack.forward_with_embedding(stack.pack(x))
        for k, m in enumerate(members):
            ref_logits, ref_emb = m.forward_with_embedding(x[k])
            assert torch.allclose(logits[k], ref_logits, atol=1e-5), (name, mode, k)
            assert torch.allclose(emb[k], ref_emb, atol=1e-5)
    shared = stack.forward(stack.shared(x[0]))
    assert torch.allclose(shared[2], members[2](x[0]), atol=1e-5)


def test_stacked_training_keeps_batchnorm_statistics_and_adam_states_per_model():
    """Three models, three different data streams: after a few Adam steps each stacked member
    equals the model trained alone (a shared BatchNorm or optimiser state would mix them)."""
    from al4ml.models.stack import StackedClassifier

    data = [torch.randn(8, 1, 28, 28) * s + s for s in (0.5, 1.0, 3.0)]
    target = [torch.arange(8) % 2, torch.zeros(8, dtype=torch.long), torch.ones(8, dtype=torch.long)]
    alone = _models("tiny_cnn", 3, channels=1, classes=2)
    stack = StackedClassifier(_models("tiny_cnn", 3, channels=1, classes=2))
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in alone]
    opt = torch.optim.Adam(stack.parameters(), lr=1e-2)
    for _ in range(4):
        for m, o, x, y in zip(alone, opts, data, target, strict=True):
            o.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            o.step()
        opt.zero_grad()
        logits = stack(stack.pack(torch.stack(data)))
        torch.stack(
            [torch.nn.functional.cross_entropy(logits[k], target[k]) for k in range(3)]
        ).sum().backward()
        opt.step()
    for k, m in enumerate(alone):
        member = stack.member_state(k)
        for key, value in m.state_dict().items():
            assert torch.allclose(member[key].float(), value.float(), atol=1e-4), (k, key)
    means = [stack.member_state(k)["features.0.1.running_mean"] for k in range(3)]
    assert not torch.allclose(means[0], means[2], atol=0.1)  # the streams differ, so do the stats
    # Adam's moments of model 2's first conv sit in its own slice of the stacked tensor.
    conv = stack.net.features[0][0].weight
    exp_avg = opt.state[conv]["exp_avg"]
    ref = opts[2].state[alone[2].features[0][0].weight]["exp_avg"]
    c = ref.shape[0]
    assert torch.allclose(exp_avg[2 * c : 3 * c], ref, atol=1e-5)


@pytest.mark.parametrize("name", ["tiny_cnn", "resnet18"])
def test_an_exact_stack_trains_each_member_bit_for_bit_as_alone(name):
    """Apart, a member's weights after Adam steps equal its lone twin's exactly (stacked, a
    grouped convolution's sums differ in the last bits: close, not equal)."""
    from al4ml.models.stack import StackedClassifier

    data = [torch.randn(8, 1, 28, 28) * s + s for s in (0.5, 1.0, 3.0)]
    target = [torch.arange(8) % 2, torch.zeros(8, dtype=torch.long), torch.ones(8, dtype=torch.long)]

    def train(stack: StackedClassifier, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> None:
        opt = torch.optim.Adam(stack.parameters(), lr=1e-2)
        stack.train()
        for _ in range(3):
            opt.zero_grad()
            logits = stack(stack.pack(torch.stack(xs)))
            torch.stack(
                [torch.nn.functional.cross_entropy(logits[k], ys[k]) for k in range(len(xs))]
            ).sum().backward()
            opt.step()

    cohort = StackedClassifier(_models(name, 3, channels=1, classes=2), exact=True)
    train(cohort, data, target)
    for k, model in enumerate(_models(name, 3, channels=1, classes=2)):
        alone = StackedClassifier([model])
        train(alone, [data[k]], [target[k]])
        member = cohort.member_state(k)
        for key, value in alone.member_state(0).items():
            assert torch.equal(member[key], value), (name, k, key)


def test_an_exact_stack_runs_layers_that_cannot_stack():
    from al4ml.models.classifier import Classifier
    from al4ml.models.stack import StackedClassifier

    members = [
        Classifier(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LayerNorm(784)), 784, 2) for _ in range(2)
    ]
    stack = StackedClassifier(members, exact=True)
    x = torch.randn(2, 4, 1, 28, 28)
    logits = stack(stack.pack(x))
    for k, m in enumerate(members):
        assert torch.equal(logits[k], m(x[k]))


class DenseBlock(torch.nn.Module):
    """DenseNet's pattern: a convolution's output concatenated to its input along channels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.cat([x, self.conv(x)], dim=1)).flatten(1)


def layer_norm_net() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),
        torch.nn.Flatten(),
        torch.nn.LayerNorm(4 * 26 * 26),
        torch.nn.Linear(4 * 26 * 26, 8),
    )


@pytest.mark.parametrize(
    "features, dim, reason",
    [
        (DenseBlock, 4, "mixes the members' channel groups"),
        (layer_norm_net, 8, "cannot stack a LayerNorm layer"),
    ],
)
def test_an_architecture_that_does_not_stack_runs_apart_with_one_warning(features, dim, reason):
    """Stacked as it is, a channel-concatenating trunk mixes the members' channel groups and a
    LayerNorm cannot be lowered: both are found before they train, said in one warning, and
    the cohort's members then compute exactly what they compute alone."""
    from al4ml.errors import Al4mlWarning
    from al4ml.models.classifier import Classifier
    from al4ml.models.stack import StackedClassifier, stack_refusal

    members = []
    for seed in range(2):
        torch.manual_seed(seed)
        members.append(Classifier(features(), dim, 2))
    with pytest.warns(Al4mlWarning, match=reason):
        assert reason in stack_refusal(members[0])
    stack = StackedClassifier(members)
    assert stack.apart is not None
    x = torch.randn(2, 4, 1, 28, 28)
    logits = stack(stack.pack(x))
    for k, m in enumerate(members):
        assert torch.equal(logits[k], m(x[k]))


@pytest.mark.parametrize("name", ["tiny_cnn", "simple_cnn", "resnet18"])
def test_the_registered_models_stack(name):
    from al4ml.models.stack import StackedClassifier, stack_refusal

    model = create_model(name, 3, 4)
    assert stack_refusal(model) is None
    assert StackedClassifier([model, create_model(name, 3, 4)]).apart is None


def test_simple_cnn_has_about_12m_parameters_at_224_px_and_takes_any_size():
    model = create_model("simple_cnn", 3, 5)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 11_000_000 <= trainable <= 13_000_000
    model.eval()
    for size in (224, 28, 8):
        logits, emb = model.forward_with_embedding(torch.randn(2, 3, size, size))
        assert logits.shape == (2, 5) and emb.shape == (2, 400)


def test_a_timm_model_loads_a_local_checkpoint_but_not_a_head_of_another_size(tmp_path):
    timm = pytest.importorskip("timm", reason="timm is not installed (pip install -e '.[timm]')")
    torch.manual_seed(3)
    source = timm.create_model("resnet18", pretrained=False, num_classes=10, in_chans=3)
    torch.save(source.state_dict(), tmp_path / "resnet18.pt")
    model = create_model("timm", 3, 4, arch="resnet18", weights=str(tmp_path / "resnet18.pt"))
    mine = model.features.state_dict()
    assert torch.equal(mine["conv1.weight"], source.state_dict()["conv1.weight"])
    assert torch.equal(mine["layer4.1.bn2.running_var"], source.state_dict()["layer4.1.bn2.running_var"])
    assert model.head.out_features == 4 and model.embed_dim == 512
    fresh = create_model("timm", 3, 4, arch="resnet18")
    assert not torch.equal(fresh.features.state_dict()["conv1.weight"], mine["conv1.weight"])


def test_timm_names_and_bad_checkpoints_are_one_line(tmp_path):
    pytest.importorskip("timm", reason="timm is not installed (pip install -e '.[timm]')")
    from al4ml.config import build_config
    from al4ml.errors import ConfigError, DataError

    assert build_config({}, ["model.name=timm:resnet18"]).model.options == {"arch": "resnet18"}
    with pytest.raises(ConfigError, match="timm has no model 'resnet1800'"):
        create_model("timm", 3, 2, arch="resnet1800")
    (tmp_path / "other.pt").write_bytes(b"junk")
    with pytest.raises(DataError, match="cannot read .*other.pt"):
        create_model("timm", 3, 2, weights=str(tmp_path / "other.pt"))
    torch.save({"unrelated.weight": torch.zeros(2)}, tmp_path / "unrelated.pt")
    with pytest.raises(DataError, match="holds no weight of this model"):
        create_model("timm", 3, 2, weights=str(tmp_path / "unrelated.pt"))


def test_on_cuda_an_unstackable_model_is_planned_as_cohorts_of_one_before_anything_trains(
    monkeypatch, tmp_path
):
    """``al4ml grid`` sizes cohorts on CUDA with a probe that trains; a model that does not
    stack is planned as cohorts of one with its one warning, and nothing is probed (the device
    is mocked to CUDA: anything that ran on it would fail here)."""
    from helpers import write_grid

    import al4ml.device
    from al4ml.errors import Al4mlWarning
    from al4ml.grid import load_grid, plan_cohorts
    from al4ml.grid.versions import CellStatus
    from al4ml.models import MODELS, register_model
    from al4ml.models.classifier import Classifier

    @register_model("test_dense_block")
    def test_dense_block(in_channels: int, num_classes: int, width: int = 8) -> Classifier:
        """DenseNet's channel concatenation (does not stack); ``width`` is not used."""
        return Classifier(DenseBlock(), 4, num_classes)

    try:
        monkeypatch.setattr(al4ml.device, "resolve_device", lambda name: torch.device("cuda"))
        grid = load_grid(write_grid(tmp_path, {"seed": [0, 1, 2]}, **{"model.name": "test_dense_block"}))
        with pytest.warns(Al4mlWarning, match="DenseBlock does not stack") as caught:
            cohorts = plan_cohorts([CellStatus(c, "new") for c in grid.cells], None, workers=1)
        assert [len(c) for c in cohorts] == [1, 1, 1]
        assert len([w for w in caught if issubclass(w.category, Al4mlWarning)]) == 1
    finally:
        MODELS._entries.pop("test_dense_block")
