"""The Optuna study (hw.model.study) for real, on a smoke budget (300 images, 1 + 1 epochs): a worker
is killed inside its trial, the same command continues the study (the stale trial is failed by
Optuna's heartbeat and re-run with the same parameters), and the report and the Pareto plot come
from the stored trials."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMOKE = ["--limit", "300", "--val-images", "100", "--float-epochs", "1", "--qat-epochs", "1",
         "--heartbeat", "1", "--grace", "3"]


def _cli(tmp: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "hw.model.study", "--dir", str(tmp), "--name", "smoke", *args]


def _trials(tmp: Path):
    import optuna

    return optuna.load_study(study_name="smoke", storage=f"sqlite:///{tmp}/smoke.db").get_trials(deepcopy=False)


@pytest.mark.timeout(900)
def test_a_killed_study_continues_and_reports_from_its_storage(tmp_path):
    import optuna

    State = optuna.trial.TrialState
    worker = subprocess.Popen(_cli(tmp_path, "--trials", "1", *SMOKE), cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until the trial is running and its training has started
        if (tmp_path / "smoke.db").exists() and any(t.state == State.RUNNING for t in _trials(tmp_path)) \
                and list((tmp_path / "smoke" / "work").glob("*.arch.json")):
            break
        time.sleep(1)
    else:
        worker.kill()
        pytest.fail("the worker never started a trial")
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its training child, mid-trial
    worker.wait()
    killed = _trials(tmp_path)
    assert [t.state for t in killed] == [State.RUNNING]  # left behind, as a crash leaves it
    time.sleep(4)  # past the grace period: no heartbeat since the kill

    r = subprocess.run(_cli(tmp_path, "--trials", "1", *SMOKE, "--report", str(tmp_path / "STUDY.md"),
                            "--plot", str(tmp_path / "front.png")), cwd=REPO, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    trials = _trials(tmp_path)
    assert [t.state for t in trials] == [State.FAIL, State.COMPLETE]
    assert trials[1].params == killed[0].params  # the killed trial, re-run ...
    assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(trials[1]) == 0  # ... by the retry
    acc, ips = trials[1].values
    assert 0.0 <= acc <= 1.0 and ips >= 0.0
    assert trials[1].user_attrs["validation_images"] == 100
    assert "1 finished trials" in r.stdout and "oneDNN" not in r.stderr
    report = (tmp_path / "STUDY.md").read_text()
    assert trials[1].user_attrs["point"] in report and "| 1 |" in report
    assert (tmp_path / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_bad_storage_url_is_a_clear_error(tmp_path):
    r = subprocess.run(_cli(tmp_path, "--storage", "nosuchdb://x/y"), cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2
    assert r.stderr.startswith("error: cannot open the study storage 'nosuchdb://x/y'") and "Traceback" not in r.stderr
