"""Quantization-aware training of the SqueezeNet (CLI: python -m hw.model.train --help).

Why two phases: HGQ2 training costs ~2x a float step on these 2 cores, so the network is first
trained in float with batch norm (fast convergence), the batch norms are folded into the convs,
and the HGQ2 model starting from those weights is fine-tuned for a few epochs. Activation integer
bits are then calibrated on the whole training set (hgq.utils.trace_minmax) so that the WRAP
quantizers never wrap on in-distribution data, and the fixed-point test accuracy is measured on the
exact model that is saved. Each phase checkpoints every epoch and resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from hw.quant import quantizer_width

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"  # hw/models, where the committed models live
SEED = 20161124  # SqueezeNet's arXiv v1 date, fixed for reproducibility


def set_seeds(seed: int = SEED) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def to_float(x_uint8: np.ndarray) -> np.ndarray:
    """The arithmetic contract: the network's input value is byte / 256."""
    return x_uint8.astype(np.float32) / 256.0


def augmented_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = SEED,
                      teacher_logits: np.ndarray | None = None):
    """Random horizontal flip and +-2 pixel translation (zero fill), in tf.data for speed.

    teacher_logits (N, 2, teachers, classes), from hw.model.distill.teacher_logits: each image then
    comes as {"image", "teacher_logits"} with the logits of the view drawn (plain or flipped)."""
    import tensorflow as tf

    from hw.model.distill import TEACHER_LOGITS

    h, w = x.shape[1:3]

    def shift(img):
        img = tf.pad(img, [[2, 2], [2, 2], [0, 0]])
        return tf.image.random_crop(img, (h, w, x.shape[3]), seed=seed)

    def aug(img, label):
        return shift(tf.image.random_flip_left_right(img, seed=seed)), label

    def aug_kd(img, logits, label):
        flip = tf.random.uniform((), seed=seed) < 0.5
        img = tf.cond(flip, lambda: tf.image.flip_left_right(img), lambda: img)
        return {"image": shift(img), TEACHER_LOGITS: tf.where(flip, logits[1], logits[0])}, label

    if teacher_logits is None:
        ds = tf.data.Dataset.from_tensor_slices((to_float(x), y.astype(np.int32)))
        fn = aug
    else:
        ds = tf.data.Dataset.from_tensor_slices((to_float(x), teacher_logits, y.astype(np.int32)))
        fn = aug_kd
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).map(fn, num_parallel_calls=2)
    return ds.batch(batch_size, drop_remainder=True).prefetch(2)


def validation_split(ds, n: int, seed: int):
    """Hold out n training images (seeded permutation) as the evaluation set, so that recipe choices
    (distillation temperature and weight) are tuned without the test set ever being looked at."""
    from hw.model import ModelError

    if not 0 < n < len(ds.x_train):
        raise ModelError(f"--val-split {n} must be between 1 and {len(ds.x_train) - 1} (training images)")
    perm = np.random.default_rng(seed).permutation(len(ds.x_train))
    val, rest = perm[:n], perm[n:]
    return type(ds)(ds.x_train[rest], ds.y_train[rest], ds.x_train[val], ds.y_train[val], ds.classes)


def cosine_lr(peak: float, steps: int, warmup: int = 0):
    import keras

    return keras.optimizers.schedules.CosineDecay(peak * (0.1 if warmup else 1.0), steps, alpha=0.01,
                                                  warmup_target=peak if warmup else None, warmup_steps=warmup)


class _EpochCheckpoint:
    """Save model (with optimizer state) and the epoch count after each epoch, so a run can resume."""

    def __init__(self, path: Path):
        self.path = path
        self.state = path.with_suffix(".epoch.json")

    def done_epochs(self) -> int:
        return json.loads(self.state.read_text())["epochs"] if self.state.exists() and self.path.exists() else 0

    def callback(self, target=None):
        """target: the model to save when fit() trains a wrapper of it (the distillation student)."""
        import keras

        ck = self

        class CB(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                (target or self.model).save(ck.path)
                ck.state.write_text(json.dumps({"epochs": epoch + 1, "logs": {k: float(v) for k, v in (logs or {}).items()}}))

        return CB()


def fold_batchnorm(float_model, quant_model) -> None:
    """Copy float weights into the quantized model, folding each conv's batch norm into it."""
    for ql in quant_model.layers:
        if type(ql).__name__ != "QConv2D":
            continue
        fl = float_model.get_layer(ql.name)
        kernel, bias = fl.get_weights()
        try:
            bn = float_model.get_layer(f"{ql.name}_bn")
        except ValueError:
            bn = None
        if bn is not None:
            gamma, beta, mean, var = bn.get_weights()
            scale = gamma / np.sqrt(var + bn.epsilon)
            kernel = kernel * scale
            bias = (bias - mean) * scale + beta
        ql.kernel.assign(kernel)
        ql.bias.assign(bias)


def evaluate(model, x_uint8: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    logits = model.predict(to_float(x_uint8), batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def weight_bits(model) -> dict:
    """Per-layer weight bits (kernel + bias) at the quantizers' widths: an upper bound of what
    hls4ml stores (it may narrow a layer whose values need fewer bits; hw/plan/ counts that)."""
    out = {}
    for l in model.layers:
        if type(l).__name__ != "QConv2D":
            continue
        kb, bb = quantizer_width(l.kq), quantizer_width(l.bq)
        out[l.name] = {"kernel": int(np.prod(l.kernel.shape)) * kb, "bias": int(np.prod(l.bias.shape)) * bb,
                       "kernel_bits": kb, "bias_bits": bb}
    return out


def read_arch_json(path) -> dict:
    """The ArchSpec dict in an --arch-json file: a bare ArchSpec, or a committed model's metadata
    JSON (hw/models/<name>.json), whose "architecture" is that model's ArchSpec, so a committed
    model's architecture is retrained from the repository alone."""
    d = json.loads(Path(path).read_text())
    return d.get("architecture", d)


def train(args) -> dict:
    import keras

    from hw.data import load_dataset
    from hw.model import ModelError
    from hw.model import ArchSpec, QuantSpec, build_squeezenet, conv_macs

    set_seeds(args.seed)
    ds = load_dataset(args.dataset)
    if args.limit:
        ds = type(ds)(ds.x_train[:args.limit], ds.y_train[:args.limit], ds.x_test[:args.limit], ds.y_test[:args.limit], ds.classes)
    split = "test"
    if args.val_split:
        ds, split = validation_split(ds, args.val_split, args.seed), "validation"
    quant = QuantSpec(weight_bits=args.weight_bits, act_bits=args.act_bits)
    spec = ArchSpec(variant=args.variant, input_shape=ds.x_train.shape[1:], num_classes=len(ds.classes), quant=quant)
    if args.arch_json:
        spec = ArchSpec.from_dict({**read_arch_json(args.arch_json), "variant": args.variant, "quant": asdict(quant)})
    work = Path(args.work_dir) / args.name
    work.mkdir(parents=True, exist_ok=True)
    steps_per_epoch = len(ds.x_train) // args.batch_size
    t0 = time.time()
    history = {"float": [], "qat": []}
    teachers = None
    if args.teacher:
        from hw.model.distill import Distiller, load_teachers, teacher_logits

        load_teachers(args.teacher)  # a missing or bad teacher file fails here, by name
        teachers = teacher_logits(args.teacher, ds.x_train, Path(args.work_dir) / "kd_cache")

    def trainable(model):
        """What fit() trains: the model itself, or the model distilled from the cached teacher logits."""
        if teachers is None:
            return model
        return Distiller(model, None, temperature=args.kd_temperature, alpha=args.kd_alpha)

    def float_optimizer():
        return keras.optimizers.AdamW(cosine_lr(args.lr, args.float_epochs * steps_per_epoch, steps_per_epoch),
                                      weight_decay=args.weight_decay)

    # Phase 1: float with batch norm.
    ck = _EpochCheckpoint(Path(args.float_from) if args.float_from else work / "float.keras")
    done = ck.done_epochs()
    if args.float_from and done < args.float_epochs:
        raise ModelError(f"{args.float_from}: float checkpoint has {done} epochs, --float-epochs asks for {args.float_epochs}")
    if done:
        fmodel = keras.models.load_model(ck.path, compile=teachers is None)
        print(f"[float] resuming after epoch {done}", flush=True)
    else:
        fmodel = build_squeezenet(spec, quantized=False, name=args.name)
    fit_model = fmodel
    if teachers is not None or not done:
        fit_model = trainable(fmodel)
        opt = float_optimizer()
        if done:  # a distilled student is saved without its optimizer: continue the LR schedule
            opt.iterations.assign(done * steps_per_epoch)
        fit_model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"], jit_compile=True)
    if done < args.float_epochs:
        h = fit_model.fit(augmented_dataset(ds.x_train, ds.y_train, args.batch_size, args.seed, teachers), epochs=args.float_epochs,
                       initial_epoch=done, validation_data=(to_float(ds.x_test), ds.y_test), validation_freq=5,
                       callbacks=[ck.callback(fmodel)], verbose=args.verbose)
        history["float"] = {k: [float(v) for v in vs] for k, vs in h.history.items()}
    float_acc = evaluate(fmodel, ds.x_test, ds.y_test)
    print(f"[float] {split} accuracy {float_acc:.4f}", flush=True)

    # Phase 2: HGQ2 quantization-aware fine-tune from the folded float weights.
    from hgq.config import LayerConfigScope
    from hgq.utils import trace_minmax

    def compile_qat(qmodel):
        qmodel = trainable(qmodel)
        qmodel.compile(optimizer=keras.optimizers.Adam(cosine_lr(args.qat_lr, max(1, args.qat_epochs) * steps_per_epoch)),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"], jit_compile=True)
        return qmodel

    qck = _EpochCheckpoint(work / "qat.keras")
    qdone = qck.done_epochs()
    if qdone:
        from hw.model import load_model

        qmodel = load_model(qck.path)
        qfit = compile_qat(qmodel)  # the optimizer state is not restored: the LR schedule restarts
        print(f"[qat] resuming after epoch {qdone}", flush=True)
    else:
        with LayerConfigScope(enable_ebops=False):
            qmodel = build_squeezenet(spec, quantized=True, name=args.name)
        fold_batchnorm(fmodel, qmodel)
        trace_minmax(qmodel, to_float(ds.x_train[:10000]), batch_size=1000)
        qfit = compile_qat(qmodel)
        print(f"[qat] fixed-point {split} accuracy right after folding: {evaluate(qmodel, ds.x_test, ds.y_test):.4f}", flush=True)
    if qdone < args.qat_epochs:
        h = qfit.fit(augmented_dataset(ds.x_train, ds.y_train, args.batch_size, args.seed + 1, teachers), epochs=args.qat_epochs,
                     initial_epoch=qdone, callbacks=[qck.callback(qmodel)], verbose=args.verbose)
        history["qat"] = {k: [float(v) for v in vs] for k, vs in h.history.items()}
    # Calibrate activation integer bits on the whole training set, then measure the saved model.
    trace_minmax(qmodel, to_float(ds.x_train), batch_size=1000)
    fixed_acc = evaluate(qmodel, ds.x_test, ds.y_test)
    print(f"[qat] fixed-point {split} accuracy {fixed_acc:.4f}", flush=True)

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / f"{args.name}.keras"
    qmodel.save(model_path)
    wb = weight_bits(qmodel)
    total_bits = sum(v["kernel"] + v["bias"] for v in wb.values())
    meta = {
        "name": args.name,
        "dataset": args.dataset,
        "architecture": spec.to_dict(),
        "parameters": int(sum(int(np.prod(l.kernel.shape)) + int(np.prod(l.bias.shape))
                              for l in qmodel.layers if hasattr(l, "kernel"))),
        "weight_bits_total": int(total_bits),
        "macs_per_image": int(sum(conv_macs(qmodel).values())),
        "weight_bits_per_layer": wb,
        f"float_{split}_accuracy": float_acc,
        f"fixed_point_{split}_accuracy": fixed_acc,
        f"{split}_images": int(len(ds.y_test)),
        "float_epochs": args.float_epochs,
        "qat_epochs": args.qat_epochs,
        "training_seconds": round(time.time() - t0, 1),
        "distillation": ({"teachers": list(args.teacher), "temperature": args.kd_temperature, "alpha": args.kd_alpha,
                          "soft_targets": "cached teacher logits of the plain and mirrored image (hw.model.distill)"}
                         if args.teacher else None),
        "command": "python -m hw.model.train " + " ".join(sys.argv[1:]),
        "history": history,
    }
    (out_dir / f"{args.name}.json").write_text(json.dumps(meta, indent=2))
    print(f"wrote {model_path} and {model_path.with_suffix('.json')}", flush=True)
    return meta


def main(argv=None) -> int:
    from hw.quiet import quiet

    if "--library-output" not in (argv if argv is not None else sys.argv[1:]):
        quiet()  # TensorFlow's native start-up lines and the known warnings; --library-output keeps them
    from hw.data import DatasetError
    from hw.model import VARIANTS, ModelError

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default="squeezenet_fmnist", help="model name: writes hw/models/<name>.keras/.json")
    p.add_argument("--variant", default="vanilla", choices=VARIANTS)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--arch-json", help="ArchSpec as JSON (widths, stages, bits), or a model's metadata JSON "
                   "(hw/models/<name>.json: its architecture); default: hw.model.DEFAULT_ARCH")
    p.add_argument("--weight-bits", type=int, default=8, help="signed weight width of the quantized model")
    p.add_argument("--act-bits", type=int, default=8, help="unsigned activation width of the quantized model")
    p.add_argument("--float-from", help="reuse this float checkpoint (from an earlier run's work dir) and only run QAT")
    p.add_argument("--float-epochs", type=int, default=30)
    p.add_argument("--qat-epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--qat-lr", type=float, default=3e-4)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--teacher", action="append", default=[],
                   help="distil from this model file (repeat for an ensemble; hw.model.distill)")
    p.add_argument("--kd-temperature", type=float, default=3.0, help="softmax temperature of the soft targets")
    p.add_argument("--kd-alpha", type=float, default=0.5, help="weight of the hard-label loss (1 - alpha: soft)")
    p.add_argument("--val-split", type=int, default=0,
                   help="hold out N training images and evaluate on them instead of the test set (recipe tuning)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--work-dir", default="build/train", help="checkpoints (resumable)")
    p.add_argument("--out-dir", default=str(MODELS_DIR))
    p.add_argument("--limit", type=int, default=0, help="use only the first N train/test images (smoke tests)")
    p.add_argument("--verbose", type=int, default=1, help="Keras progress display: 0 silent, 1 bar, 2 line per epoch")
    p.add_argument("--library-output", action="store_true",
                   help="keep TensorFlow's and hls4ml's own start-up output and warnings (quiet by default)")
    args = p.parse_args(argv)
    try:
        train(args)
    except (DatasetError, ModelError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
