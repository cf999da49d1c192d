"""Knowledge distillation (Hinton et al., 2015, "Distilling the knowledge in a neural network").

Why: the co-design issue needs a small, fast network to be more accurate than its short training
makes it. A student trained on the softened class probabilities of stronger teachers (here: the
committed, fully trained fixed-point nets, averaged as an ensemble) learns which classes look
alike (shirt / T-shirt / pullover), which hard labels do not say. The teachers are the exact
HGQ2 models that were saved, run in inference mode inside the student's compiled train step.

Loss per image: alpha * CE(label, student) + (1 - alpha) * T^2 * KL(teacher_T || student_T),
where x_T is the softmax at temperature T; T^2 keeps the soft term's gradient scale independent of T.

Cached teacher logits: running a teacher that costs 5x the student's MACs inside every train step
makes a distilled run several times slower than a plain one. `teacher_logits` runs each teacher once
over the training images and their mirror images and stores the logits (content-hashed file), and the
training pipeline hands the student, per image, the logits of the view it actually sees (plain or
flipped). The +-2 pixel random shift is not re-run through the teacher: its soft target is the
unshifted view's (the offline-KD approximation of stored soft labels; a label-preserving shift).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import keras
import numpy as np
from keras import ops

from hw.model.squeezenet import ModelError, load_model

TEACHER_LOGITS = "teacher_logits"  # key of the cached logits in a distillation batch's x dict


class Distiller(keras.Model):
    """Wraps a student so that Keras' fit() trains it against a frozen teacher ensemble."""

    def __init__(self, student: keras.Model, teachers: list[keras.Model] | None = None, temperature: float = 3.0,
                 alpha: float = 0.5, **kwargs):
        """teachers: live teacher models; None when every training batch brings cached logits as
        x = {"image": ..., TEACHER_LOGITS: (batch, teachers, classes)}."""
        super().__init__(**kwargs)
        teachers = teachers or []
        if not 0.0 <= alpha <= 1.0:
            raise ModelError(f"distillation alpha {alpha} is not in [0, 1]")
        if temperature <= 0:
            raise ModelError(f"distillation temperature {temperature} is not positive")
        for t in teachers:
            if t.output_shape[-1] != student.output_shape[-1]:
                raise ModelError(f"teacher {t.name} has {t.output_shape[-1]} classes, the student "
                                 f"{student.output_shape[-1]}")
            t.trainable = False
        self.student = student
        self.teachers = teachers
        self.cached = not teachers
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def call(self, x, training=False):
        return self.student(x["image"] if isinstance(x, dict) else x, training=training)

    def teacher_probabilities(self, x):
        """Mean of the teachers' softmax at temperature T (the soft targets); None where a batch has
        neither cached logits nor live teachers (validation data: hard loss only)."""
        t = self.temperature
        if isinstance(x, dict):
            return ops.mean(ops.softmax(ops.cast(x[TEACHER_LOGITS], "float32") / t, axis=-1), axis=1)
        if not self.teachers:
            return None
        return ops.mean(ops.stack([ops.softmax(m(x, training=False) / t) for m in self.teachers]), axis=0)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        t = self.temperature
        hard = keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        soft_targets = self.teacher_probabilities(x)
        if soft_targets is None:
            loss = ops.mean(hard)
            for extra in self.student.losses:
                loss = loss + extra
            return loss
        soft_targets = ops.stop_gradient(soft_targets)
        kl = ops.sum(soft_targets * (ops.log(soft_targets + 1e-9) - ops.log_softmax(y_pred / t)), axis=-1)
        loss = ops.mean(self.alpha * hard + (1.0 - self.alpha) * (t * t) * kl)
        for extra in self.student.losses:  # regularizers of the student's layers, as Keras would add
            loss = loss + extra
        return loss


def load_teachers(paths: list[str]) -> list[keras.Model]:
    """The teacher ensemble, each a committed model file (clear error for a missing or bad one)."""
    return [load_model(p) for p in paths]


def _digest(paths: list[str], x_uint8: np.ndarray) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    h.update(np.ascontiguousarray(x_uint8).tobytes())
    h.update(str(x_uint8.shape).encode())
    return h.hexdigest()[:20]


def teacher_logits(paths: list[str], x_uint8: np.ndarray, cache_dir: str | Path, batch_size: int = 1000) -> np.ndarray:
    """Logits of each teacher on each image and on its mirror image: float32 (N, 2, teachers, classes),
    view 0 plain, view 1 flipped left-right. Cached under cache_dir by the hash of the teacher files
    and the images, so a resumed or repeated run (the temperature/weight tuning) pays the teachers once."""
    if not paths:
        raise ModelError("distillation needs at least one teacher")
    cache = Path(cache_dir) / f"teacher_logits_{_digest(paths, x_uint8)}.npy"
    if cache.exists():
        out = np.load(cache)
        if out.shape[:3] == (len(x_uint8), 2, len(paths)):
            return out
    from hw.model.train import to_float

    x = to_float(x_uint8)
    views = (x, x[:, :, ::-1, :])
    out = np.stack([np.stack([m.predict(v, batch_size=batch_size, verbose=0) for m in load_teachers(paths)], axis=1)
                    for v in views], axis=1).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".tmp.npy")
    np.save(tmp, out)
    tmp.replace(cache)
    return out
