import pytest
import torch

from al4ml.augment import create_augmentation
from al4ml.augment.policy import CohortAugment
from al4ml.config import TrainingConfig, build_config
from al4ml.data import create_dataset
from al4ml.device import Execution, resolve_device, to_input
from al4ml.errors import ConfigError
from al4ml.infer import evaluate, predict
from al4ml.models import create_model
from al4ml.models.stack import StackedClassifier
from al4ml.train import batches, fit

CPU = torch.device("cpu")


def check_training(cfg, device):
    """Whether ``cfg`` trains on ``device`` by replaying CUDA graphs."""
    return Execution.of(device, cfg).cuda_graph


@pytest.fixture(scope="module")
def digits():
    return create_dataset("digits")


def fit_one(model, images, labels, cfg, augmentation="none", seed=0, device=CPU, **kw):
    """Train one model (a cohort of one) on all of ``images``; the model gets the weights."""
    stack = StackedClassifier([model])
    rows = torch.arange(len(images), device=device)[None]
    augment = CohortAugment(
        [create_augmentation(augmentation)], [torch.Generator(device=device).manual_seed(seed)]
    )
    execution = Execution.of(device, cfg)
    res = fit(stack, images.to(device), rows, labels.to(device)[None], cfg, augment, execution, **kw)
    stack.member(0, model)
    return res


def train_small(digits, epochs=8, seed=0, augmentation="none"):
    torch.manual_seed(seed)
    model = create_model("tiny_cnn", 1, 10, width=8)
    labels = digits.hand_over_labels()[:300]
    cfg = TrainingConfig(epochs=epochs, batch_size=32, lr=3e-3)
    return model, fit_one(model, digits.pool_images[:300], labels, cfg, augmentation, seed)


def test_fit_learns_real_digits():
    ds = create_dataset("digits")
    model, res = train_small(ds, epochs=20)
    [metrics] = evaluate(StackedClassifier([model]), ds.test.images, ds.test.labels, Execution.of(CPU))
    assert metrics.accuracy > 0.8 and metrics.auc > 0.95
    assert res.steps == 20 * 10 and res.train_loss[0] < 1.0


def test_fit_is_deterministic_on_cpu():
    a, ra = train_small(create_dataset("digits"), epochs=2, augmentation="trivialaugment")
    b, rb = train_small(create_dataset("digits"), epochs=2, augmentation="trivialaugment")
    assert ra.train_loss == rb.train_loss
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_batches_never_leave_a_single_sample_for_batchnorm():
    model = create_model("tiny_cnn", 1, 2, width=4)
    x = torch.randint(0, 256, (33, 1, 28, 28), dtype=torch.uint8)
    y = torch.arange(33) % 2
    res = fit_one(model, x, y, TrainingConfig(epochs=1, batch_size=32))
    assert res.steps == 2


def test_to_input_normalises_like_the_study():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2)
    assert to_input(x).flatten().tolist() == [-1.0, 1.0]


def test_the_execution_policy_is_decided_once_from_the_config_and_the_device():
    cuda = torch.device("cuda")  # no GPU needed: nothing runs
    everything = TrainingConfig(bf16=True, cuda_graph=True, compile=True)
    on_cpu = Execution.of(CPU, everything)
    assert (on_cpu.bf16, on_cpu.cuda_graph, on_cpu.compile, on_cpu.exact_cohorts) == (False,) * 3 + (True,)
    assert on_cpu.describe() == "cpu fp32 eager"
    on_cuda = Execution.of(cuda, everything)
    assert (on_cuda.bf16, on_cuda.cuda_graph, on_cuda.compile, on_cuda.exact_cohorts) == (True,) * 3 + (
        False,
    )
    assert on_cuda.describe() == "cuda bf16 cuda-graph compiled"
    assert Execution.of(cuda).describe() == "cuda bf16 cuda-graph"  # the training defaults
    plain = Execution.of(cuda, TrainingConfig(bf16=False, cuda_graph=False))
    assert plain.describe() == "cuda fp32 eager"
    with plain.autocast():
        assert not torch.is_autocast_enabled("cuda")
    with on_cpu.autocast():
        assert not torch.is_autocast_enabled("cpu")
    model = on_cpu.place(create_model("tiny_cnn", 1, 2, width=4))
    kernels = [p for p in model.parameters() if p.ndim == 4]
    assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)


def test_auto_device_is_cpu_here_and_cuda_needs_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert resolve_device("auto").type == "cpu"
    from al4ml.errors import ConfigError

    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda")


def test_min_steps_lengthens_rounds_with_few_labels():
    model = create_model("tiny_cnn", 1, 2, width=4)
    x = torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8)
    y = torch.arange(20) % 2
    epochs_seen = []
    res = fit_one(
        model,
        x,
        y,
        TrainingConfig(epochs=3, batch_size=32, min_steps=10),
        on_epoch=lambda e, n: epochs_seen.append(n),
    )
    assert res.steps == 10 and epochs_seen[-1] == 10
    res = fit_one(model, x, y, TrainingConfig(epochs=3, batch_size=8, min_steps=1))
    assert res.steps == 9


def test_equal_batches_share_one_shape_and_plain_batches_use_every_index():
    perm = torch.stack([torch.randperm(23, generator=torch.Generator().manual_seed(s)) for s in range(2)])
    plain = batches(perm, 3, equal=False)
    assert [b.shape for b in plain] == [(2, 8), (2, 8), (2, 7)]
    assert torch.equal(torch.cat(plain, dim=1), perm)
    equal = batches(perm, 3, equal=True)
    assert [b.shape for b in equal] == [(2, 7)] * 3
    assert torch.equal(torch.cat(equal, dim=1), perm[:, :21])


@pytest.mark.parametrize("option", ["cuda_graph", "compile"])
def test_cuda_only_options_leave_cpu_training_unchanged(option):
    ds = create_dataset("digits")
    labels = ds.hand_over_labels()[:100]
    cfg = TrainingConfig(epochs=2, batch_size=32, lr=3e-3)
    results = []
    for on in (False, True):
        torch.manual_seed(0)
        model = create_model("tiny_cnn", 1, 10, width=8)
        res = fit_one(
            model, ds.pool_images[:100], labels, cfg.model_copy(update={option: on}), "trivialaugment"
        )
        results.append((res, model.state_dict()))
    (ra, sa), (rb, sb) = results
    assert ra.train_loss == rb.train_loss and ra.steps == rb.steps == 2 * 4
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_cuda_graph_is_on_by_default_on_cuda_only():
    cfg = TrainingConfig()
    assert check_training(cfg, CPU) is False
    assert check_training(cfg, torch.device("cuda")) is True  # no GPU needed: nothing runs
    assert check_training(TrainingConfig(cuda_graph=False), torch.device("cuda")) is False


def test_a_torch_without_graph_safe_generators_falls_back_unless_asked(monkeypatch):
    # Older torch lacks CUDAGraph.register_generator_state: the default trains eagerly there,
    # an explicit request is a config error naming the option.
    monkeypatch.setattr(torch.cuda, "CUDAGraph", type("CUDAGraph", (), {}))
    cuda = torch.device("cuda")
    assert check_training(TrainingConfig(), cuda) is False
    with pytest.raises(ConfigError, match="training.cuda_graph"):
        check_training(TrainingConfig(cuda_graph=True), cuda)
    tree = {"name": "t", "dataset": {"name": "digits"}}
    assert check_training(build_config(tree, []).training, cuda) is False
    with pytest.raises(ConfigError, match="training.cuda_graph"):
        check_training(build_config(tree, ["training.cuda_graph=true"]).training, cuda)


def test_scheduler_decays_a_tensor_learning_rate_in_place():
    # The graphed step reads Adam's learning rate from one device tensor captured in the graph,
    # so MultiStepLR must update that very tensor rather than replace it.
    model = create_model("tiny_cnn", 1, 2, width=4)
    lr = torch.tensor(1e-3)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 3], gamma=0.1)
    captured = opt.param_groups[0]["lr"]
    seen = []
    for _ in range(4):
        opt.step()
        sched.step()
        seen.append(float(captured))
    assert opt.param_groups[0]["lr"] is captured
    assert seen == pytest.approx([1e-3, 1e-4, 1e-5, 1e-5])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("compiled", [False, True], ids=["graph", "graph+compile"])
def test_cuda_graph_training_matches_eager_training_on_cuda(compiled):
    dev = torch.device("cuda")
    ds = create_dataset("digits")
    x = ds.pool_images[:256].to(dev)
    y = ds.hand_over_labels()[:256].to(dev)
    out = {}
    for graph in (False, True):
        torch.manual_seed(0)
        model = create_model("tiny_cnn", 1, 10, width=8).to(dev)
        cfg = TrainingConfig(epochs=40, batch_size=64, lr=3e-3, cuda_graph=graph, compile=graph and compiled)
        res = fit_one(model, x, y, cfg, device=dev)
        [metrics] = evaluate(StackedClassifier([model]), ds.test.images, ds.test.labels, Execution.of(dev))
        out[graph] = (res, metrics)
    assert out[True][0].steps == out[False][0].steps == 40 * 4
    assert out[True][0].train_loss[0] == pytest.approx(out[False][0].train_loss[0], rel=0.25, abs=0.02)
    assert out[True][1].accuracy > 0.8 and out[False][1].accuracy > 0.8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bf16 autocast applies on CUDA only")
def test_bf16_switch_controls_autocast_on_cuda(digits):
    dev = torch.device("cuda")
    model = create_model("tiny_cnn", 1, 10, width=8).to(dev).eval()
    x = digits.pool_images[:64].to(dev)
    fp32 = predict(StackedClassifier([model]), x, Execution.of(dev, TrainingConfig(bf16=False))).probs[0]
    with torch.no_grad():
        ref = torch.softmax(model(to_input(x)), 1)
    assert torch.allclose(fp32, ref, atol=1e-6)
    bf16 = predict(StackedClassifier([model]), x, Execution.of(dev)).probs[0]
    assert not torch.equal(bf16, fp32) and torch.allclose(bf16, fp32, atol=0.05)
