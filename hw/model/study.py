"""The design-space search on Optuna: a multi-objective study (NSGA-II) of fixed-point accuracy and
planned images/s inside the cap, replacing the hand-written grid of hw.model.sweep.

    python -m hw.model.study --trials 8                         # SQLite under build/study/, resumable
    python -m hw.model.study --trials 8 --storage URL           # workers on one or many machines join one study
    python -m hw.model.study --report docs/STUDY.md --plot docs/study_front.png   # from the stored trials

Each trial samples a SqueezeNet point (squeeze ratio, share of 3x3 filters, width, weight bits: the
knobs of hw.model.sweep.SweepPoint), trains it in a child process with the short proxy schedule and
`--val-split` (the search never looks at the test set: the front's finalists are retrained on the
full schedule and only then evaluated on it), and plans it with hw.plan.design_point at the cap
(images/s 0 when it does not fit). Both objectives are maximized.

Kills: the storage (SQLite file by default) keeps every finished trial, so the same command
continues the study. A trial whose worker died is found by Optuna's heartbeat (no beat for
`--grace` seconds), marked failed, and re-run with the same parameters (RetryFailedTrialCallback);
its training resumes from the checkpoints in its work dir, which is keyed by those parameters.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
STUDY_DIR = REPO / "build" / "study"
DEFAULT_NAME = "squeezenet_fmnist"
# the search space: the sweep's knobs, as categories so every trial is a named, reusable point
SQUEEZE_RATIOS = (0.125, 0.25, 0.5, 0.75)
PCT3X3 = (0.125, 0.25, 0.5, 0.75)
WIDTHS = (0.5, 0.75, 1.0, 1.5)
WEIGHT_BITS = (4, 6, 8)
PROXY_FLOAT_EPOCHS, PROXY_QAT_EPOCHS = 3, 1  # the sweep's short schedule
VAL_IMAGES = 5000


class StudyError(RuntimeError):
    """A study that cannot run as asked (storage, arguments), with a message that names the problem."""


def default_storage(name: str, root: Path = STUDY_DIR) -> str:
    return f"sqlite:///{Path(root).resolve() / name}.db"


def storage(url: str, heartbeat: int = 60, grace: int = 180, retries: int = 2):
    """Optuna's RDB storage with a heartbeat: a trial whose worker stops beating is failed and retried."""
    import optuna

    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():  # the heartbeat API is marked experimental in Optuna 4.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=heartbeat, grace_period=grace,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=retries))
    except Exception as e:  # SQLAlchemy's errors for a bad URL or an unreachable server
        raise StudyError(f"cannot open the study storage {url!r}: {type(e).__name__}: {e}") from None


def sample(trial):
    """The trial's point (hw.model.sweep.SweepPoint; hw.model imports TensorFlow, so only after quiet())."""
    from hw.model.sweep import SweepPoint

    return SweepPoint(trial.suggest_categorical("squeeze_ratio", SQUEEZE_RATIOS),
                      trial.suggest_categorical("pct3x3", PCT3X3),
                      trial.suggest_categorical("width", WIDTHS),
                      trial.suggest_categorical("weight_bits", WEIGHT_BITS))


class Objective:
    """Train (proxy schedule, validation split) and plan one point; results cached by point name."""

    def __init__(self, root: Path, float_epochs: int, qat_epochs: int, val_images: int, limit: int = 0,
                 cap: float = 0.8, da: bool = False):
        self.root, self.float_epochs, self.qat_epochs = root, float_epochs, qat_epochs
        self.val_images, self.limit, self.cap, self.da = val_images, limit, cap, da

    def train(self, p) -> dict:
        models = self.root / "models"
        meta_path = models / f"{p.name}.json"
        if not meta_path.exists():
            work = self.root / "work"
            work.mkdir(parents=True, exist_ok=True)
            arch_json = work / f"{p.name}.arch.json"
            arch_json.write_text(json.dumps(p.arch().to_dict()))
            cmd = [sys.executable, "-m", "hw.model.train", "--name", p.name, "--arch-json", str(arch_json),
                   "--weight-bits", str(p.weight_bits), "--float-epochs", str(self.float_epochs),
                   "--qat-epochs", str(self.qat_epochs), "--val-split", str(self.val_images),
                   "--work-dir", str(work), "--out-dir", str(models), "--verbose", "0"]
            if self.limit:
                cmd += ["--limit", str(self.limit)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise StudyError(f"training {p.name} failed: {r.stderr.strip().splitlines()[-1:]}")
        return json.loads(meta_path.read_text())

    def __call__(self, trial) -> tuple[float, float]:
        from hw.plan.design_point import plan_model

        p = sample(trial)
        meta = self.train(p)
        with tempfile.TemporaryDirectory(prefix="study_plan_") as tmp:
            planned = plan_model(self.root / "models" / f"{p.name}.keras", Path(tmp), da=self.da, cap=self.cap)
        acc = float(meta["fixed_point_validation_accuracy"])
        ips = float(planned.get("images_per_s", 0.0)) if planned["fits"] else 0.0
        trial.set_user_attr("point", p.name)
        trial.set_user_attr("macs", int(meta["macs_per_image"]))
        trial.set_user_attr("parameters", int(meta["parameters"]))
        trial.set_user_attr("schedule", f"{meta['float_epochs']}+{meta['qat_epochs']}")
        trial.set_user_attr("validation_images", int(meta["validation_images"]))
        trial.set_user_attr("plan", planned)
        return acc, ips


def open_study(name: str, url: str, seed: int = 0, heartbeat: int = 60, grace: int = 180):
    import optuna

    return optuna.create_study(study_name=name, storage=storage(url, heartbeat, grace), load_if_exists=True,
                               directions=["maximize", "maximize"],
                               sampler=optuna.samplers.NSGAIISampler(seed=seed, population_size=8))


def rows(study) -> list[dict]:
    """Every finished trial, with the Pareto flag (a net that does not fit, images/s 0, is never on the
    front), best accuracy first."""
    import optuna

    front = {t.number for t in study.best_trials}
    out = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        out.append({"trial": t.number, **t.params, "point": t.user_attrs.get("point"),
                    "accuracy": t.values[0], "images_per_s": t.values[1], "pareto": t.number in front and t.values[1] > 0,
                    "macs": t.user_attrs.get("macs"), "schedule": t.user_attrs.get("schedule"),
                    "validation_images": t.user_attrs.get("validation_images", 0),
                    "limit": (t.user_attrs.get("plan") or {}).get("limit", "does not fit")})
    return sorted(out, key=lambda r: (-r["accuracy"], -r["images_per_s"]))


def markdown(study, plot_name: str | None = None) -> str:
    rs = rows(study)
    val = sorted({r["validation_images"] for r in rs})
    lines = ["# The Optuna study", "",
             "Generated from the stored trials by `python -m hw.model.study --report docs/STUDY.md --plot "
             "docs/study_front.png`; the study continues with `python -m hw.model.study --trials N` "
             "(declared in docs/RUNS.md).", ""]
    if plot_name:
        lines += [f"![trials and Pareto front]({plot_name})", ""]
    lines += [f"Study `{study.study_name}`: {len(rs)} finished trials (Optuna NSGA-II; fixed-point accuracy on "
             f"{', '.join(f'{v:,}' for v in val) or 'no'} validation images held out of the training set, proxy "
             "schedule; images/s planned at the cap, modelled). Pareto-optimal trials in bold.", "",
             "| trial | point | SR | pct3x3 | width | w bits | MACs | schedule | accuracy (validation) | images/s | binds |",
             "|--:|---|--:|--:|--:|--:|--:|---|--:|--:|---|"]
    for r in rs:
        b = "**" if r["pareto"] else ""
        lines.append(f"| {r['trial']} | {b}{r['point']}{b} | {r['squeeze_ratio']} | {r['pct3x3']} | {r['width']} | "
                     f"{r['weight_bits']} | {r['macs'] or 0:,} | {r['schedule']} | {b}{100 * r['accuracy']:.2f} %{b} | "
                     f"{r['images_per_s']:,.0f} | {r['limit']} |")
    return "\n".join(lines) + "\n"


def plot(study, path: Path) -> None:
    """Every finished trial and the study's Pareto front, from the stored trials (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = rows(study)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([r["images_per_s"] for r in rs], [100 * r["accuracy"] for r in rs], c="lightgray",
               edgecolors="gray", label="trials")
    front = sorted((r for r in rs if r["pareto"]), key=lambda r: r["images_per_s"])
    ax.plot([r["images_per_s"] for r in front], [100 * r["accuracy"] for r in front], "o-", c="tab:red",
            label="Pareto front")
    for r in front:
        ax.annotate(r["point"], (r["images_per_s"], 100 * r["accuracy"]), fontsize=7, xytext=(4, 2),
                    textcoords="offset points")
    ax.axvline(10000, ls=":", c="k", lw=0.8)
    ax.set_xlabel("images/s, planned at the 80 % cap (modelled; 0 = does not fit)")
    ax.set_ylabel("fixed-point accuracy, validation split (%)")
    ax.set_title(f"Optuna study {study.study_name}: {len(rs)} trials, proxy schedule")
    ax.legend(loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.model.study", description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", default=DEFAULT_NAME, help="study name (and the SQLite file's)")
    ap.add_argument("--dir", type=Path, default=STUDY_DIR, help="trained trial models, checkpoints and the default "
                    "SQLite file (build/study)")
    ap.add_argument("--storage", help="Optuna storage URL shared by workers (default: sqlite:///<dir>/<name>.db)")
    ap.add_argument("--trials", type=int, default=0, help="trials this worker runs (0: only report)")
    ap.add_argument("--seed", type=int, default=0, help="NSGA-II sampler seed")
    ap.add_argument("--float-epochs", type=int, default=PROXY_FLOAT_EPOCHS)
    ap.add_argument("--qat-epochs", type=int, default=PROXY_QAT_EPOCHS)
    ap.add_argument("--val-images", type=int, default=VAL_IMAGES, help="validation split held out of the training set")
    ap.add_argument("--limit", type=int, default=0, help="first N images only (smoke runs)")
    ap.add_argument("--cap", type=float, default=0.8)
    ap.add_argument("--da", action="store_true", help="offer distributed_arithmetic per layer when planning (minutes)")
    ap.add_argument("--heartbeat", type=int, default=60, help="seconds between a running trial's heartbeats")
    ap.add_argument("--grace", type=int, default=180, help="a trial without a heartbeat this long is failed and retried")
    ap.add_argument("--report", type=Path, help="write the trials as a markdown table")
    ap.add_argument("--plot", type=Path, help="write the trials and the Pareto front as a PNG")
    from hw.quiet import add_verbose_flag, quiet_unless_verbose

    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)
    try:
        if a.trials < 0 or a.float_epochs < 0 or a.qat_epochs < 1 or a.val_images < 1 or not 0 < a.cap <= 1:
            raise StudyError("--trials >= 0, --float-epochs >= 0, --qat-epochs >= 1, --val-images >= 1, 0 < --cap <= 1")
        import optuna

        optuna.logging.set_verbosity(optuna.logging.INFO if a.verbose else optuna.logging.WARNING)
        url = a.storage or default_storage(a.name, a.dir)
        study = open_study(a.name, url, a.seed, a.heartbeat, a.grace)
        if a.trials:
            objective = Objective(a.dir / a.name, a.float_epochs, a.qat_epochs, a.val_images, a.limit, a.cap, a.da)
            study.optimize(objective, n_trials=a.trials, catch=(StudyError,))
        done = rows(study)
        print(f"study {a.name} ({url}): {len(done)} finished trials, {sum(r['pareto'] for r in done)} on the Pareto front")
        for r in (x for x in done if x["pareto"]):
            print(f"  trial {r['trial']}: {r['point']}  {100 * r['accuracy']:.2f} % (validation)  "
                  f"{r['images_per_s']:,.0f} images/s")
        if a.report:
            a.report.write_text(markdown(study, a.plot.name if a.plot and a.plot.parent == a.report.parent else None))
        if a.plot:
            plot(study, a.plot)
        return 0
    except StudyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
