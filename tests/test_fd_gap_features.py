"""scripts/fd_gap_features.py: the committed report's reference samplers are what the script computes with the
shipped digits classifier, and in pixels fd_gap tells copies of training images from fresh images."""

from ganbench.data import load_dataset
from ganbench.evaluation.extractors.classifier import get_classifier
from scripts.fd_gap_features import OUT, reference_gaps, reference_neighbours, report, spaces


def test_committed_reference_tables_are_recomputed_and_pixels_see_copies():
    dataset = load_dataset("digits")
    feats = spaces(dataset, get_classifier(dataset))
    ref, near = reference_gaps(dataset, feats, draws=40), reference_neighbours(dataset, feats, draws=10)
    tables = [line for line in report(ref, [], "", near).splitlines() if line.startswith("| ")]
    committed = [line for line in OUT.read_text().splitlines() if line.startswith("| ")]
    assert tables == committed[: len(tables)]
    px = ref["pixels"]
    assert px["copies of training images"].mean() > px["fresh images"].mean() + px["fresh images"].std()
    for space in ("classifier", "pixels"):  # exact copies: at distance 0 from the training data in any features
        assert (near[space]["copies of training images", "nn_ratio"] == 0).all()
