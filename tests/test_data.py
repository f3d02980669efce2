"""hadas.data: dataset loading from fake on-disk datasets, splits, and the on-device loader."""
from __future__ import annotations

import functools
import hashlib
import http.server
import pickle
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits as sklearn_digits

from hadas.config import DataConfig
from hadas.data import DataSplits, ImageTensors, TensorLoader, load_data
from hadas.errors import ConfigError, DataError

tv_datasets = pytest.importorskip("torchvision.datasets")


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_data(DataConfig(dataset="digits"))


def _rows(data: ImageTensors) -> list[bytes]:
    """Each image with its label as one comparable byte string."""
    flat = data.images[:, 0].reshape(len(data), -1).numpy()
    return [bytes([int(y)]) + x.tobytes() for x, y in zip(flat, data.labels.numpy(), strict=True)]


# --- digits --------------------------------------------------------------------------------------

def test_digits_shapes_dtypes_and_sizes(digits: DataSplits) -> None:
    assert digits.name == "digits" and digits.n_classes == 10
    assert (len(digits.train), len(digits.val), len(digits.test)) == (1258, 180, 359)
    for part in (digits.train, digits.val, digits.test):
        assert part.images.dtype == torch.uint8 and part.images.shape[1:] == (3, 8, 8)
        assert part.labels.dtype == torch.int64 and part.labels.shape == (len(part),)
        assert torch.equal(part.images[:, 0], part.images[:, 1])
        assert torch.equal(part.images[:, 0], part.images[:, 2])
    assert digits.train.images.max() == 255 and digits.train.images.min() == 0


def test_digits_splits_partition_the_whole_set(digits: DataSplits) -> None:
    bunch = sklearn_digits()
    gray = torch.from_numpy(np.rint(bunch.images * 255 / 16).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    expected = sorted(_rows(ImageTensors(gray.expand(-1, 3, -1, -1), labels)))
    got = sorted(_rows(digits.train) + _rows(digits.val) + _rows(digits.test))
    assert got == expected  # same multiset: nothing lost, nothing in two splits


def test_digits_split_is_stratified(digits: DataSplits) -> None:
    overall = np.bincount(sklearn_digits().target, minlength=10) / 1797
    for part in (digits.train, digits.val, digits.test):
        counts = np.bincount(part.labels.numpy(), minlength=10)
        assert (counts > 0).all()
        assert np.abs(counts / len(part) - overall).max() < 0.01


def test_digits_split_depends_only_on_the_seed(digits: DataSplits) -> None:
    again = load_data(DataConfig(dataset="digits"))
    for name in ("train", "val", "test"):
        assert torch.equal(again.split(name).images, digits.split(name).images)
        assert torch.equal(again.split(name).labels, digits.split(name).labels)
    other = load_data(DataConfig(dataset="digits", split_seed=1))
    assert sorted(_rows(other.test)) != sorted(_rows(digits.test))


def test_digits_stats_come_from_train(digits: DataSplits) -> None:
    pixels = digits.train.images.double() / 255
    assert digits.mean == pytest.approx(pixels.mean(dim=(0, 2, 3)).tolist(), abs=1e-9)
    assert digits.std == pytest.approx(pixels.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-9)


def test_digits_options_and_errors() -> None:
    no_val = load_data(DataConfig(dataset="digits", val_fraction=0.0, image_size=16))
    assert no_val.val is None and len(no_val.train) + len(no_val.test) == 1797
    assert no_val.train.images.shape[1:] == (3, 16, 16)
    with pytest.raises(DataError, match=r"data\.val_fraction"):
        no_val.split("val")
    with pytest.raises(ValueError, match="unknown split"):
        no_val.split("holdout")
    with pytest.raises(ConfigError) as err:
        load_data(DataConfig(dataset="digits", test_fraction=0.0))
    assert err.value.field == "data.test_fraction"
    with pytest.raises(ConfigError) as err:
        load_data(DataConfig(dataset="digits", n_classes=5))
    assert err.value.field == "data.n_classes"


def test_image_tensors_checks_dtypes() -> None:
    with pytest.raises(ValueError, match="uint8"):
        ImageTensors(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="int64"):
        ImageTensors(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))


def test_import_leaves_torchvision_and_pil_unloaded() -> None:
    code = "import sys, hadas.data; print(sorted({'torchvision', 'PIL'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- CIFAR ---------------------------------------------------------------------------------------

def _cifar_images(labels: np.ndarray) -> np.ndarray:
    """CIFAR rows (R, G, B planes): red = label, green = 128, blue = (7 row + col) % 256."""
    planes = np.empty((len(labels), 3, 32, 32), dtype=np.uint8)
    planes[:, 0] = labels[:, None, None]
    planes[:, 1] = 128
    planes[:, 2] = (7 * np.arange(32)[:, None] + np.arange(32)) % 256
    return planes.reshape(len(labels), -1)


def _write_fake_cifar(folder: Path, reader: type, n_classes: int, n_train: int,
                      n_test: int) -> None:
    """Write a small CIFAR in torchvision's pickle format (file names from `reader`)."""
    folder.mkdir(parents=True)
    label_key = "labels" if n_classes == 10 else "fine_labels"

    def batch(labels: np.ndarray) -> bytes:
        return pickle.dumps({"data": _cifar_images(labels), label_key: labels.tolist()})

    names = [name for name, _ in reader.train_list]
    parts = np.array_split(np.arange(n_train) % n_classes, len(names))
    for name, part in zip(names, parts, strict=True):
        (folder / name).write_bytes(batch(part))
    (folder / reader.test_list[0][0]).write_bytes(batch(np.arange(n_test)[::-1] % n_classes))
    (folder / reader.meta["filename"]).write_bytes(
        pickle.dumps({reader.meta["key"]: [f"class{i}" for i in range(n_classes)]}))


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _patch_md5s(monkeypatch: pytest.MonkeyPatch, reader: type, folder: Path) -> None:
    for attr in ("train_list", "test_list"):
        monkeypatch.setattr(reader, attr, [[n, _md5(folder / n)] for n, _ in getattr(reader, attr)])
    meta_md5 = _md5(folder / reader.meta["filename"])
    monkeypatch.setattr(reader, "meta", {**reader.meta, "md5": meta_md5})


def _check_cifar_tensors(part: ImageTensors) -> None:
    assert part.images.dtype == torch.uint8 and part.images.shape[1:] == (3, 32, 32)
    assert part.labels.dtype == torch.int64
    assert torch.equal(part.images[:, 0, 5, 9].long(), part.labels)
    assert (part.images[:, 1] == 128).all()
    pattern = torch.from_numpy((7 * np.arange(32)[:, None] + np.arange(32)) % 256).to(torch.uint8)
    assert (part.images[:, 2] == pattern).all()  # rows and columns not swapped


def test_cifar10_loads_from_torchvision_files(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_fake_cifar(folder, tv_datasets.CIFAR10, 10, n_train=20, n_test=6)
    _patch_md5s(monkeypatch, tv_datasets.CIFAR10, folder)
    splits = load_data(DataConfig(dataset="cifar10", root=str(tmp_path), val_fraction=0.5))
    assert (splits.name, splits.n_classes) == ("cifar10", 10)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (10, 10, 6)
    for part in (splits.train, splits.val, splits.test):
        _check_cifar_tensors(part)
    assert sorted(splits.val.labels.tolist()) == list(range(10))  # stratified: one of each class
    assert splits.test.labels.tolist() == [5, 4, 3, 2, 1, 0]  # official test split, in file order
    assert splits.mean[1] == pytest.approx(128 / 255)


def test_cifar100_loads_fine_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cifar-100-python"
    _write_fake_cifar(folder, tv_datasets.CIFAR100, 100, n_train=200, n_test=10)
    _patch_md5s(monkeypatch, tv_datasets.CIFAR100, folder)
    splits = load_data(DataConfig(dataset="cifar100", root=str(tmp_path), val_fraction=0.0,
                                  image_size=16))
    assert splits.n_classes == 100 and splits.val is None
    assert (len(splits.train), len(splits.test)) == (200, 10)
    assert splits.train.images.shape[1:] == (3, 16, 16)
    assert sorted(splits.train.labels.tolist()) == sorted(list(range(100)) * 2)
    assert torch.equal(splits.train.images[:, 0, 3, 3].long(), splits.train.labels)


@pytest.mark.parametrize(("dataset", "folder"), [("cifar10", "cifar-10-batches-py"),
                                                 ("cifar100", "cifar-100-python")])
def test_cifar_absent_without_download_names_path_and_flag(tmp_path: Path, dataset: str,
                                                            folder: str) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        load_data(DataConfig(dataset=dataset, root=str(root)))
    message = str(err.value)
    assert str(root) in message and "data.download: true" in message and folder in message
    assert not root.exists()


def test_cifar_corrupted_files_are_reported(tmp_path: Path) -> None:
    _write_fake_cifar(tmp_path / "cifar-10-batches-py", tv_datasets.CIFAR10, 10, 20, 6)
    with pytest.raises(DataError, match="incomplete or corrupted"):  # real md5s do not match
        load_data(DataConfig(dataset="cifar10", root=str(tmp_path)))


@pytest.fixture
def loopback_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a fresh folder: (base URL, folder)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_port}", served
        server.shutdown()
        thread.join()


def test_cifar_download_fetches_extracts_and_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   loopback_server: tuple[str, Path]) -> None:
    # torchvision's downloader needs an HTTP response (file:// URLs lack a length), hence the server
    reader = tv_datasets.CIFAR10
    source = tmp_path / "source"
    _write_fake_cifar(source / reader.base_folder, reader, 10, n_train=20, n_test=6)
    _patch_md5s(monkeypatch, reader, source / reader.base_folder)
    base_url, served = loopback_server
    archive = served / "cifar.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / reader.base_folder, arcname=reader.base_folder)
    monkeypatch.setattr(reader, "url", f"{base_url}/cifar.tar.gz")
    monkeypatch.setattr(reader, "tgz_md5", _md5(archive))
    root = tmp_path / "downloads"
    splits = load_data(DataConfig(dataset="cifar10", root=str(root), download=True,
                                  val_fraction=0.0))
    assert (root / reader.filename).is_file()
    assert (root / reader.base_folder / "data_batch_5").is_file()
    assert (len(splits.train), len(splits.test)) == (20, 6)
    _check_cifar_tensors(splits.train)


def test_cifar_without_torchvision_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(DataError, match=r"pip install hadas\[vision\]"):
        load_data(DataConfig(dataset="cifar10"))


# --- Tiny-ImageNet and image folders -------------------------------------------------------------

WNIDS = ["n03000003", "n01000001", "n02000002"]  # listed unsorted; labels follow sorted order


def _solid(path: Path, value: int, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, 255 - value, 60)).save(path)


def _write_tiny_imagenet(base: Path) -> None:
    """3 wnids x 4 train images and 2 val images each; the red level encodes the wnid."""
    base.mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    lines = []
    for wnid in WNIDS:
        red = 40 + 80 * sorted(WNIDS).index(wnid)
        for i in range(4):
            _solid(base / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", red, (64, 64))
        for i in range(2):
            name = f"val_{wnid}_{i}.JPEG"
            _solid(base / "val" / "images" / name, red, (64, 64))
            lines.append(f"{name}\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def _red_label(part: ImageTensors) -> torch.Tensor:
    return ((part.images[:, 0].float().mean(dim=(1, 2)) - 40) / 80).round().long()


def test_tinyimagenet_loads_train_and_annotated_val(tmp_path: Path) -> None:
    _write_tiny_imagenet(tmp_path / "tiny-imagenet-200")
    splits = load_data(DataConfig(dataset="tinyimagenet", root=str(tmp_path), val_fraction=0.25))
    assert (splits.name, splits.n_classes) == ("tinyimagenet", 3)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (9, 3, 6)
    for part in (splits.train, splits.val, splits.test):
        assert part.images.dtype == torch.uint8 and part.images.shape[1:] == (3, 64, 64)
        assert torch.equal(_red_label(part), part.labels)  # label i is the i-th sorted wnid
    assert sorted(splits.val.labels.tolist()) == [0, 1, 2]
    assert splits.test.labels.tolist() == [2, 2, 0, 0, 1, 1]  # annotation order


def test_tinyimagenet_root_may_be_the_folder_and_resizes(tmp_path: Path) -> None:
    base = tmp_path / "tiny-imagenet-200"
    _write_tiny_imagenet(base)
    splits = load_data(DataConfig(dataset="tinyimagenet", root=str(base), val_fraction=0.0,
                                  image_size=32))
    assert splits.val is None and splits.train.images.shape == (12, 3, 32, 32)
    assert torch.equal(_red_label(splits.test), splits.test.labels)


def test_tinyimagenet_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_data(DataConfig(dataset="tinyimagenet", root=str(tmp_path)))
    assert str(tmp_path / "tiny-imagenet-200" / "wnids.txt") in str(err.value)
    assert "tiny-imagenet-200.zip" in str(err.value)
    base = tmp_path / "tiny-imagenet-200"
    _write_tiny_imagenet(base)
    with pytest.raises(ConfigError) as cfg_err:  # the config default of 200 classes
        load_data(DataConfig(dataset="tinyimagenet", root=str(tmp_path), val_fraction=0.25,
                             n_classes=200))
    assert cfg_err.value.field == "data.n_classes" and "3 classes" in str(cfg_err.value)
    (base / "val" / "images" / f"val_{WNIDS[0]}_1.JPEG").unlink()
    with pytest.raises(DataError, match=f"val_{WNIDS[0]}_1.JPEG"):
        load_data(DataConfig(dataset="tinyimagenet", root=str(tmp_path), val_fraction=0.0))


def _write_image_folder(root: Path) -> None:
    """Classes 'cat' (red 40) and 'dog' (red 120): 3 train and 2 test PNGs of 20x12 each."""
    for red, name in ((40, "cat"), (120, "dog")):
        for i in range(3):
            _solid(root / "train" / name / f"{i}.png", red, (20, 12))
        for i in range(2):
            _solid(root / "test" / name / f"{i}.PNG", red, (20, 12))
    (root / "train" / "cat" / "notes.txt").write_text("not an image")


def test_imagefolder_loads_and_resizes(tmp_path: Path) -> None:
    _write_image_folder(tmp_path)
    splits = load_data(DataConfig(dataset="imagefolder", root=str(tmp_path), image_size=16,
                                  val_fraction=0.34, n_classes=2))
    assert (splits.name, splits.n_classes) == ("imagefolder", 2)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (4, 2, 4)
    for part in (splits.train, splits.val, splits.test):
        assert part.images.shape[1:] == (3, 16, 16)
        assert torch.equal(_red_label(part), part.labels)  # cat -> 0, dog -> 1
    assert splits.test.labels.tolist() == [0, 0, 1, 1]


def test_imagefolder_errors(tmp_path: Path) -> None:
    _write_image_folder(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_data(DataConfig(dataset="imagefolder", root=str(tmp_path)))
    assert err.value.field == "data.image_size"
    _solid(tmp_path / "test" / "bird" / "0.png", 200, (20, 12))
    with pytest.raises(DataError, match="bird"):
        load_data(DataConfig(dataset="imagefolder", root=str(tmp_path), image_size=16))
    with pytest.raises(DataError, match=str(tmp_path / "elsewhere" / "train")):
        load_data(DataConfig(dataset="imagefolder", root=str(tmp_path / "elsewhere"),
                             image_size=16))


# --- TensorLoader --------------------------------------------------------------------------------

def _loader(data: ImageTensors, stats: DataSplits, **kw: object) -> TensorLoader:
    return TensorLoader(data, kw.pop("batch_size", 100), mean=stats.mean, std=stats.std, **kw)


def _batches(loader: TensorLoader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(loader)


def _denormalised(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """The uint8 pixels that normalised to `x`."""
    raw = x * torch.tensor(std).view(1, 3, 1, 1) * 255 + torch.tensor(mean).view(1, 3, 1, 1) * 255
    return raw.round().to(torch.uint8)


def test_loader_batches_shapes_and_order(digits: DataSplits) -> None:
    loader = _loader(digits.train, digits)
    batches = _batches(loader)
    assert len(loader) == len(batches) == 13  # ceil(1258 / 100)
    assert [len(y) for _, y in batches] == [100] * 12 + [58]
    for x, y in batches:
        assert x.dtype == torch.float32 and x.shape[1:] == (3, 8, 8) and y.dtype == torch.int64
    assert torch.equal(torch.cat([y for _, y in batches]), digits.train.labels)
    dropped = _loader(digits.train, digits, drop_last=True)
    assert len(dropped) == len(_batches(dropped)) == 12
    assert all(len(y) == 100 for _, y in dropped)


def test_loader_normalises_with_train_stats(digits: DataSplits) -> None:
    x = torch.cat([x for x, _ in _loader(digits.train, digits)])
    assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert (x.std(dim=(0, 2, 3), unbiased=False) - 1).abs().max() < 1e-4
    assert torch.equal(_denormalised(x, digits.mean, digits.std), digits.train.images)


def test_loader_shuffle_is_a_function_of_seed_and_epoch(digits: DataSplits) -> None:
    def labels(seed: int, epoch: int) -> torch.Tensor:
        loader = _loader(digits.train, digits, shuffle=True, seed=seed)
        loader.set_epoch(epoch)
        return torch.cat([y for _, y in loader])

    first = labels(0, 3)
    assert torch.equal(first, labels(0, 3))
    assert not torch.equal(first, labels(0, 4))
    assert not torch.equal(first, labels(1, 3))
    assert not torch.equal(first, digits.train.labels)
    assert torch.equal(first.sort().values, digits.train.labels.sort().values)  # a permutation


def _candidates(image: torch.Tensor) -> dict[tuple[int, int, bool], torch.Tensor]:
    """Every crop of the zero-padded image (padding size // 8) by (dy, dx, flipped)."""
    _, h, w = image.shape
    ph, pw = h // 8, w // 8
    padded = torch.nn.functional.pad(image, (pw, pw, ph, ph))
    crops = {(dy, dx, False): padded[:, dy:dy + h, dx:dx + w]
             for dy in range(2 * ph + 1) for dx in range(2 * pw + 1)}
    return crops | {(dy, dx, True): c.flip(-1) for (dy, dx, _), c in crops.items()}


def test_loader_augments_by_crop_and_flip() -> None:
    gen = torch.Generator().manual_seed(0)
    data = ImageTensors(torch.randint(1, 256, (64, 3, 16, 24), generator=gen, dtype=torch.uint8),
                        torch.arange(64))
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    loader = TensorLoader(data, 16, mean=mean, std=std, augment=True, seed=7)
    batches = _batches(loader)
    x = torch.cat([b for b, _ in batches])
    assert x.shape == (64, 3, 16, 24)
    assert torch.equal(torch.cat([y for _, y in batches]), data.labels)
    raw = _denormalised(x, mean, std)
    drawn = []
    for image, original in zip(raw, data.images, strict=True):
        matches = [key for key, c in _candidates(original).items() if torch.equal(c, image)]
        assert len(matches) == 1  # pixels are nonzero, so the crop and flip are identified
        drawn.append(matches[0])
    dys, dxs, flips = (set(values) for values in zip(*drawn, strict=True))
    assert dys == set(range(5)) and dxs == set(range(7))  # padding 16 // 8 and 24 // 8
    assert flips == {False, True}
    again = torch.cat([b for b, _ in loader])
    assert torch.equal(again, x)
    loader.set_epoch(1)
    assert not torch.equal(torch.cat([b for b, _ in loader]), x)


def test_loader_rejects_empty_batches(digits: DataSplits) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        _loader(digits.train, digits, batch_size=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_loader_batches_are_the_same_on_cuda(digits: DataSplits) -> None:
    kw = dict(shuffle=True, augment=True, seed=3)
    cpu = _batches(_loader(digits.train, digits, **kw))
    gpu = _batches(_loader(digits.train, digits, device="cuda", **kw))
    assert gpu[0][0].device.type == "cuda" and gpu[0][1].device.type == "cuda"
    for (xc, yc), (xg, yg) in zip(cpu, gpu, strict=True):
        assert torch.equal(yc, yg.cpu())
        assert torch.allclose(xc, xg.cpu(), atol=1e-6)
