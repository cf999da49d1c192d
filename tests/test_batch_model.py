"""host/batch_model.py: the board's modeled throughput vs batch size, checked by hand."""
from __future__ import annotations

import pytest

from host import batch_model as M


def test_by_hand():
    # 1 image: 946.9 us set-up + 1/3280 s = 1251.8 us -> 798.8 images/s
    assert M.images_per_s(1, 3280.0) == pytest.approx(1 / (946.9e-6 + 1 / 3280), rel=1e-12)
    assert M.images_per_s(1, 3280.0) == pytest.approx(798.8, abs=0.1)
    # large batches approach the accelerator's rate; host cost adds per image
    assert M.images_per_s(10**6, 3280.0) == pytest.approx(3280.0, rel=1e-3)
    assert M.images_per_s(10**6, 3280.0, host_us_per_image=100) == pytest.approx(1 / (1 / 3280 + 100e-6), rel=1e-3)


def test_recommended_batch_is_the_smallest_at_90_percent():
    # 946.9 / (946.9 + b * 304.9) <= 0.1  <=>  b >= 27.95
    assert M.recommended_batch(3280.0) == 28
    assert M.images_per_s(27, 3280.0) < 0.9 * 3280 <= M.images_per_s(28, 3280.0)
    assert M.recommended_batch(3280.0, max_batch=8) == 8


def test_table_rows():
    t = M.table(3280.0, batches=(1, 28))
    assert "| 1 | 799 | 24 % |" in t and "| 28 | 2,953 | 90 % |" in t
