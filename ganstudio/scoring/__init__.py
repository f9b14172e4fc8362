"""How good a generator is: the one score table (name, label, better direction, format, floor), the metric math
(Fréchet distance, KID, IS, precision/recall, density/coverage) and evaluation in a classifier's feature space."""
