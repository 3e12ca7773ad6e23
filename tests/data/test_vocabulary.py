import numpy as np
import pytest

from keras_gmsa import data

# the vocabulary and submissions do not depend on the Keras backend:
# one backend.
pytestmark = pytest.mark.backends("tensorflow")


def test_vocabulary_top_k_and_submission(tmp_path):
    path = tmp_path / "vocabulary.csv"
    path.write_text(
        "Index,TrainVideoCount,KnowledgeGraphId,Name,WikiUrl,Vertical1,"
        "Vertical2,Vertical3,WikiDescription\n"
        '0,378135,/m/03bt1gh,Game,https://x,Games,,,"A game, with comma"\n'
        "1,233311,/m/01mw1,Video game,https://y,Games,,,text\n"
        "2,100,/m/0z,Vehicle,https://z,Autos,,,text\n"
    )
    vocab = data.Vocabulary.load(str(path))
    assert vocab.num_classes == 3 and vocab.name(1) == "Video game"
    assert vocab.name(7) == "class 7"
    preds = np.array([[0.1, 0.9, 0.5], [0.8, 0.2, 0.3]])
    assert data.top_k(preds, 2, vocab) == [
        [("Video game", 0.9), ("Vehicle", 0.5)],
        [("Game", 0.8), ("Vehicle", 0.3)],
    ]
    assert data.top_k(preds, 5)[0] == [(1, 0.9), (2, 0.5), (0, 0.1)]
    out = tmp_path / "submission.csv"
    data.write_submission(str(out), [b"ab12", "cd34"], preds, top=2)
    assert out.read_text().splitlines() == [
        "VideoId,LabelConfidencePairs",
        "ab12,1 0.900000 2 0.500000",
        "cd34,0 0.800000 2 0.300000",
    ]


def test_submission_has_twenty_pairs(tmp_path):
    preds = np.random.default_rng(0).random((3, 50))
    out = tmp_path / "s.csv"
    data.write_submission(str(out), ["a", "b", "c"], preds)
    rows = out.read_text().splitlines()[1:]
    pairs = rows[0].split(",")[1].split()
    assert len(pairs) == 40
    scores = [float(s) for s in pairs[1::2]]
    assert scores == sorted(scores, reverse=True)


def test_bad_vocabulary_is_named(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("Id,Label\n0,x\n")
    with pytest.raises(ValueError, match="missing columns"):
        data.Vocabulary.load(str(path))
    path.write_text("Index,Name\n0,a\nzz,b\n")
    with pytest.raises(ValueError, match="line 3"):
        data.Vocabulary.load(str(path))
