"""The values the GMSA mask search draws from (no KerasTuner import).

`keras_gmsa.tuning` builds the KerasTuner search space from these; the
command line reads them for its defaults without importing KerasTuner.
"""

# How local and global attention are combined (sec. 3 of the paper).
COMBINATIONS = ("shareatt", "gateatt", "gateop")
# Block-diagonal, Toeplitz, dilated Toeplitz.
MASK_KINDS = ("bd", "tp", "td")
# Widths around the paper's settings (BD 10/20, TP 10/30, TD 60/4, 80/5).
W_VALUES = (5, 10, 20, 30, 40, 60, 80)
# Dilations of the td mask.
L_VALUES = (2, 3, 4, 5)
TUNERS = ("random", "bayesian", "hyperband")
