"""scripts/fd_gap_features.py: the committed report's reference samplers are what the script computes with the
shipped digits classifier, and in pixels fd_gap tells copies of training images from fresh images."""

from ganbench.data import load_dataset
from ganbench.evaluation.extractors.classifier import get_classifier
from scripts.fd_gap_features import OUT, reference_gaps, report, spaces


def test_committed_reference_table_is_recomputed_and_pixels_see_copies():
    dataset = load_dataset("digits")
    ref = reference_gaps(dataset, spaces(dataset, get_classifier(dataset)), draws=40)
    table = [line for line in report(ref, [], "").splitlines() if line.startswith("| ")]
    committed = [line for line in OUT.read_text().splitlines() if line.startswith("| ")]
    assert table == committed[: len(table)]
    px = ref["pixels"]
    assert px["copies of training images"].mean() > px["fresh images"].mean() + px["fresh images"].std()
