from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from conftest import idx_bytes, write_idx_gz
from fmnist_bench.data import DATA_FILES, find_data_dir, load_raw, make_splits, read_idx
from fmnist_bench.errors import DataError


def test_read_idx_roundtrip_and_md5(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    raw = write_idx_gz(tmp_path / "x.gz", images)
    parsed = read_idx(tmp_path / "x.gz", hashlib.md5(raw).hexdigest())
    assert parsed.shape == (2, 28, 28) and np.array_equal(parsed, images)


def test_md5_mismatch_names_both_checksums(tmp_path: Path) -> None:
    write_idx_gz(tmp_path / "x.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataError, match="expected 0{32}") as info:
        read_idx(tmp_path / "x.gz", "0" * 32)
    assert "md5" in str(info.value)


@pytest.mark.parametrize(("content", "message"), [
    pytest.param(b"not gzip at all", "not a gzip file", id="not-gzip"),
    pytest.param(gzip.compress(idx_bytes(np.zeros(50, dtype=np.uint8)))[:-12], "truncated", id="truncated"),
    pytest.param(gzip.compress(b"\x00\x00\x08\x99" + b"\x00" * 8), "IDX magic", id="wrong-magic"),
    pytest.param(gzip.compress(idx_bytes(np.zeros(10, dtype=np.uint8))[:-3]), "header", id="wrong-size"),
])
def test_corrupt_files_give_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "x.gz").write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_idx(tmp_path / "x.gz")


def test_missing_folder_says_how_to_get_the_data(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        find_data_dir(tmp_path / "nowhere")


def test_env_var_is_searched_before_system_folders(tiny_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FMNIST_DATA_DIR", str(tiny_data_dir))
    assert find_data_dir() == tiny_data_dir


def test_load_raw_checks_real_checksums(tiny_data_dir: Path) -> None:
    with pytest.raises(DataError, match="md5"):
        load_raw(tiny_data_dir)  # hand-made files cannot match Fashion-MNIST's checksums
    raw = load_raw(tiny_data_dir, checksums=None)
    assert raw.x_train.shape == (200, 28, 28) and raw.y_test.shape == (50,)


def test_labels_outside_0_to_9_are_rejected(tiny_data_dir: Path) -> None:
    write_idx_gz(tiny_data_dir / "train-labels-idx1-ubyte.gz", np.full(200, 11, dtype=np.uint8))
    with pytest.raises(DataError, match="labels must be 0-9, found 11"):
        load_raw(tiny_data_dir, checksums=None)


def test_images_of_wrong_shape_are_rejected(tiny_data_dir: Path) -> None:
    write_idx_gz(tiny_data_dir / "t10k-images-idx3-ubyte.gz", np.zeros((50, 14, 14), dtype=np.uint8))
    with pytest.raises(DataError, match=r"expected \(n, 28, 28\)"):
        load_raw(tiny_data_dir, checksums=None)


def test_split_is_stratified_deterministic_and_scaled(tiny_data_dir: Path) -> None:
    raw = load_raw(tiny_data_dir, checksums=None)
    a = make_splits(raw, seed=3, val_size=50, train_subset=100, test_subset=20)
    b = make_splits(raw, seed=3, val_size=50, train_subset=100, test_subset=20)
    c = make_splits(raw, seed=4, val_size=50, train_subset=100, test_subset=20)
    assert np.array_equal(a.x_val, b.x_val) and not np.array_equal(a.x_val, c.x_val)
    assert np.bincount(a.y_val).tolist() == [5] * 10 and np.bincount(a.y_train).tolist() == [10] * 10
    assert np.bincount(a.y_test).tolist() == [2] * 10
    assert a.x_train.dtype == np.float32 and 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    train_rows = {r.tobytes() for r in a.x_train}
    assert not any(r.tobytes() in train_rows for r in a.x_val)  # validation never leaks into training


def test_real_data_matches_published_checksums(real_data_available: None) -> None:
    raw = load_raw()
    assert raw.x_train.shape == (60000, 28, 28) and raw.x_test.shape == (10000, 28, 28)
    assert np.bincount(raw.y_train).tolist() == [6000] * 10
    assert len(DATA_FILES) == 4
