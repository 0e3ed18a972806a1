"""The runs folder's layout has one owner: ganbench.runs.layout."""

import ast
from pathlib import Path

import pytest

import ganbench
from ganbench.cli import main
from ganbench.results.leaderboard import collect_scores
from ganbench.runs import files, layout
from ganbench.runs.layout import ModelDir, ReferenceDir, RunDir, iter_runs

PACKAGE = Path(ganbench.__file__).resolve().parent

# What is on disk today (README, scripts and other people's runs folders rely on these names).
ON_DISK = {"config.json", "metrics.jsonl", "checkpoint.pt", "checkpoint.previous.pt", "samples.png", "result.json", "scores.json", "job.json",
           "job.lock", "bench.json", "_reference", "_slurm",
           "_human", "study.json", "judgments.jsonl", "study-images"}  # fmt: skip


def _layout_literals(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, text) of each string constant, docstrings excluded, that is a layout name or a path through one."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            and names & set(node.value.split("/"))]  # fmt: skip


def test_layout_names_are_the_ones_on_disk():
    assert set(layout.NAMES) == ON_DISK


def test_the_literal_check_finds_names_and_paths_but_not_docstrings_or_prose():
    source = '''"""Writes config.json."""
def f(d):
    """Reads scores.json."""
    d.glob("*/*/seed-*/config.json")
    return d / "scores.json", f"{d}/job.json", "no result.json yet", f"{d}_samples.png"
'''
    assert sorted(_layout_literals(source, ON_DISK)) == [(4, "*/*/seed-*/config.json"), (5, "/job.json"),
                                                         (5, "scores.json")]  # fmt: skip


def test_no_run_file_name_is_spelt_outside_the_layout_module():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == Path(layout.__file__).resolve():
            continue
        for line, text in _layout_literals(path.read_text(encoding="utf-8"), set(layout.NAMES)):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r}")
    assert not offenders, "use ganbench.runs.layout instead of:\n" + "\n".join(offenders)


def test_paths_are_the_ones_on_disk():
    out = Path("runs")
    assert RunDir.of(out, "ring8", "gan", 3).path == Path("runs/ring8/gan/seed-3")
    assert RunDir.of("runs", "folder:/data/x", "gan", 0).path == Path("runs/folder__data_x/gan/seed-0")
    assert ModelDir.of(out, "mnist", "vae").bench == Path("runs/mnist/vae/bench.json")
    assert ReferenceDir.of(out, "digits").scores == Path("runs/digits/_reference/scores.json")
    assert layout.slurm_dir(out) == Path("runs/_slurm")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A runs folder with two short CLI training runs, one of them scored."""
    out = tmp_path_factory.mktemp("runs")
    for seed in (1, 0):
        assert main(["train", "gan", "--dataset", "ring8", "--steps", "20", "--seed", str(seed), "--out", str(out),
                     "--device", "cpu"]) == 0  # fmt: skip
    assert main(["eval", str(out / "ring8" / "gan" / "seed-0"), "--device", "cpu"]) == 0
    return out


def test_a_training_run_writes_exactly_the_run_dir_files(trained):
    run = RunDir.of(trained, "ring8", "gan", 0)
    assert run.path == trained / "ring8" / "gan" / "seed-0"
    on_disk = {p for p in run.path.rglob("*")}
    assert on_disk == {run.config, run.metrics, run.checkpoint, run.samples, run.result, run.scores}
    assert run.read_config()["seed"] == 0 and run.read_result()["status"] == "complete"
    assert len(run.read_scores()) == 1 and run.read_job() is None  # trained and scored outside a suite
    assert {p for p in RunDir.of(trained, "ring8", "gan", 1).path.iterdir()} == {
        RunDir.of(trained, "ring8", "gan", 1).path / n
        for n in ("config.json", "metrics.jsonl", "checkpoint.pt", "samples.png", "result.json")}


def test_iter_runs_finds_the_trained_runs_and_ignores_junk(trained, tmp_path):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        src = RunDir.of(trained, "ring8", "gan", seed)
        for p in src.path.iterdir():
            files.atomic_write_bytes(RunDir.of(runs, "ring8", "gan", seed).path / p.name, p.read_bytes())
    files.atomic_write_json(runs / "ring8" / "_reference" / "scores.json", {})
    files.atomic_write_json(runs / "ring8" / "gan" / "bench.json", {"dataset": "ring8", "model": "gan"})
    files.atomic_write_text(runs / "_slurm" / "123" / "123_0_log.err", "")
    (runs / "ring8" / "gan" / "seed-7").mkdir()  # a run that never started: no config
    files.atomic_write_json(runs / "ring8" / "gan" / "notes" / "config.json", {})  # not a seed folder
    files.atomic_write_json(runs / "ring8" / "config.json", {})
    files.atomic_write_text(runs / "README.txt", "my runs")
    assert [r.path for r in iter_runs(runs)] == [runs / "ring8" / "gan" / "seed-0", runs / "ring8" / "gan" / "seed-1"]
    # The leaderboard reads the same runs: one scored row, one complete run without scores.
    rows = collect_scores(runs)
    assert sorted(zip(rows["seed"], rows["fingerprint"].notna())) == [(0, True), (1, False)]


def test_unreadable_run_files_read_as_missing(tmp_path):
    run = RunDir.of(tmp_path, "ring8", "gan", 0)
    assert run.read_config() is None and run.read_result() is None and run.read_scores() == {}
    files.atomic_write_text(run.config, "[1, 2]")
    files.atomic_write_text(run.result, '{"status": "compl')
    files.atomic_write_text(run.scores, "not json")
    assert run.read_config() is None and run.read_result() is None and run.read_scores() == {}
    assert [r.path for r in iter_runs(tmp_path)] == [run.path]  # found; each reader decides what to skip
