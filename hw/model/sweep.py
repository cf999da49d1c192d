"""The microarchitecture sweep (issue 12): SqueezeNet's design space trained with one short schedule.

Iandola et al. (2016, section 5) vary the squeeze ratio SR (squeeze filters / expand filters) and
the share of 3x3 filters in the expand layers, pct3x3. This grid varies both around the deployed
network (SR 0.25, pct3x3 0.5), plus the width (expand filters x multiplier) and the weight bits,
so that each row differs from the baseline in one knob. Every net gets the same short schedule,
so rows compare with each other, not with the fully trained deployed model.

    python -m hw.model.sweep --list          # the grid
    python -m hw.model.sweep --run           # train what is missing (resumable, sequential)

Each net lands in hw/models/sweep/<name>.keras + .json (the fixed-point accuracy there is the HGQ2
model on all 10,000 test images, which the C simulation matches bit for bit).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


SWEEP_DIR = Path(__file__).resolve().parents[1] / "models" / "sweep"
WORK_DIR = Path("build/train_sweep")
#: The short schedule shared by every row (epochs of float pre-training, epochs of QAT).
SHORT_FLOAT_EPOCHS = 3
SHORT_QAT_EPOCHS = 1
#: Expand filters (1x1 + 3x3) of the deployed network's Fire modules, at width 1.
BASE_EXPAND = {"fire2": 64, "fire3": 64, "fire4": 96, "fire5": 96}


@dataclass(frozen=True)
class SweepPoint:
    squeeze_ratio: float
    pct3x3: float
    width: float = 1.0
    weight_bits: int = 8

    @property
    def name(self) -> str:
        return (f"sr{round(self.squeeze_ratio * 1000):03d}_p{round(self.pct3x3 * 1000):03d}"
                f"_w{round(self.width * 100):03d}_b{self.weight_bits}")

    def arch(self):
        """ArchSpec of this point: same stage layout as the deployed network, other filter counts."""
        from hw.model.squeezenet import ArchSpec, FireSpec  # Keras: imported on use, after hw.quiet

        def fire(name):
            e = max(2, round(BASE_EXPAND[name] * self.width))
            e3 = round(e * self.pct3x3)
            return FireSpec(name, max(1, round(e * self.squeeze_ratio)), e - e3, e3)
        return ArchSpec(conv1_filters=max(8, round(32 * self.width)),
                        stages=("pool", fire("fire2"), fire("fire3"), "pool", fire("fire4"), fire("fire5")))

    def float_key(self) -> str:
        """Nets that differ only in weight bits share one float pre-training."""
        return SweepPoint(self.squeeze_ratio, self.pct3x3, self.width, 8).name


BASELINE = SweepPoint(0.25, 0.5)
#: Ordered so the cheapest and most telling rows finish first.
GRID = (
    BASELINE,
    SweepPoint(0.25, 0.5, weight_bits=4),
    SweepPoint(0.25, 0.5, weight_bits=6),
    SweepPoint(0.25, 0.25),
    SweepPoint(0.25, 0.125),
    SweepPoint(0.25, 0.75),
    SweepPoint(0.25, 0.5, width=0.5),
    SweepPoint(0.125, 0.5),
    SweepPoint(0.5, 0.5),
    SweepPoint(0.25, 0.25, width=1.5),
)


def result_path(p: SweepPoint) -> Path:
    return SWEEP_DIR / f"{p.name}.json"


def train_point(p: SweepPoint) -> None:
    """Train one point in a child process (TensorFlow state does not leak between nets)."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    arch_json = WORK_DIR / f"{p.name}.arch.json"
    arch_json.write_text(json.dumps(p.arch().to_dict()))
    cmd = [sys.executable, "-m", "hw.model.train", "--name", p.name, "--arch-json", str(arch_json),
           "--weight-bits", str(p.weight_bits), "--float-epochs", str(SHORT_FLOAT_EPOCHS),
           "--qat-epochs", str(SHORT_QAT_EPOCHS), "--work-dir", str(WORK_DIR), "--out-dir", str(SWEEP_DIR),
           "--verbose", "2"]
    shared_float = WORK_DIR / p.float_key() / "float.keras"
    if p.float_key() != p.name and shared_float.exists():
        cmd += ["--float-from", str(shared_float)]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="print the grid and which rows are trained")
    ap.add_argument("--run", action="store_true", help="train every row that has no result yet")
    from hw.quiet import add_verbose_flag, quiet_unless_verbose

    add_verbose_flag(ap)
    args = ap.parse_args(argv)
    quiet_unless_verbose(args)
    for p in GRID:
        done = result_path(p).exists()
        if args.run and not done:
            train_point(p)
        elif args.list or not args.run:
            stages = [s for s in p.arch().stages if not isinstance(s, str)]
            print(f"{p.name}: {'trained' if done else 'missing'}  "
                  + " ".join(f"{s.name}={s.squeeze}/{s.expand1x1}/{s.expand3x3}" for s in stages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
