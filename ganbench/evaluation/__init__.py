"""Evaluation: the protocol and its fingerprint, feature extractors, scoring, samples files and the
metrics tracked during training."""
