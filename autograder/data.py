"""Data sets the TPs share, rebuilt by the grader exactly as the notebooks build them."""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=1)
def _split():
    """scikit-learn's digits split as every notebook splits them (20 % test, stratified, seed 0): numpy arrays
    of raw pixels (0 to 16) and labels, (train, test, train_labels, test_labels)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits, labels = load_digits(return_X_y=True)
    return train_test_split(digits, labels, test_size=0.2, shuffle=True, stratify=labels, random_state=0)


@functools.lru_cache(maxsize=1)
def _digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    train, test, train_labels, test_labels = _split()
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    return (torch.tensor((train - mean) / std, dtype=torch.float64), torch.tensor(train_labels),
            torch.tensor((test - mean) / std, dtype=torch.float64), torch.tensor(test_labels))


def digits_test_set() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits: the notebooks' test split (20 %, stratified, seed 0), standardised with the
    training split's mean and standard deviation, in float64, and its digit labels (int64)."""
    return _digits_split()[2:]


def digits_train_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The notebooks' training split of the digits (the other 80 %), standardised the same way, in float64,
    and its digit labels (int64)."""
    return _digits_split()[:2]


@functools.lru_cache(maxsize=1)
def _digit_images() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    train, test, train_labels, test_labels = _split()
    # one scale for every pixel (not TP 10's per pixel one): a shifted image stays an image of the same scale
    return (torch.tensor(train / 16 - 0.3, dtype=torch.float64).reshape(-1, 1, 8, 8), torch.tensor(train_labels),
            torch.tensor(test / 16 - 0.3, dtype=torch.float64).reshape(-1, 1, 8, 8), torch.tensor(test_labels))


def digit_images_test_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The digits' test split (the one of `digits_test_set`) as images `(N, 1, 8, 8)`, every pixel scaled by
    1/16 and centred by −0.3, in float64, and its labels (int64): the images a CNN reads."""
    return _digit_images()[2:]


def digit_images_train_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The training split as images `(N, 1, 8, 8)`, scaled as `digit_images_test_set`'s, and its labels."""
    return _digit_images()[:2]


def twin_sets(labels: torch.Tensor, count: int, generator: torch.Generator,
              size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """TP 14's task, « Retrouver le jumeau »: `count` sets of `size` images drawn from a split whose digit labels
    are `labels`, as the notebook draws them (same calls, same generator). Each set shows `size // 2` distinct
    digits, each twice as two different images; image 0 is the query, the others, shuffled, are the candidates.
    Returns the sets as indices into the split, `(count, size)`, and the position of the query's twin (1 to
    `size − 1`)."""
    pairs = size // 2
    members = [torch.nonzero(labels == c).flatten() for c in range(10)]
    sizes = torch.tensor([len(m) for m in members])
    table = torch.stack([torch.cat([m, m.new_zeros(int(sizes.max()) - len(m))]) for m in members])
    digits = torch.rand(count, 10, generator=generator).argsort(dim=1)[:, :pairs]
    n = sizes[digits]
    first = (torch.rand(count, pairs, generator=generator) * n).long()
    second = (first + 1 + (torch.rand(count, pairs, generator=generator) * (n - 1)).long()) % n
    first, second = table[digits, first], table[digits, second]
    others = torch.cat([second[:, :1], first[:, 1:], second[:, 1:]], dim=1)
    order = torch.rand(count, size - 1, generator=generator).argsort(dim=1)
    sets = torch.cat([first[:, :1], others.gather(1, order)], dim=1)
    return sets, (order == 0).long().argmax(dim=1) + 1


TWIN_TEST_SEED, TWIN_TEST_COUNT = 14, 2000


@functools.lru_cache(maxsize=1)
def twin_test_sets() -> tuple[torch.Tensor, torch.Tensor]:
    """TP 14's 2,000 test sets (seed 14) from the digits' test split, as `digits_test_set`'s images `(2000, 8, 64)`
    in float64, and the position of each query's twin."""
    inputs, labels = digits_test_set()
    sets, twins = twin_sets(labels, TWIN_TEST_COUNT, torch.Generator().manual_seed(TWIN_TEST_SEED))
    return inputs[sets], twins
