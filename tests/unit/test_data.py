from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_config, write_medmnist_npz, write_multilabel_npz
from PIL import Image

from al4ml.data import DATASETS, create_dataset, dataset_task
from al4ml.data.medmnist import flags_2d
from al4ml.errors import ConfigError, DataError
from al4ml.oracle import oracle_of


def test_digits_is_real_uint8_28px_with_stratified_fixed_splits():
    ds = create_dataset("digits")
    again = create_dataset("digits")
    assert ds.pool_images.dtype == torch.uint8 and ds.pool_images.shape[1:] == (1, 28, 28)
    assert ds.pool_size + len(ds.val.labels) + len(ds.test.labels) == 1797
    assert torch.equal(ds.test.labels, again.test.labels)
    counts = torch.bincount(ds.test.labels, minlength=10)
    assert counts.min() >= 30  # every digit present in test
    assert ds.info.num_classes == 10 and ds.info.channels == 1
    assert int(ds.pool_images.max()) > 200


def test_pool_labels_leave_the_dataset_once_for_the_oracles():
    ds = create_dataset("digits")
    labels = ds.hand_over_labels()
    assert labels.shape == (ds.pool_size,) and labels.dtype == torch.int64
    with pytest.raises(RuntimeError, match="already handed"):
        ds.hand_over_labels()
    assert ds._pool_labels is None


def test_a_cells_oracle_is_built_from_its_oracle_section():
    cfg = tiny_config(**{"oracle.noise.rate": 0.5, "oracle.cost.per_label": 2.0})
    labels = create_dataset("digits").hand_over_labels()
    oracle = oracle_of(cfg, labels, 10)
    answers = oracle.label(torch.arange(200))
    assert oracle.noisy and 0 < oracle.wrong_answers < 200 and oracle.spent == 400.0
    assert (answers != labels[:200]).sum() == oracle.wrong_answers
    again = oracle_of(cfg, labels, 10).label(torch.arange(200))
    assert torch.equal(answers, again)  # seeded by the cell's seed
    exact = oracle_of(tiny_config(), labels, 10)
    assert torch.equal(exact.label(torch.arange(200)), labels[:200]) and exact.spent == 200.0


def test_medmnist_reads_the_real_breastmnist_file(shared_data):
    ds = create_dataset("medmnist", shared_data, flag="breastmnist")
    assert ds.pool_images.shape == (546, 1, 28, 28) and ds.pool_images.dtype == torch.uint8
    assert (len(ds.val.labels), len(ds.test.labels)) == (78, 156)
    assert torch.bincount(ds.test.labels).tolist() == [42, 114]
    assert ds.info.task == "binary-class" and ds.info.num_classes == 2
    assert ds.info.classes[0] == "malignant"
    assert torch.bincount(ds.hand_over_labels()).tolist() == [147, 399]


def test_medmnist_reads_a_written_rgb_file(tmp_path):
    write_medmnist_npz(tmp_path / "pathmnist.npz", channels=3, classes=9)
    ds = create_dataset("medmnist", tmp_path, flag="pathmnist")
    assert ds.pool_images.shape == (40, 3, 28, 28)
    assert ds.info.num_classes == 9 and ds.info.task == "multi-class"
    raw = np.load(tmp_path / "pathmnist.npz")
    assert np.array_equal(ds.val.images.permute(0, 2, 3, 1).numpy(), raw["val_images"])


def test_medmnist_missing_file_names_the_expected_path(tmp_path):
    with pytest.raises(DataError) as e:
        create_dataset("medmnist", tmp_path, flag="dermamnist")
    assert str(tmp_path / "dermamnist.npz") in str(e.value) and "zenodo" in str(e.value)
    assert "dataset.options.download=true" in str(e.value)


def test_medmnist_defaults_to_medmnists_own_folder(tmp_path, monkeypatch):
    """No root: the file is read where medmnist keeps its files (``~/.medmnist``)."""
    from al4ml.data.medmnist import default_root

    monkeypatch.setattr("al4ml.data.medmnist.default_root", lambda: tmp_path / "home")
    (tmp_path / "home").mkdir()
    write_medmnist_npz(tmp_path / "home" / "breastmnist.npz")
    assert create_dataset("medmnist", None, flag="breastmnist").info.source == str(
        tmp_path / "home" / "breastmnist.npz"
    )
    assert default_root().name == ".medmnist"


def test_medmnist_download_uses_medmnists_own_download(tmp_path, monkeypatch):
    """``download: true`` calls medmnist's download for a missing file (mocked: offline here)
    into ``root`` and reads it; a file already there is not fetched again; a failed download
    is one line naming the file's address."""
    from medmnist.dataset import MedMNIST

    calls = []

    def download(self):
        calls.append((self.flag, self.root))
        write_medmnist_npz(Path(self.root) / f"{self.flag}.npz", channels=3, classes=9)

    monkeypatch.setattr(MedMNIST, "download", download)
    root = tmp_path / "new" / "folder"
    ds = create_dataset("medmnist", root, flag="pathmnist", download=True)
    assert calls == [("pathmnist", str(root.resolve()))]
    assert ds.pool_images.shape == (40, 3, 28, 28)
    create_dataset("medmnist", root, flag="pathmnist", download=True)
    assert len(calls) == 1

    def offline(self):
        raise RuntimeError("\n    Automatic download failed! Please download it manually.\n  1. ...")

    monkeypatch.setattr(MedMNIST, "download", offline)
    with pytest.raises(DataError) as e:
        create_dataset("medmnist", root, flag="dermamnist", download=True)
    message = str(e.value)
    assert "\n" not in message and "Automatic download failed" in message
    assert "dermamnist.npz" in message and "zenodo" in message and "dataset.root" in message


def test_medmnist_unknown_flag_lists_the_2d_flags(tmp_path):
    with pytest.raises(ConfigError, match="unknown MedMNIST flag 'brestmnist'.*breastmnist"):
        create_dataset("medmnist", tmp_path, flag="brestmnist")
    assert len(flags_2d()) == 12 and "chestmnist" in flags_2d()
    assert dataset_task("medmnist", {"flag": "chestmnist"}) == "multi-label"
    assert dataset_task("medmnist", {"flag": "breastmnist"}) == "multi-class"
    assert dataset_task("digits", {}) == "multi-class"


def test_imagefolder_reads_class_folders(tmp_path):
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        for cls in ("adenocarcinoma", "benign"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                img = torch.randint(0, 256, (40, 40, 3), dtype=torch.uint8, generator=g)
                Image.fromarray(img.numpy()).save(folder / f"{i}.png")
    ds = create_dataset("imagefolder", tmp_path, size=32)
    assert ds.pool_images.shape == (8, 3, 32, 32)
    same_size = create_dataset("imagefolder", tmp_path, size=40)
    first = np.array(Image.open(tmp_path / "train" / "adenocarcinoma" / "0.png"))
    assert torch.equal(same_size.pool_images[0], torch.from_numpy(first).permute(2, 0, 1))
    assert ds.info.classes == ("adenocarcinoma", "benign")
    assert ds.test.labels.tolist() == [0, 0, 1, 1]
    gray = create_dataset("imagefolder", tmp_path, size=16, channels=1)
    assert gray.val.images.shape == (4, 1, 16, 16)


def test_imagefolder_unreadable_file_names_it(tmp_path):
    for split in ("train", "val", "test"):
        for name in ("a", "b"):
            (tmp_path / split / name).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / split / name / "ok.png")
    (tmp_path / "train" / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        create_dataset("imagefolder", tmp_path)


def test_imagefolder_missing_tree(tmp_path):
    with pytest.raises(DataError, match="train"):
        create_dataset("imagefolder", tmp_path)


def test_every_dataset_is_described():
    assert {"digits", "medmnist", "imagefolder"} <= set(DATASETS.names())
    assert all(e.description for e in DATASETS.entries())


@pytest.fixture(scope="module")
def lc_tree(tmp_path_factory) -> Path:
    """An LC25000-shaped tree (five class folders, no split), 6 small JPEGs per class."""
    from al4ml.data.imagefolder import write_synthetic_tree

    return write_synthetic_tree(tmp_path_factory.mktemp("lc") / "lc25000", per_class=6, size=96)


def test_an_unsplit_tree_is_split_stratified_seeded_and_disjoint(lc_tree):
    from al4ml.data.imagefolder import LC25000_CLASSES

    ds = create_dataset("imagefolder", lc_tree, size=16, split=[0.5, 0.25, 0.25])
    assert ds.info.classes == LC25000_CLASSES
    n = {"train": len(ds.pool_images), "val": len(ds.val.labels), "test": len(ds.test.labels)}
    assert sum(n.values()) == 30 and n["train"] == 15
    pool_labels = ds.hand_over_labels()
    assert torch.bincount(pool_labels).tolist() == [3] * 5  # stratified
    for split in (ds.val, ds.test):
        assert len(torch.unique(split.labels)) >= 3
    images = torch.cat([ds.pool_images, ds.val.images, ds.test.images]).flatten(1)
    assert len(torch.unique(images, dim=0)) == 30  # disjoint: every image lands once
    again = create_dataset("imagefolder", lc_tree, size=16, split=[0.5, 0.25, 0.25])
    assert torch.equal(again.pool_images, ds.pool_images)
    other = create_dataset("imagefolder", lc_tree, size=16, split=[0.5, 0.25, 0.25], split_seed=1)
    assert not torch.equal(other.pool_images, ds.pool_images)


def test_a_decoded_tree_is_cached_and_a_changed_file_is_decoded_again(lc_tree, tmp_path):
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(lc_tree, tree, ignore=shutil.ignore_patterns(".al4ml-cache"))
    first = create_dataset("imagefolder", tree, size=12, split=[0.6, 0.2, 0.2])
    cache = sorted((tree / ".al4ml-cache").glob("*.npz"))
    assert len(cache) == 1
    cached = create_dataset("imagefolder", tree, size=12, split=[0.6, 0.2, 0.2])
    assert torch.equal(cached.pool_images, first.pool_images)
    assert sorted((tree / ".al4ml-cache").glob("*.npz")) == cache
    victim = tree / "lung_n" / "lung_n1.jpeg"
    Image.new("RGB", (96, 96), (255, 0, 0)).save(victim)
    changed = create_dataset("imagefolder", tree, size=12, split=[0.6, 0.2, 0.2])
    assert len(list((tree / ".al4ml-cache").glob("*.npz"))) == 2
    red = torch.tensor([255, 0, 0], dtype=torch.uint8).view(3, 1, 1).expand(3, 12, 12)
    every = torch.cat([changed.pool_images, changed.val.images, changed.test.images])
    assert any((img.float() - red).abs().max() <= 4 for img in every)  # JPEG, near-exact red


@pytest.mark.parametrize(
    "make, options, message",
    [
        (
            lambda root: (root / "train" / "a").mkdir(parents=True) or (root / "extra").mkdir(),
            {},
            "both split folders",
        ),
        (lambda root: (root / "a").mkdir(parents=True), {}, "set dataset.options.split"),
        (lambda root: (root / "a").mkdir(parents=True), {"split": [0.5, 0.3, 0.3]}, "must sum to 1"),
        (lambda root: (root / "a").mkdir(parents=True), {"split": [0.6, 0.2, 0.2]}, "holds no images"),
    ],
)
def test_bad_trees_are_one_clear_line(tmp_path, make, options, message):
    make(tmp_path)
    with pytest.raises(DataError, match=message):
        create_dataset("imagefolder", tmp_path, **options)


def test_a_class_too_small_to_split_is_named(tmp_path):
    from al4ml.data.imagefolder import write_synthetic_tree

    write_synthetic_tree(tmp_path, classes=("big", "tiny"), per_class=2, size=16)
    with pytest.raises(DataError, match="class 'big' has fewer than 3 images"):
        create_dataset("imagefolder", tmp_path, size=8, split=[0.6, 0.2, 0.2])


def test_chestmnist_loads_through_medmnist_with_its_14_findings(tmp_path):
    import medmnist

    write_multilabel_npz(tmp_path / "chestmnist.npz")
    ds = create_dataset("medmnist", tmp_path, flag="chestmnist")
    assert ds.info.label_task.multi_label and ds.info.num_classes == 14
    assert ds.info.classes[0] == "atelectasis" and ds.info.classes[-1] == "hernia"
    ref = medmnist.ChestMNIST(split="test", root=str(tmp_path), download=False)
    assert torch.equal(ds.test.labels, torch.from_numpy(ref.labels.astype(np.int64)))
    assert ds.test.labels.shape == (40, 14) and ds.pool_images.shape == (80, 1, 28, 28)
    assert ds.hand_over_labels()[torch.tensor([0, 1])].tolist() == [[0] * 14, [1] * 14]


def test_multi_label_labels_must_be_0_1_vectors(tmp_path):
    from al4ml.data.base import ActiveDataset, DatasetInfo, LabeledSplit

    info = DatasetInfo("chest", tuple("abc"), 1, (8, 8), "multi-label, binary-class")
    x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    ok = LabeledSplit(x, torch.zeros(4, 3, dtype=torch.int64))
    with pytest.raises(
        DataError,
        match=r"pool labels have shape \(4,\); a multi-label set with 3 "
        r"classes needs \[N, 3\]",
    ):
        ActiveDataset(info, x, torch.zeros(4, dtype=torch.int64), ok, ok)
    with pytest.raises(DataError, match=r"val label 2 is outside \[0, 2\) for its 3 findings"):
        ActiveDataset(
            info, x, torch.zeros(4, 3, dtype=torch.int64), LabeledSplit(x, torch.full((4, 3), 2)), ok
        )
