import pytest
import torch
import torch.nn.functional as tnf

from al4ml.query.diversity import gradient_embeddings
from al4ml.task import MULTI_CLASS, MULTI_LABEL, Task, kind_of


def test_medmnist_task_strings_map_to_two_kinds():
    assert kind_of("multi-label, binary-class") == MULTI_LABEL
    for task in ("binary-class", "multi-class", "ordinal-regression"):
        assert kind_of(task) == MULTI_CLASS
    assert Task.of("multi-label, binary-class").multi_label
    assert Task().label_shape(10) == () and Task(MULTI_LABEL).label_shape(14) == (14,)


def test_multi_class_loss_and_probs_are_softmax_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 4, generator=g)
    y = torch.randint(0, 4, (3, 5), generator=g)
    task = Task(MULTI_CLASS)
    assert torch.allclose(
        task.loss(logits, y),
        tnf.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(3, 5),
    )
    assert torch.allclose(task.probs(logits), torch.softmax(logits, -1))


def test_multi_label_loss_is_mean_binary_cross_entropy_per_finding():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 14, generator=g)
    y = torch.randint(0, 2, (2, 6, 14), generator=g)
    p = torch.sigmoid(logits)
    expected = -(y * p.log() + (1 - y) * (1 - p).log()).mean(-1)
    task = Task(MULTI_LABEL)
    assert torch.allclose(task.loss(logits, y), expected, atol=1e-6)
    assert torch.allclose(task.probs(logits), p)
    assert torch.equal(task.predicted(torch.tensor([[0.2, 0.5, 0.51]])), torch.tensor([[0.0, 0.0, 1.0]]))


@pytest.mark.parametrize("kind", [MULTI_CLASS, MULTI_LABEL])
def test_gradient_embeddings_are_the_head_gradient_at_the_models_own_answer(kind):
    """BADGE's embedding equals autograd's gradient of the (summed) loss w.r.t. the head
    weights, with the model's own answer as the target: argmax, or every finding above 0.5."""
    task = Task(kind)
    g = torch.Generator().manual_seed(1)
    head = torch.nn.Linear(8, 5)
    h = torch.randn(7, 8, generator=g)
    probs = task.probs(head(h)).detach()
    ours = gradient_embeddings(probs, h, task)
    for i in range(7):
        head.zero_grad()
        target = task.predicted(probs[i])
        target = target if task.multi_label else target.argmax()
        scale = 5 if task.multi_label else 1  # the loss averages over findings; BADGE sums
        (task.loss(head(h[i]), target) * scale).backward()
        assert torch.allclose(ours[i], head.weight.grad.flatten(), atol=1e-5)
