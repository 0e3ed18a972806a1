"""The HTML/Markdown report of a small, really trained runs folder, and its blocks rendered alone."""

import dataclasses
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
import torch

from ganbench.data import load_dataset
from ganbench.results.blocks import Figure, Gallery, Heading, Link, Paragraph, Table, Toc, render_html, render_markdown
from ganbench.results.memorisation import nearest_training_images
from ganbench.results.report import write_report
from ganbench.runs import files
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import load_suite, run_suite

EVIL = "<script>alert(1)</script>"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    suite = load_suite("quick", models=["gan", "vae"], datasets=["ring8", "digits"], seeds=[0, 1])
    budget = {"steps": 60, "eval_every": 20, "checkpoint_every": 30, "log_every": 20}
    short = [dataclasses.replace(j, config=dataclasses.replace(j.config, train=j.config.train.replace(**budget)))
             for j in suite.jobs]  # fmt: skip
    run_suite(dataclasses.replace(suite, jobs=tuple(short)), RunOptions(runs, device="cpu"), jobs=1, log=lambda *a: None)
    # A failed run beside them: listed with its error, absent from the ranks.
    cfg = files.read_json(runs / "ring8" / "gan" / "seed-0" / "config.json")
    broken = runs / "ring8" / "broken" / "seed-0"
    files.atomic_write_json(broken / "config.json", {**cfg, "name": "broken"})
    files.atomic_write_json(broken / "result.json", {"status": "failed", "error": "RuntimeError: boom in the critic"})
    # A hostile one: markup in its model name, its dataset description (it sorts first, so the report takes
    # the description from it) and its error message must all be shown as text.
    evil = runs / "ring8" / "evil" / "seed-0"
    info = {**cfg["dataset_info"], "description": f"Eight modes {EVIL.replace('1', '2')}"}
    files.atomic_write_json(evil / "config.json", {**cfg, "name": f"{EVIL} <b>bold</b>", "dataset_info": info})
    files.atomic_write_json(evil / "result.json", {"status": "failed", "error": 'ValueError: <img src=x onerror="x">'})
    out = tmp_path_factory.mktemp("report")
    index = write_report(runs, out)
    return index, out


def _section(page: str, dataset: str) -> str:
    start = page.index(f'<h2 id="dataset-{dataset}">')
    return page[start:page.index("<h2", start + 1)]


def test_index_is_self_contained_with_leaderboard_rows(report):
    index, out = report
    assert index == out / "index.html"
    page = index.read_text(encoding="utf-8")
    ring8 = _section(page, "ring8")
    board = ring8[ring8.index("<h3>Leaderboard</h3>"):ring8.index("<h3>Metrics during training</h3>")]
    for model in ("gan", "vae", "real-data"):
        assert f"<td>{model}</td>" in board
    assert "modes_covered ↑" in board and "reverse_kl ↓" in board and "train time (s)" in board
    # Three evaluations (steps 20, 40, 60) per run: last means over all three, marked, and no plateau verdict.
    assert "modes_covered last ↑" in board and "(n=3)" in board and "The &#39;last&#39; columns" in board
    assert "<th>plateaued</th>" in board and "<td>unknown (seeds 0/2; 2 with under 5 evaluations)</td>" in board
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "The 'last' columns" in readme and "| plateaued" in readme
    assert "unknown (seeds 0/2; 2 with under 5 evaluations)" in readme
    assert page.count("data:image/png;base64,") >= 4
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)
    assert "<script" not in page and "<link" not in page
    assert "boom in the critic" in page  # the failed run and its reason
    assert "Fingerprint " in page and "git commit" in page
    # digits' memorisation metrics compare pixels (its classifier was trained on its training split); ring8's
    # fingerprint has no such row (the points are their own features)
    protocol = page[page.index('id="protocol"'):]
    assert protocol.count("<td>memorisation metrics compare</td>") == 1
    assert "<td>at most 10,000 samples of each input</td>" in protocol
    assert re.search(r"<td>fd_heldout and fd_gap compare</td>\s*<td>pixels</td>", protocol)


def test_user_text_is_escaped_in_html(report):
    index, _ = report
    page = index.read_text(encoding="utf-8")
    ring8 = _section(page, "ring8")
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;</td>" in ring8  # name, in two tables
    assert "Eight modes &lt;script&gt;alert(2)&lt;/script&gt;. " in ring8  # the dataset description
    assert 'ValueError: &lt;img src=x onerror="x"&gt;' in ring8  # the error message (quotes are text in a cell)
    assert not re.search(r"<\s*(script|img src=x|b>)", page, re.IGNORECASE)
    tags = _Tags()
    tags.feed(page)
    assert tags.names >= {"html", "h1", "h2", "h3", "p", "ul", "a", "table", "figure", "img"}
    assert not tags.names & {"script", "b", "iframe", "object", "link"}


def test_image_dataset_renders_gallery_and_leaderboard(report):
    index, out = report
    digits = _section(index.read_text(encoding="utf-8"), "digits")
    board = digits[digits.index("<h3>Leaderboard</h3>"):digits.index("<h3>Metrics during training</h3>")]
    for model in ("gan", "vae", "real-data"):
        assert f"<td>{model}</td>" in board
    assert "fd ↓" in board and "is ↑" in board and "modes_covered ↑" in board
    gallery = digits[digits.index('<div class="gallery">'):]
    gallery = gallery[:gallery.index("</div>")]
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", gallery)
    assert captions == ["gan (seed 0)", "vae (seed 0)", "real data (test split)"]
    assert gallery.count('src="data:image/png;base64,') == 3
    readme = (out / "README.md").read_text(encoding="utf-8")
    gallery_md = "![digits_samples_gan](digits_samples_gan.png) ![digits_samples_vae](digits_samples_vae.png) "
    assert gallery_md + "![digits_samples_real-data](digits_samples_real-data.png)\n\n" in readme
    assert "*gan (seed 0); vae (seed 0); real data (test split)*" in readme
    for name in ("gan", "vae", "real-data"):
        assert (out / f"digits_samples_{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_memorisation_section_shows_metrics_and_nearest_training_images(report):
    index, out = report
    digits = _section(index.read_text(encoding="utf-8"), "digits")
    section = digits[digits.index("<h3>Memorisation</h3>"):]
    section = section[:section.index("<h3>", 5)]
    for column in ("authenticity ↑", "ct →0", "nn_ratio →1", "fd_gap →0"):
        assert column in section
    assert section.count('src="data:image/png;base64,') == 2  # gan and vae, generated above nearest training
    for name in ("gan", "vae"):
        assert (out / f"digits_neighbours_{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ring = _section(index.read_text(encoding="utf-8"), "ring8")
    assert "<h3>Memorisation</h3>" in ring and "ring8_neighbours" not in ring  # images only for image sets
    # digits is scored with the classifier trained on its training split: its fd_heldout and fd_gap compare
    # pixels, and the section says so; ring8's points are their own features
    assert "fd_heldout and fd_gap compare pixels here" in section and "compare pixels" not in ring
    assert "do not read it as a memorisation measure" not in section


def test_scores_from_before_the_pixel_space_keep_the_fd_gap_warning():
    from types import SimpleNamespace

    from ganbench.results.memorisation import _memorisation_spaces

    def run(fp):
        return SimpleNamespace(scores={fp["id"]: {"fingerprint": fp}})

    classifier = {"name": "classifier-digits", "weights_sha256": "d7c7"}
    old = {"id": "a", "memorisation_n": 10000, "extractor": classifier}
    new = {"id": "b", "memorisation_n": 10000, "generalisation_features": "pixels", "extractor": classifier}
    inception = {"id": "c", "memorisation_n": 10000, "extractor": {"name": "inception-v3-compat"}}
    no_memo = {"id": "d", "extractor": classifier}
    by_model = {"gan": [run(old), run(new)], "vae": [run(inception), run(no_memo)]}
    assert _memorisation_spaces(by_model, {"a"}) == {"classifier features"}
    assert _memorisation_spaces(by_model, {"a", "b"}) == {"classifier features", "pixels"}
    assert _memorisation_spaces(by_model, {"c", "d"}) == set()


def test_nearest_training_images_finds_copies():
    d = load_dataset("digits")
    picked = d.train_float()[[5, 100, 7]]
    neighbours, dist = nearest_training_images(picked + 0.01, d.train_float())
    assert torch.equal(neighbours, picked) and float(dist.max()) == pytest.approx(0.08, rel=1e-5)


def _github_slug(heading: str) -> str:
    # GitHub's rule, restated here: lower case, drop what is not a word character, space or hyphen, spaces to '-'.
    return "".join(c for c in heading.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def test_links_resolve_to_headings_in_both_formats(report):
    index, out = report
    page = index.read_text(encoding="utf-8")
    readme = (out / "README.md").read_text(encoding="utf-8")
    html_ids = dict((a, t) for a, t in re.findall(r'<h[1-6] id="([^"]+)">([^<]*)</h[1-6]>', page))
    html_links = re.findall(r'<a href="#([^"]+)">(?:<code>)?([^<]*)(?:</code>)?</a>', page)
    md_headings = {_github_slug(t): t for t in re.findall(r"^#{1,6} (.*)$", readme, re.MULTILINE)}
    md_links = re.findall(r"\[`?([^\]`]*)`?\]\(#([^)]+)\)", readme)
    assert {"dataset-digits", "dataset-ring8", "protocol"} <= set(html_ids)
    assert any(a.startswith("fingerprint-") for a in html_ids)
    assert [a for a, _ in html_links] == [a for _, a in md_links]  # the same links, in the same order
    for a, text in html_links:
        assert a in html_ids and a in md_headings
        assert html_ids[a] == md_headings[a]  # one heading text behind each anchor in both formats
    for a, heading in html_ids.items():
        assert _github_slug(heading) == a


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.names.add(tag)


def test_blocks_escape_everything_but_their_own_table_markup():
    frame = pd.DataFrame({"<th>": ["<td>&", None], "n": [1.5, float("nan")]})
    blocks = [Heading(1, "A <title>"), Heading(2, "Part <one>", anchored=True),
              Paragraph("text & <em>", (Link("<l>", "part-one"),)), Toc((Link("Part <one>", "part-one"),)),
              Table(frame), Figure("f.png", PNG, 'cap "<x>"'), Gallery((Figure("g.png", PNG, "<g>"),))]  # fmt: skip
    page = render_html(blocks, "t<i>")
    for raw in ("<i>", "<one>", "<em>", "<l>", "<th><th>", "<td><td>", "<x>", "<g>", "&amp;lt;"):
        assert raw not in page
    assert "<title>t&lt;i&gt;</title>" in page and '<h2 id="part-one">Part &lt;one&gt;</h2>' in page
    assert '<p>text &amp; &lt;em&gt; <a href="#part-one"><code>&lt;l&gt;</code></a>.</p>' in page
    assert "<th>&lt;th&gt;</th>" in page and "<td>&lt;td&gt;&amp;</td>" in page  # to_html's own escaping
    assert 'alt="cap &#34;&lt;x&gt;&#34;"' in page and "<figcaption>&lt;g&gt;</figcaption>" in page
    md = render_markdown(blocks)
    assert md.startswith("# A <title>\n\n## Part <one>\n\ntext & <em> [`<l>`](#part-one).\n\n"
                         "- [Part <one>](#part-one)\n\n")
    assert md.endswith('![f](f.png)\n\n*cap "<x>"*\n\n![g](g.png)\n\n*<g>*\n')
