"""Datasets: Fashion-MNIST (Debian package), CIFAR-10 python batches, image-folder trees."""
from hw.data.datasets import (  # noqa: F401
    CIFAR10_CLASSES, CIFAR10_DIR, CIFAR10_HINT, DATASETS, Dataset, DatasetError,
    FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, IMAGE_SUFFIXES, INSTALL_HINT, TEST_EVERY,
    load_cifar10, load_dataset, load_fashion_mnist, load_image_folder, read_cifar_batch, read_idx,
)
