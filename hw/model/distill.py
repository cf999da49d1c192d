"""Knowledge distillation (Hinton et al., 2015, "Distilling the knowledge in a neural network").

Why: the co-design issue needs a small, fast network to be more accurate than its short training
makes it. A student trained on the softened class probabilities of stronger teachers (here: the
committed, fully trained fixed-point nets, averaged as an ensemble) learns which classes look
alike (shirt / T-shirt / pullover), which hard labels do not say. The teachers are the exact
HGQ2 models that were saved, run in inference mode inside the student's compiled train step.

Loss per image: alpha * CE(label, student) + (1 - alpha) * T^2 * KL(teacher_T || student_T),
where x_T is the softmax at temperature T; T^2 keeps the soft term's gradient scale independent of T.
"""
from __future__ import annotations

import keras
from keras import ops

from hw.model.squeezenet import ModelError, load_model


class Distiller(keras.Model):
    """Wraps a student so that Keras' fit() trains it against a frozen teacher ensemble."""

    def __init__(self, student: keras.Model, teachers: list[keras.Model], temperature: float = 3.0,
                 alpha: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if not teachers:
            raise ModelError("distillation needs at least one teacher")
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
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def call(self, x, training=False):
        return self.student(x, training=training)

    def teacher_probabilities(self, x):
        """Mean of the teachers' softmax at temperature T (the soft targets)."""
        t = self.temperature
        return ops.mean(ops.stack([ops.softmax(m(x, training=False) / t) for m in self.teachers]), axis=0)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        t = self.temperature
        hard = keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        soft_targets = ops.stop_gradient(self.teacher_probabilities(x))
        kl = ops.sum(soft_targets * (ops.log(soft_targets + 1e-9) - ops.log_softmax(y_pred / t)), axis=-1)
        loss = ops.mean(self.alpha * hard + (1.0 - self.alpha) * (t * t) * kl)
        for extra in self.student.losses:  # regularizers of the student's layers, as Keras would add
            loss = loss + extra
        return loss


def load_teachers(paths: list[str]) -> list[keras.Model]:
    """The teacher ensemble, each a committed model file (clear error for a missing or bad one)."""
    return [load_model(p) for p in paths]
