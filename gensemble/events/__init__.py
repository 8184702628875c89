"""Event verification: which samples of a store make an event, the ensembles compared on
it, the truth they are scored against, the scores with bootstrap intervals, and the
report a forecaster reads."""
