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
    feats = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.layer1, net.layer2, net.layer3,
                                net.layer4)(torch.randn(1, 3, 28, 28))
    assert feats.shape[-2:] == (4, 4)


def test_dropout_makes_train_mode_stochastic():
    model = create_model("tiny_cnn", 1, 3, dropout=0.5)
    model.train()
    x = torch.randn(8, 1, 28, 28)
    assert not torch.equal(model(x), model(x))
