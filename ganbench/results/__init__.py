"""Results: leaderboards, comparisons of a new model with the baselines, plots and reports."""
