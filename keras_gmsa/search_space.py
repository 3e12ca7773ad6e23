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

# The other systems of the zoo: the options worth searching, from their
# papers' ablations. `keras_gmsa.tuning.ZooHyperModel` draws from these.
ZOO_SPACES = {
    # Attention Clusters, Table 1-3: cluster size, scorer, shifting.
    "attention_cluster": {
        "num_units": (4, 8, 16, 32),
        "scoring": ("fc1", "fc2"),
        "shifting": (True, False),
    },
    # Kakao Brain, Table 1: fusion and window (None: every frame).
    "kakao_blstm": {
        "fusion": ("concat", "sum", "image_guided", "audio_guided"),
        "window": (5, 9, 13, None),
    },
    # Kakao Brain, sec. 5: cluster count and differential features.
    "kakao_netvlad": {
        "num_clusters": (32, 64, 128),
        "differential": (False, True),
        "fusion": ("concat", "sum", "image_guided"),
    },
    # Kakao Brain, Table 2: experts, and the conditional chain length.
    "video_moe": {"num_mixtures": (2, 3, 4, 6)},
    "video_conditional": {"conditional_steps": (1, 2, 3, 4, 5)},
    # The starter models' widths.
    "dbof": {"cluster_size": (2048, 4096, 8192), "hidden_dim": (512, 1024)},
    "frame_lstm": {"lstm_units": (512, 1024), "lstm_layers": (1, 2)},
}
