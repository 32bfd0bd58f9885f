"""model/errors.py: the one "this job can't run" error and the runner every entry point uses."""
import pytest

from model import errors
from model.errors import JobError, run_cli


def test_pipelines_raise_the_same_job_error_as_training():
    from pipelines.core import rejects

    assert rejects.JobError is JobError
    assert not issubclass(JobError, ValueError)  # a bad value in a DoFn is a reject, not this


def test_a_job_error_is_one_line_on_stderr_and_exit_2(capsys):
    def fails():
        raise JobError("--epochs must be >= 1, got 0")

    assert run_cli("model.train", fails) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "model.train: error: --epochs must be >= 1, got 0\n"


def test_a_message_with_line_breaks_still_prints_one_line(capsys):
    def fails():
        raise JobError("shard x is corrupt:\n  crc mismatch\r\n\nre-run preprocess")

    assert run_cli("job", fails) == 2
    err = capsys.readouterr().err
    assert err == "job: error: shard x is corrupt: crc mismatch re-run preprocess\n"


def test_a_finished_job_exits_0_and_hands_its_result_on(capsys):
    seen = []
    assert run_cli("job", lambda: {"written": 3}, on_result=seen.append) == 0
    assert seen == [{"written": 3}]
    assert capsys.readouterr().err == ""


def test_anything_else_is_a_bug_and_keeps_its_traceback():
    def breaks():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run_cli("job", breaks)
    with pytest.raises(ValueError):  # ValueError is not "can't run": rejects are ValueErrors
        run_cli("job", lambda: int("x"))


def test_the_status_is_argparse_s_for_a_usage_error(capsys):
    import argparse

    parser = argparse.ArgumentParser(prog="job")
    parser.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--n", "x"])
    assert exit_info.value.code == errors.EXIT_CANNOT_RUN == 2
