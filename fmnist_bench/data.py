"""Fashion-MNIST from the four IDX `.gz` files (locate, verify, parse), and the split every dataset goes through.

No downloads, ever. A user's own dataset (`datasets`) arrives as the same `RawData`, so the split, its seed and the
fingerprint work alike for both. The test set is returned separately and only the final evaluation reads it; search
sees train + validation.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["CLASS_NAMES", "DATA_FILES", "RawData", "Splits", "find_data_dir", "load_raw", "make_splits", "read_idx"]

CLASS_NAMES: tuple[str, ...] = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# md5 of the *decompressed* bytes: Debian re-compresses the .gz files, so their own checksums differ from upstream.
DATA_FILES: dict[str, str] = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
HOW_TO_GET = ("install it with 'apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or put the four "
              "*-ubyte.gz files in a folder and pass --data-dir or set FMNIST_DATA_DIR")
_IDX_MAGIC = {0x0801: 1, 0x0803: 3}  # unsigned-byte IDX files: labels (1-D) and images (3-D)


def _candidate_dirs(explicit: Path | None) -> list[Path]:
    if explicit is not None:
        return [explicit]
    dirs = []
    if os.environ.get("FMNIST_DATA_DIR"):
        dirs.append(Path(os.environ["FMNIST_DATA_DIR"]))
    dirs += [Path.home() / ".keras" / "datasets" / "fashion-mnist", DEBIAN_DIR]
    return dirs


def find_data_dir(explicit: Path | None = None) -> Path:
    """First folder holding all four files, in the order --data-dir, $FMNIST_DATA_DIR, ~/.keras, Debian's.

    Raises:
        DataError: no candidate holds all four files; the message lists where it looked and how to get the data.
    """
    candidates = _candidate_dirs(explicit)
    for folder in candidates:
        if all((folder / f"{name}.gz").is_file() for name in DATA_FILES):
            return folder
    if explicit is not None:
        missing = [f"{name}.gz" for name in DATA_FILES if not (explicit / f"{name}.gz").is_file()]
        raise DataError(f"Fashion-MNIST not found in {explicit} (missing {', '.join(missing)}); {HOW_TO_GET}")
    raise DataError(f"Fashion-MNIST not found in {', '.join(map(str, candidates))}; {HOW_TO_GET}")


def read_idx(path: Path, expected_md5: str | None = None) -> np.ndarray:
    """Parse one gzip-compressed unsigned-byte IDX file into a uint8 array.

    Raises:
        DataError: unreadable, not gzip, truncated, checksum mismatch, wrong magic or a size that disagrees with
            the header.
    """
    try:
        raw = gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        raise DataError(f"{path} does not exist; {HOW_TO_GET}") from None
    except OSError as exc:
        if isinstance(exc, gzip.BadGzipFile):
            raise DataError(f"{path} is not a gzip file; re-install the data ({HOW_TO_GET})") from None
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (EOFError, zlib.error):
        raise DataError(f"{path} is truncated or corrupt; re-install the data ({HOW_TO_GET})") from None
    if expected_md5 is not None:
        found = hashlib.md5(raw).hexdigest()
        if found != expected_md5:
            raise DataError(f"{path} has md5 {found} after decompression, expected {expected_md5}; "
                            f"the file is corrupt or not Fashion-MNIST ({HOW_TO_GET})")
    if len(raw) < 4:
        raise DataError(f"{path} is too short to be an IDX file")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _IDX_MAGIC:
        raise DataError(f"{path} has IDX magic {magic:#010x}, expected 0x00000801 (labels) or 0x00000803 (images)")
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} ends inside its IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path} holds {len(raw) - header} data bytes, but its header {shape} needs {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@dataclasses.dataclass(frozen=True)
class RawData:
    """A dataset as loaded: Fashion-MNIST's files as parsed (uint8 images (n, 28, 28), labels (n,)), or a user's
    arrays (any input shape; uint8 inputs are scaled to [0, 1] like Fashion-MNIST's, others used as given).

    Attributes:
        x_val, y_val: a validation set of the dataset's own; None: `make_splits` holds one out of the training set.
        class_names: one name per class, in label order (labels are 0 .. len(class_names) - 1).
    """

    x_train: np.ndarray  # (n_train, *input_shape)
    y_train: np.ndarray  # (n_train,) integer labels
    x_test: np.ndarray  # (n_test, *input_shape)
    y_test: np.ndarray  # (n_test,)
    x_val: np.ndarray | None = None  # (n_val, *input_shape)
    y_val: np.ndarray | None = None  # (n_val,)
    class_names: tuple[str, ...] = CLASS_NAMES

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def fingerprint(self) -> str:
        """sha256 (first 16 hex digits) of every array's dtype, shape and bytes and of the class names: the same
        data gives the same fingerprint however it was stored."""
        digest = hashlib.sha256("\n".join(self.class_names).encode())
        for array in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            if array is None:
                digest.update(b"none")
                continue
            contiguous = np.ascontiguousarray(array)
            digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
            digest.update(contiguous.tobytes())
        return digest.hexdigest()[:16]


def load_raw(data_dir: Path | None = None, *, checksums: dict[str, str] | None = DATA_FILES) -> RawData:
    """Locate, verify and parse all four files; `checksums=None` skips md5 (for hand-made test files)."""
    folder = find_data_dir(data_dir)

    def read(name: str) -> np.ndarray:
        return read_idx(folder / f"{name}.gz", None if checksums is None else checksums[name])

    raw = RawData(read("train-images-idx3-ubyte"), read("train-labels-idx1-ubyte"),
                  read("t10k-images-idx3-ubyte"), read("t10k-labels-idx1-ubyte"))
    for split, images, labels in (("train", raw.x_train, raw.y_train), ("t10k", raw.x_test, raw.y_test)):
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{split} images have shape {images.shape}, expected (n, 28, 28)")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DataError(f"{split} has {images.shape[0]} images but labels of shape {labels.shape}")
        if labels.size and labels.max() > 9:
            raise DataError(f"{split} labels must be 0-9, found {int(labels.max())}")
    return raw


@dataclasses.dataclass(frozen=True)
class Splits:
    """Model-ready float32 inputs (images in [0, 1]) and int labels; `x_test` is for the final evaluation only."""

    x_train: np.ndarray  # (n_train, *input_shape) float32
    y_train: np.ndarray  # (n_train,) int32
    x_val: np.ndarray  # (n_val, *input_shape) float32
    y_val: np.ndarray  # (n_val,) int32
    x_test: np.ndarray  # (n_test, *input_shape) float32
    y_test: np.ndarray  # (n_test,) int32
    class_names: tuple[str, ...] = CLASS_NAMES


def _stratified_take(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of n items with class proportions as in `labels` (largest-remainder rounding), sorted."""
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n / labels.size
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[i] += 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(picked))


def make_splits(raw: RawData, *, seed: int, val_size: int, train_subset: int | None = None,
                test_subset: int | None = None) -> Splits:
    """Stratified train/validation split of the training set, fixed by `seed` (or the dataset's own validation set,
    when it has one); optional stratified subsets.

    Raises:
        DataError: the sizes asked for do not fit the dataset.
    """
    rng = np.random.default_rng(seed)
    pool = raw.y_train.size
    if raw.x_val is None:
        if not 1 <= val_size <= pool - 2:
            raise DataError(f"a validation set of {val_size} leaves too few of the {pool} training examples; "
                            "pass a smaller --val-size, or give the dataset x_val and y_val")
        val_idx = _stratified_take(raw.y_train, val_size, rng)
    else:
        val_idx = np.arange(0)
    train_idx = np.setdiff1d(np.arange(pool), val_idx)
    if train_subset is not None:
        if train_subset > train_idx.size:
            raise DataError(f"train_subset {train_subset} is more than the {train_idx.size} training examples")
        train_idx = train_idx[_stratified_take(raw.y_train[train_idx], train_subset, rng)]
    test_idx = np.arange(raw.y_test.size)
    if test_subset is not None:
        if test_subset > test_idx.size:
            raise DataError(f"test_subset {test_subset} is more than the {test_idx.size} test examples")
        test_idx = _stratified_take(raw.y_test, test_subset, rng)

    def scale(inputs: np.ndarray) -> np.ndarray:
        if inputs.dtype == np.uint8:  # images as stored: scaled to [0, 1] as Fashion-MNIST's
            return inputs.astype(np.float32) / np.float32(255.0)
        return inputs.astype(np.float32)

    def labels(values: np.ndarray) -> np.ndarray:
        return values.astype(np.int32)

    if raw.x_val is not None and raw.y_val is not None:
        x_val, y_val = scale(raw.x_val), labels(raw.y_val)
    else:
        x_val, y_val = scale(raw.x_train[val_idx]), labels(raw.y_train[val_idx])
    return Splits(scale(raw.x_train[train_idx]), labels(raw.y_train[train_idx]), x_val, y_val,
                  scale(raw.x_test[test_idx]), labels(raw.y_test[test_idx]), raw.class_names)
