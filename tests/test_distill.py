"""hw.model.distill: the distillation loss is Hinton's formula, and bad requests fail by name."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from hw.model import ModelError
from hw.model.distill import Distiller


def _linear(seed: int, classes: int = 4) -> keras.Model:
    inp = keras.Input((3,))
    return keras.Model(inp, keras.layers.Dense(classes, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=seed))(inp))


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("alpha,temperature", [(0.5, 3.0), (0.0, 1.0), (1.0, 2.0)])
def test_loss_matches_formula(alpha, temperature):
    """alpha * CE + (1 - alpha) * T^2 * KL(mean teacher softmax_T || student softmax_T), in float64 numpy."""
    student, teachers = _linear(1), [_linear(2), _linear(3)]
    d = Distiller(student, teachers, temperature=temperature, alpha=alpha)
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.arange(16) % 4
    s = student.predict(x, verbose=0).astype(np.float64)
    pt = np.mean([_softmax(t.predict(x, verbose=0).astype(np.float64) / temperature) for t in teachers], axis=0)
    ce = -np.log(_softmax(s)[np.arange(16), y])
    kl = np.sum(pt * (np.log(pt) - np.log(_softmax(s / temperature))), axis=-1)
    want = np.mean(alpha * ce + (1 - alpha) * temperature ** 2 * kl)
    got = float(d.compute_loss(x=x, y=y, y_pred=keras.ops.convert_to_tensor(s.astype("float32"))))
    assert got == pytest.approx(want, rel=1e-5)  # float32 arithmetic vs float64 reference
    assert want > 0.05  # the case is not degenerate


def test_teachers_are_frozen_and_student_trains():
    student, teacher = _linear(1), _linear(2)
    d = Distiller(student, [teacher], alpha=0.0)
    d.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(1).normal(size=(256, 3)).astype("float32")

    def agreement():
        return np.mean(np.argmax(student.predict(x, verbose=0), 1) == np.argmax(teacher.predict(x, verbose=0), 1))

    agree_before = agreement()
    before_t = [w.copy() for w in teacher.get_weights()]
    before_s = [w.copy() for w in student.get_weights()]
    d.fit(x, np.zeros(256, dtype=np.int32), epochs=30, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before_t, teacher.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(before_s, student.get_weights()))
    # Pure distillation (alpha 0: the all-zero labels are ignored) makes the student copy the teacher.
    assert agree_before < 0.5 and agreement() > 0.9


@pytest.mark.parametrize("kwargs,msg", [({"alpha": 1.5}, "alpha 1.5"), ({"temperature": 0}, "temperature 0")])
def test_bad_parameters(kwargs, msg):
    with pytest.raises(ModelError, match=msg):
        Distiller(_linear(1), [_linear(2)], **kwargs)


def test_class_count_mismatch():
    with pytest.raises(ModelError, match="3 classes"):
        Distiller(_linear(1), [_linear(2, classes=3)])


def test_missing_teacher_file_is_one_error_line(tmp_path, capsys):
    from hw.model.train import main

    rc = main(["--teacher", str(tmp_path / "nope.keras"), "--limit", "64", "--work-dir", str(tmp_path / "w"),
               "--out-dir", str(tmp_path / "o"), "--verbose", "0"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "nope.keras: model file not found" in err and "\n" not in err


def test_cached_logits_give_the_same_loss_as_live_teachers():
    """A batch that brings the teachers' logits (x = {"image", "teacher_logits"}) is the same loss as
    running the teachers live: caching changes the cost, not the objective."""
    from hw.model.distill import TEACHER_LOGITS

    student, teachers = _linear(1), [_linear(2), _linear(3)]
    x = np.random.default_rng(4).normal(size=(16, 3)).astype("float32")
    y = np.arange(16) % 4
    s = keras.ops.convert_to_tensor(student.predict(x, verbose=0))
    live = float(Distiller(student, teachers, temperature=2.0, alpha=0.3).compute_loss(x=x, y=y, y_pred=s))
    logits = np.stack([t.predict(x, verbose=0) for t in teachers], axis=1)  # (batch, teachers, classes)
    cached = float(Distiller(student, None, temperature=2.0, alpha=0.3).compute_loss(
        x={"image": x, TEACHER_LOGITS: logits}, y=y, y_pred=s))
    assert cached == pytest.approx(live, rel=1e-6)


def test_teacher_logits_are_computed_once_and_cached(tmp_path):
    """Logits of each teacher on each image and its mirror image, cached by content: a second call
    (a resumed run, the next point of the temperature/weight tuning) reads them back."""
    from hw.model.distill import teacher_logits

    inp = keras.Input((4, 4, 1))
    m = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(inp)))
    path = tmp_path / "t.keras"
    m.save(path)
    x = np.random.default_rng(5).integers(0, 256, (10, 4, 4, 1), dtype=np.uint8)
    out = teacher_logits([str(path)], x, tmp_path / "cache")
    assert out.shape == (10, 2, 1, 3)
    plain = m.predict(x.astype("float32") / 256.0, verbose=0)
    flipped = m.predict(x[:, :, ::-1, :].astype("float32") / 256.0, verbose=0)
    assert np.allclose(out[:, 0, 0], plain, atol=1e-6) and np.allclose(out[:, 1, 0], flipped, atol=1e-6)
    files = list((tmp_path / "cache").glob("teacher_logits_*.npy"))
    assert len(files) == 1
    np.save(files[0], out * 0 + 7)  # what a second call reads, if it reads the cache
    assert np.all(teacher_logits([str(path)], x, tmp_path / "cache") == 7)


def test_validation_split_is_taken_from_the_training_set_only(fmnist):
    """Recipe choices are tuned on held-out training images; the test set is never looked at."""
    from hw.model.train import validation_split

    small = type(fmnist)(fmnist.x_train[:1000], fmnist.y_train[:1000], fmnist.x_test[:5], fmnist.y_test[:5],
                         fmnist.classes)
    v = validation_split(small, 200, seed=1)
    assert len(v.x_train) == 800 and len(v.x_test) == 200
    train_rows = {r.tobytes() for r in v.x_train}
    assert not any(r.tobytes() in train_rows for r in v.x_test)  # disjoint
    assert all(any(np.array_equal(r, t) for t in small.x_train) for r in v.x_test[:5])  # from the training set
    assert np.array_equal(validation_split(small, 200, seed=1).x_test, v.x_test)  # seeded
    with pytest.raises(ModelError, match="--val-split 1000"):
        validation_split(small, 1000, seed=1)
