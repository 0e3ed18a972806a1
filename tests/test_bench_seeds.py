"""scripts/bench_seeds.py runs end to end on a tiny budget and writes both of its tables (no timing asserted:
speed figures belong in reports/, measured by the script)."""

import re

from scripts.bench_seeds import main


def test_bench_seeds_writes_the_ratio_and_bounds_tables(tmp_path):
    out = tmp_path / "seeds.md"
    assert main(["--seeds", "2", "--steps", "1", "--warmup", "0", "--workers", "1", "--configs", "quick suite",
                 "--scaling", "1,2", "--out", str(out)]) == 0  # fmt: skip
    rows = [line for line in out.read_text().splitlines() if line.startswith("| 2D, quick suite")]
    assert len(rows) == 2  # one row in each table
    serial_rate, stacked_rate, ratio = (float(c.strip().rstrip("x")) for c in rows[0].split("|")[2:5])
    # the columns are rounded to 0.1 seed-steps/s: the ratio of the shown rates within that rounding
    assert abs(ratio - stacked_rate / serial_rate) <= 0.01 + 0.1 * ratio / min(serial_rate, stacked_rate)
    # bounds: the serial step, then each stack size's "ms (ms per seed)", then serial / per-seed at S = 2
    cells = [c.strip() for c in rows[1].split("|")[2:-1]]
    serial = float(cells[0])
    (s1, p1), (s2, p2) = (map(float, re.fullmatch(r"([\d.]+) \(([\d.]+)\)", c).groups()) for c in cells[1:3])
    assert p1 == s1 and abs(p2 - s2 / 2) < 0.01
    assert abs(float(cells[3].rstrip("x")) - serial / p2) < 0.01
