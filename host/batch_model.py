"""What the board will do with a batch: images/s vs batch size, modeled off-board.

One DMA round trip from Python costs a fixed set-up time, measured on a real PYNQ-Z2: the median
batch-one transfer of 5,000 runs, 946.9 us (PYNQ 3.1.1, an hls4ml VivadoAccelerator design whose
own compute is ~1 us; Liu-Zhiheng/hls4ml-pynqz2-vivado2019-2-results @ 5c309e52,
results/raw/fpga_batch_one_run1.json). A batch of b images then takes
    set-up + b / (accelerator images/s, from the planner in the io spec) + b * host us per image
so small batches are set-up bound and large ones accelerator bound. On the board `--benchmark`
measures instead; this model is what it should be compared with.
"""
from __future__ import annotations

BATCH_ONE_OVERHEAD_US = 946.9
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def images_per_s(batch: int, accel_images_s: float, host_us_per_image: float = 0.0,
                 overhead_us: float = BATCH_ONE_OVERHEAD_US) -> float:
    seconds = overhead_us * 1e-6 + batch / accel_images_s + batch * host_us_per_image * 1e-6
    return batch / seconds


def recommended_batch(accel_images_s: float, host_us_per_image: float = 0.0, fraction: float = 0.9,
                      max_batch: int = 1 << 16, overhead_us: float = BATCH_ONE_OVERHEAD_US) -> int:
    """Smallest batch reaching `fraction` of the rate an infinitely large batch would reach."""
    limit = 1.0 / (1.0 / accel_images_s + host_us_per_image * 1e-6)
    for b in range(1, max_batch + 1):
        if images_per_s(b, accel_images_s, host_us_per_image, overhead_us) >= fraction * limit:
            return b
    return max_batch


def table(accel_images_s: float, host_us_per_image: float = 0.0, batches=BATCHES) -> str:
    """Markdown rows: batch size, modeled images/s, share of the accelerator's rate."""
    rows = ["| batch | images/s (modeled) | of the accelerator's rate |", "|--:|--:|--:|"]
    for b in batches:
        r = images_per_s(b, accel_images_s, host_us_per_image)
        rows.append(f"| {b} | {r:,.0f} | {100 * r / accel_images_s:.0f} % |")
    return "\n".join(rows)
