import numpy as np

from keras_gmsa import cli
from keras_gmsa import data


def test_synth_then_verify(tmp_path, capsys):
    out = tmp_path / "synth"
    assert (
        cli.main(
            [
                "synth",
                str(out),
                "--videos",
                "6",
                "--shards",
                "2",
                "--num-classes",
                "20",
                "--max-frames",
                "30",
                "--layouts",
                "frame",
                "video",
            ]
        )
        == 0
    )
    assert "frame    2 shards" in capsys.readouterr().out
    ds = data.frame_dataset(
        str(out / "frame" / "*.tfrecord"),
        batch_size=6,
        num_classes=20,
        max_frames=30,
    )
    features, labels = next(iter(ds))
    assert features["rgb"].shape == (6, 30, 1024)
    assert np.all(labels.numpy().sum(1) >= 1)
    assert cli.main(["verify", str(out / "frame" / "*.tfrecord")]) == 0
    assert "2 files checked, 0 with problems" in capsys.readouterr().out
    shard = out / "frame" / "train0000.tfrecord"
    shard.write_bytes(shard.read_bytes()[:-7])
    assert cli.main(["verify", str(out / "frame" / "*.tfrecord")]) == 1
    assert "train0000.tfrecord: record" in capsys.readouterr().out


def test_models_lists_the_zoo(capsys):
    cli.main(["models"])
    text = capsys.readouterr().out
    assert "gateop" in text and "baseline" in text
