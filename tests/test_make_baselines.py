"""scripts/make_baselines.py writes exactly the committed baselines/*.toml: a budget or hyperparameter edited
in a file by hand (or in a recipe's defaults without rerunning the script) is caught here."""

from pathlib import Path

import scripts.make_baselines as make_baselines

COMMITTED = Path(make_baselines.__file__).resolve().parent.parent / "baselines"


def test_the_script_writes_the_committed_baselines(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(make_baselines, "ROOT", tmp_path)
    make_baselines.main()
    written = {p.name: p.read_text() for p in tmp_path.glob("*.toml")}
    committed = {p.name: p.read_text() for p in COMMITTED.glob("*.toml")}
    assert sorted(written) == sorted(committed)
    assert [name for name in sorted(written) if written[name] != committed[name]] == []
    assert not list(tmp_path.glob("*.tmp"))
