"""model/flags.py and pipelines/job_flags.py: the strict parsers, in-process."""
import pytest

from model import flags
from pipelines.core import job_flags
from pipelines.core.options import SharedJobOptions
from pipelines.remove_background.config import RemoveBackgroundOptions
from pipelines.remove_background.job import SHARED_FLAGS


def _strict(argv, **kw):
    return job_flags.strict_argv("cutout remove", (RemoveBackgroundOptions, SharedJobOptions),
                                 SHARED_FLAGS, argv, positionals=("--input", "--output_dir"),
                                 **kw)


def test_nearest_flag():
    known = ["--epochs", "--batch_size", "--data_dir", "-h"]
    assert flags.nearest("--epoch", known) == "--epochs"
    assert flags.nearest("--batchsize", known) == "--batch_size"
    assert flags.nearest("--zzz", known) is None
    assert flags.unknown_flag_message("--epoch=3", known) == \
        "unknown flag --epoch (did you mean --epochs?)"


@pytest.mark.parametrize("argv,expected", [
    (["-m", "M", "-i", "in", "-o", "out"],
     ["--model", "M", "--input", "in", "--output_dir", "out"]),
    (["-mM", "--input=in", "-o=out"], ["--model=M", "--input=in", "--output_dir=out"]),
    (["in", "out", "-m", "M"], ["--model", "M", "--input", "in", "--output_dir", "out"]),
    (["in", "-m", "M", "out"], ["--model", "M", "--input", "in", "--output_dir", "out"]),
    (["--input", "in", "-o", "out", "--overwrite", "--runner", "DirectRunner",
      "--direct_num_workers", "2"],
     ["--input", "in", "--output_dir", "out", "--overwrite", "--runner", "DirectRunner",
      "--direct_num_workers", "2"]),
    (["--input", "in", "-o", "out", "--update_compatibility_version", "--dry_run=True"],
     ["--input", "in", "--output_dir", "out", "--update_compatibility_version",
      "--dry_run=True"]),
])
def test_the_job_and_beam_read_long_flags_only(argv, expected):
    assert _strict(argv) == expected


@pytest.mark.parametrize("argv,words", [
    (["--backgroud", "white"], "unknown flag --backgroud (did you mean --background?)"),
    (["--max_batch", "4"], "unknown flag --max_batch (did you mean --max_batch_size?)"),
    (["--runer", "X"], "did you mean --runner?"),
    (["-x"], "unknown flag -x"),
    (["--max_batch_size", "four"], "invalid int value: 'four'"),
    (["--output", "jpeg"], "invalid choice: 'jpeg'"),
    (["--input"], "--input needs a value"),
])
def test_mistakes_are_one_line_and_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        _strict(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cutout remove: error: ") and words in err[0], err


def test_every_beam_standard_option_is_accepted():
    names = job_flags.beam_flag_names()
    for flag in ("--runner", "--project", "--region", "--temp_location", "--setup_file",
                 "--sdk_container_image", "--direct_num_workers", "--direct_running_mode",
                 "--dry_run", "--experiments", "--num_workers", "--save_main_session"):
        assert flag in names, flag
    assert "--model" not in names and "--source" not in names  # only Beam's own classes


def test_strict_parser_refuses_unknown_flags_before_missing_required_ones(capsys):
    parser = flags.StrictParser(prog="cutout one")
    parser.add_argument("paths", nargs="+")
    parser.add_argument("-m", "--model", required=True)
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["a.jpg", "--modle", "x"])
    assert info.value.code == 2
    assert "unknown flag --modle (did you mean --model?)" in capsys.readouterr().err
    args = parser.parse_args(["a.jpg", "-m", "M", "b.jpg"])  # flags between positionals
    assert args.paths == ["a.jpg", "b.jpg"] and args.model == "M"
    assert "(required)" in parser.format_help()
