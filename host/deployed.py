"""The deployed design: the committed model and hls4ml YAML that the bitstream flow, the host, the
planner, the scripts and the tests default to.

Why one module: the name used to be repeated in a dozen defaults, so changing the deployed model
meant hunting them down. It lives in host/ and stays import-light (standard library only) because
the board's Python imports it through host.driver, and the board path imports nothing from hw/.
"""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The fastest committed net, chosen by the co-design sweep as the >= 10,000 images/s design; with the
# planner validated on public builds (docs/PLANNER.md) it plans at 6,522 images/s inside the 80 % cap
# and is the only committed net that fits it (modelled).
DEPLOYED_MODEL = "squeezenet_fmnist_fast"
# The other committed full-schedule designs the co-design front shows (scripts/sweep_report.py):
PREVIOUS_MODEL = "squeezenet_fmnist"  # deployed until squeezenet_fmnist_fast replaced it; 4.3x slower
ACCURATE_MODEL = "squeezenet_fmnist_accurate"  # SR 0.5 on the full schedule (does not fit the XC7Z020 as modelled)
SR750_MODEL = "squeezenet_fmnist_sr750"  # SR 0.75 on the full schedule, 94.02 % (does not fit as modelled)
# Every committed full-schedule design of the front, as (short label, model name), in order of size.
FRONT_DESIGNS = (("deployed", DEPLOYED_MODEL), ("previous", PREVIOUS_MODEL), ("accurate", ACCURATE_MODEL),
                 ("sr750", SR750_MODEL))


def model_path(name: str = DEPLOYED_MODEL) -> Path:
    """hw/models/<name>.keras, the committed HGQ2 model."""
    return REPO / "hw" / "models" / f"{name}.keras"


def config_path(name: str = DEPLOYED_MODEL) -> Path:
    """hls_config/<name>.yml, the model's hls4ml configuration."""
    return REPO / "hls_config" / f"{name}.yml"
