"""scripts/fd_gap_features.py: the committed report's reference samplers are what the script computes with the
shipped digits classifier; in pixels fd_gap tells copies of the training chunk from fresh images, random copies
only weakly."""

from ganbench.data import load_dataset
from ganbench.evaluation.extractors.classifier import get_classifier
from scripts.fd_gap_features import OUT, reference_gaps, reference_neighbours, report, spaces, stacked_section


def test_committed_reference_tables_are_recomputed_and_pixels_see_copies():
    dataset = load_dataset("digits")
    feats = spaces(dataset, get_classifier(dataset))
    ref, near = reference_gaps(dataset, feats, draws=40), reference_neighbours(dataset, feats, draws=10)
    tables = [line for line in report(ref, [], "", near).splitlines() if line.startswith("| ")]
    committed = [line for line in OUT.read_text().splitlines() if line.startswith("| ")]
    assert tables == committed[: len(tables)]
    px, cf = ref["pixels"], ref["classifier"]
    assert px["copies of the first training chunk"].mean() > px["fresh images"].mean() + px["fresh images"].std()
    # copies of random training images: weakly above fresh images in pixels, below them in the classifier's features
    assert px["fresh images"].mean() < px["copies of random training images"].mean() < px["fresh images"].mean() + \
        px["fresh images"].std()
    assert cf["copies of random training images"].mean() < cf["fresh images"].mean()
    for space in ("classifier", "pixels"):  # exact copies: at distance 0 from the training data in any features
        assert (near[space]["copies of training images", "nn_ratio"] == 0).all()


def test_the_stacked_section_reads_blur_from_its_rows():
    # Rows as stacked_neighbours gives them (the committed report's ae and gan rows, rounded): ae's samples are as
    # near the held-out images as the training ones but nearer the training images than real images are.
    def row(model, auth, ct, nn, d):
        return {"model": model, "classifier": {"authenticity": auth[0], "ct": ct[0], "nn_ratio": nn[0]},
                "pixels": {"authenticity": auth[1], "ct": ct[1], "nn_ratio": nn[1]},
                "d_train": d[0], "d_heldout": d[1], "d_real": 6.42}

    lines = stacked_section([row("ae", (0.883, 0.565), (7.70, -3.87), (1.238, 0.943), (5.985, 6.024)),
                             row("gan", (0.944, 0.988), (9.64, 9.56), (1.310, 1.146), (7.221, 7.246))])
    assert "| ae | 0.883 | 0.565 | 7.70 | -3.87 | 1.238 | 0.943 | 5.985 | 6.024 | 6.420 |" in lines
    reading = lines[-1]
    assert reading.startswith("Reading. The samples of ae are as near") and "0.994 to 0.994" in reading
    assert "ct falls to -3.87 and authenticity to 0.565" in reading and "ae and" not in reading
    assert stacked_section([]) == []
    committed = OUT.read_text()
    assert "## The nearest-neighbour metrics in pixels: blur reads as copying" in committed
