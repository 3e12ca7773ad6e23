import numpy as np
import pytest
from keras import ops

from keras_gmsa import masks
from tests.reference import mask_loops


@pytest.mark.parametrize(
    "spec, kind, W, L",
    [
        ("bd1", "bd", 1, None),
        ("bd20", "bd", 20, None),
        ("bd7", "bd", 7, None),
        ("tp1", "tp", 1, None),
        ("tp30", "tp", 30, None),
        ("tp5", "tp", 5, None),
        ("td4/2", "td", 4, 2),
        ("td60/4", "td", 60, 4),
        ("td9/3", "td", 9, 3),
        ("td6/1", "td", 6, 1),
        ("global", "global", None, None),
    ],
)
@pytest.mark.parametrize("T", [1, 13, 64])
def test_index_rules_match_the_paper_definitions(spec, kind, W, L, T):
    parsed = masks.parse_mask_spec(spec)
    if W is not None and (
        (kind == "bd" and W >= T)
        or (kind == "tp" and W >= T - 1)
        or (kind == "td" and L == 1 and W >= T - 1)
    ):
        with pytest.raises(ValueError, match="global attention"):
            masks.local_mask(parsed, T)
        return
    expected = mask_loops(kind, W, L, T)
    np.testing.assert_array_equal(masks.local_mask(parsed, T), expected)
    symbolic = masks.head_masks_symbolic([parsed], T)
    np.testing.assert_array_equal(ops.convert_to_numpy(symbolic)[0], expected)


def test_paper_figure_2_masks():
    # Fig. 2: BD_3, TP_3 and TD_4^2; check rows by hand.
    bd = masks.local_mask("bd3", 9)
    assert np.flatnonzero(bd[4]).tolist() == [3, 4, 5]
    assert np.flatnonzero(bd[2]).tolist() == [0, 1, 2]
    tp = masks.local_mask("tp3", 9)
    assert np.flatnonzero(tp[4]).tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert np.flatnonzero(tp[0]).tolist() == [0, 1, 2, 3]
    td = masks.local_mask("td4/2", 9)
    assert np.flatnonzero(td[4]).tolist() == [0, 2, 4, 6, 8]
    assert np.flatnonzero(td[3]).tolist() == [1, 3, 5, 7]


def test_block_diagonal_boundaries_are_exact():
    m = masks.local_mask("bd10", 300)
    for start in range(0, 300, 10):
        block = m[start : start + 10]
        assert block[:, start : start + 10].all()
        assert not block[:, :start].any()
        assert not block[:, start + 10 :].any()


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("BD20", "bd20"),
        (" tp 30 ", "tp30"),
        ("TD60/4", "td60/4"),
        (None, "global"),
        ("global", "global"),
    ],
)
def test_spec_round_trip(text, canonical):
    spec = masks.parse_mask_spec(text)
    assert str(spec) == canonical
    assert masks.parse_mask_spec(str(spec)) == spec


@pytest.mark.parametrize(
    "bad, message",
    [
        ("xy10", "Unknown mask spec"),
        ("bd0", "W >= 1"),
        ("tp0", "W >= 1"),
        ("td10", "needs a dilation"),
        ("td10/0", "L >= 1"),
        ("td4/5", "L > W"),
        ("bd10/2", "only 'td'"),
        ("bd-3", "Unknown mask spec"),
        (12, "must be a string"),
    ],
)
def test_bad_specs_raise_and_name_what_is_allowed(bad, message):
    with pytest.raises(ValueError, match=message) as info:
        masks.parse_mask_spec(bad)
    assert "tp30" in str(info.value) or "Allowed" in str(info.value)


def test_mask_spec_validates_kind_and_widths():
    with pytest.raises(ValueError, match="Unknown mask kind"):
        masks.MaskSpec("xx", 3)
    with pytest.raises(ValueError, match="W >= 1"):
        masks.MaskSpec("bd", 0)
    with pytest.raises(ValueError, match="takes no W"):
        masks.MaskSpec("global", 3)


@pytest.mark.parametrize("spec, T", [("bd20", 20), ("tp30", 31), ("bd60", 50)])
def test_masks_equal_to_global_are_refused(spec, T):
    with pytest.raises(ValueError, match="global attention"):
        masks.local_mask(spec, T)


def test_paper_head_sets():
    assert masks.PAPER_HEAD_MASKS["td"] == (
        "td10/2",
        "td30/3",
        "td60/4",
        "td80/5",
    )
    heads = masks.parse_head_masks([None, "tp10", "global", "td80/5"], 4)
    assert [str(h) for h in heads] == ["global", "tp10", "global", "td80/5"]
    with pytest.raises(ValueError, match="one mask spec per head"):
        masks.parse_head_masks(["tp1", "tp2"], 4)
    stacked = masks.head_masks(heads, 100)
    assert stacked.shape == (4, 100, 100)
    assert stacked[0].all() and stacked[2].all()


def test_frame_mask_from_lengths():
    got = ops.convert_to_numpy(
        masks.frame_mask_from_lengths(np.array([0, 2, 9]), 4)
    )
    assert got.tolist() == [[False] * 4, [True, True, False, False], [True] * 4]
