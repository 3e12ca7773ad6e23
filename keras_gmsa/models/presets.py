"""Named configurations of the zoo's models: the papers' own settings.

The GMSA paper's Table 1 configurations (``gateop_tp30``, ...) and Kakao
Brain's six ensemble members (``kakao_mc_blstm_moe2``, ...).

``build_model(preset)`` builds the preset's model with the preset's
options (options given to `build_model` win), named after the preset (so
the six Kakao members make an ensemble as they are). A preset is a name a
user can ask for, with the paper that defines it and, where the paper
reports one, the size it reports.

Kakao Brain's six ensemble members (Kim et al. 2018, sec. 5). The paper
names each member's fusion (MC concatenation, MA audio-guided, MS
image-guided attention with w = 5), aggregator, head and NetVLAD cluster
count, and reports their sizes: 162M, 163M, 168M, 138M, 136M and 200M
(read here as MiB of float32 weights, as `ls -h` prints a checkpoint).
It gives no widths. The BLSTM widths and the NetVLAD hidden widths below
are chosen so each member has the reported size (within 1%,
``tests/test_protocols.py``); everything else is the family's default
(`keras_gmsa.models.kakao`).

A preset also carries its paper's training recipe (`Recipe`), which
``keras-gmsa train --model PRESET`` and `keras_gmsa.training.train` use
for every key the user does not set. Kakao Brain's (sec. 4): Adam at 1e-3
with a 0.95 learning-rate decay, staircase every 4,000,000 training videos
(the starter code's period), gradients clipped at 5.0 (BLSTM) or 1.0
(NetVLAD) per tensor (``clipping="per_tensor"``, a build option: the
starter code the paper trains with clips each tensor), and, since the
paper states no early stopping, none: a budget of the starter's 5 epochs
of the 3.9M training videos, the best validation GAP kept. GMSA's Table 1
presets carry the GMSA paper's: Adam at 2e-4, the plateau schedule (x0.1
after 3 intervals without a better GAP, stopping after 5). See
docs/faithfulness.md.
"""

import dataclasses
import math

# The 2018 training split as the Kakao paper counts it (sec. 4.1: "the
# 3.9M training clips").
TRAIN_VIDEOS_2018 = 3_900_000


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a paper trains a configuration, as `keras_gmsa.training` keys.

    `keras_gmsa.training.resolve_config` puts a preset's recipe between
    `keras_gmsa.training.DEFAULTS` and the user's config (file, flags or
    dict): each key the user sets wins, the others are the recipe's.

    Attributes:
        optimizer: the optimizer the preset's model compiles with (its
            builder's; recorded to be read, not a config key).
        learning_rate: the initial learning rate.
        schedule: ``"paper"`` (learning rate x `lr_factor` after
            `lr_patience` intervals without a better validation GAP) or
            ``"decay"`` (x `lr_decay` every `lr_decay_examples` training
            videos, staircase).
        lr_decay: the decay factor (``"decay"``).
        lr_decay_examples: training videos per decay step (``"decay"``).
        patience: validation intervals without a better GAP before the run
            stops; None: no early stopping.
        lr_patience: intervals before a plateau drop (``"paper"``).
        lr_factor: the plateau drop (``"paper"``).
        max_videos: the run's budget in training videos, as
            ``max_validations`` (whole intervals, rounded up, at the run's
            batch size and interval); None: the config's
            ``max_validations``.
        source: where the paper says so.
    """

    optimizer: str
    learning_rate: float
    schedule: str
    lr_decay: float = 0.95
    lr_decay_examples: int = 4_000_000
    patience: int | None = 5
    lr_patience: int = 3
    lr_factor: float = 0.1
    max_videos: int | None = None
    source: str = ""

    # Fields that are `keras_gmsa.training` config keys of the same name.
    CONFIG_KEYS = (
        "learning_rate",
        "schedule",
        "lr_decay",
        "lr_decay_examples",
        "patience",
        "lr_patience",
        "lr_factor",
    )

    def config(self):
        """The training config keys the recipe sets (``max_validations``
        comes from `max_validations`, which needs the run's batch size)."""
        return {key: getattr(self, key) for key in self.CONFIG_KEYS}

    def max_validations(self, batch_size, steps_per_validation):
        """Validation intervals that cover `max_videos` (None if unset).

        Args:
            batch_size: training videos per step.
            steps_per_validation: steps per validation interval.

        Returns:
            ``ceil(max_videos / (batch_size * steps_per_validation))``.
        """
        if self.max_videos is None:
            return None
        return math.ceil(self.max_videos / (batch_size * steps_per_validation))


# Kim et al. 2018, sec. 4.2: "Adam optimizer with ... a learning rate of
# 0.001 and a learning rate decay of 0.95"; the decay period and the
# budget are the starter's train.py defaults (4,000,000 examples, 5
# epochs), which the paper's pipeline used; no early stopping is stated.
KAKAO_RECIPE = Recipe(
    optimizer="adam",
    learning_rate=1e-3,
    schedule="decay",
    lr_decay=0.95,
    lr_decay_examples=4_000_000,
    patience=None,
    max_videos=5 * TRAIN_VIDEOS_2018,
    source="Kim et al. 2018, sec. 4.2; starter train.py defaults",
)

# Sahu and Goyal 2022, sec. 3: Adam at 2e-4, batch 64, validation GAP every
# 10,000 steps, learning rate x0.1 after 3 intervals without improvement,
# early stopping after 5.
GMSA_RECIPE = Recipe(
    optimizer="adam",
    learning_rate=2e-4,
    schedule="paper",
    patience=5,
    lr_patience=3,
    lr_factor=0.1,
    source="Sahu and Goyal 2022, sec. 3",
)


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named configuration: `model` built with `options`, trained by
    `recipe` (None: the training defaults)."""

    model: str
    options: dict
    description: str
    paper_mib: float | None = None
    recipe: Recipe | None = None


def _kakao(model, description, mib, **options):
    clip = 5.0 if model == "kakao_blstm" else 1.0
    base = dict(head="moe", clipnorm=clip, clipping="per_tensor")
    options = dict(base, **options)
    return Preset(model, options, description, mib, KAKAO_RECIPE)


PRESETS = {
    "kakao_mc_blstm_moe2": _kakao(
        "kakao_blstm",
        "Kakao Brain member 1, MC-BLSTM-MoE2 (162M)",
        162,
        fusion="concat",
        lstm_units=784,
        num_mixtures=2,
    ),
    "kakao_ma_blstm_moe2": _kakao(
        "kakao_blstm",
        "Kakao Brain member 2, MA-BLSTM-MoE2 (163M)",
        163,
        fusion="audio_guided",
        window=5,
        lstm_units=784,
        num_mixtures=2,
    ),
    "kakao_mc_blstm_cg_moe2": _kakao(
        "kakao_blstm",
        "Kakao Brain member 3, MC-BLSTM-CG-MoE2 (168M)",
        168,
        fusion="concat",
        lstm_units=768,
        num_mixtures=2,
        head="cg_moe",
    ),
    "kakao_mc_netvlad_diff_c64_moe4": _kakao(
        "kakao_netvlad",
        "Kakao Brain member 4, MC-NetVLAD-diff-C64-MoE4 (138M)",
        138,
        fusion="concat",
        differential=True,
        num_clusters=64,
        hidden_dim=196,
        num_mixtures=4,
    ),
    "kakao_ms_netvlad_c64_moe4": _kakao(
        "kakao_netvlad",
        "Kakao Brain member 5, MS-NetVLAD-C64-MoE4 (136M)",
        136,
        fusion="image_guided",
        window=5,
        num_clusters=64,
        hidden_dim=352,
        num_mixtures=4,
    ),
    "kakao_mc_netvlad_c128_moe4": _kakao(
        "kakao_netvlad",
        "Kakao Brain member 6, MC-NetVLAD-C128-MoE4 (200M)",
        200,
        fusion="concat",
        num_clusters=128,
        hidden_dim=288,
        num_mixtures=4,
    ),
}

# The GMSA paper's Table 1 (Sahu and Goyal 2022): the configurations it
# reports, with their test GAP / MAP (%). Default widths reproduce the
# paper's model sizes (keras_gmsa.models.gmsa).
_TABLE_1 = (
    ("shareatt_bd", "shareatt", dict(mask="bd"), "85.18 / 44.81"),
    ("shareatt_tp", "shareatt", dict(mask="tp"), "85.25 / 45.04"),
    ("shareatt_td", "shareatt", dict(mask="td"), "85.16 / 44.69"),
    ("gateatt_bd10", "gateatt", dict(mask="bd10"), "85.21 / 44.89"),
    ("gateatt_tp10", "gateatt", dict(mask="tp10"), "85.30 / 45.28"),
    ("gateatt_td80_5", "gateatt", dict(mask="td80/5"), "85.30 / 45.31"),
    ("gateop_bd20", "gateop", dict(mask="bd20"), "86.03 / 47.03"),
    ("gateop_tp30", "gateop", dict(mask="tp30"), "86.13 / 47.49"),
    ("gateop_td60_4", "gateop", dict(mask="td60/4"), "85.99 / 46.98"),
)
for _name, _model, _options, _scores in _TABLE_1:
    PRESETS[_name] = Preset(
        _model,
        _options,
        f"GMSA Table 1, {_model} {_options['mask']} (test GAP / MAP {_scores})",
        recipe=GMSA_RECIPE,
    )
GMSA_TABLE_1 = tuple(row[0] for row in _TABLE_1)

# Kakao's ensemble, in the paper's order.
KAKAO_MEMBERS = tuple(name for name in PRESETS if name.startswith("kakao_"))


def list_presets(with_descriptions=False):
    """Names of every preset, sorted (``{name: description}`` if asked)."""
    names = sorted(PRESETS)
    if with_descriptions:
        return {n: PRESETS[n].description for n in names}
    return names


def get_preset(name):
    """The `Preset` called `name`, or None."""
    return PRESETS.get(name)


def get_recipe(name):
    """The training `Recipe` of the preset called `name`, or None (not a
    preset, or a preset without one)."""
    preset = PRESETS.get(name)
    return preset.recipe if preset is not None else None
