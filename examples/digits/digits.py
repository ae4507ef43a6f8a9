"""scikit-learn's handwritten digits (1,797 8x8 images, 10 classes; shipped with scikit-learn, no download) as the
arrays fmnist-bench reads: fixed, stratified train / validation / test sets."""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def load():
    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")  # (1797, 8, 8), pixel values 0-16 scaled to [0, 1]
    x_rest, x_test, y_rest, y_test = train_test_split(images, digits.target, test_size=360, stratify=digits.target,
                                                      random_state=0)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=360, stratify=y_rest, random_state=0)
    return {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val, "x_test": x_test,
            "y_test": y_test, "class_names": [str(digit) for digit in range(10)]}
