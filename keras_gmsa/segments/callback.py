"""The 2019 segment MAP as a Keras callback (``val_segment_map``)."""

import keras

from keras_gmsa.progress import Progress
from keras_gmsa.segments.metric import TOP_N
from keras_gmsa.segments.scoring import evaluate_segments
from keras_gmsa.segments.scoring import frame_features
from keras_gmsa.segments.scoring import ratings_of


class SegmentMetrics(keras.callbacks.Callback):
    """The 2019 segment MAP on segment-rated records at each epoch's end,
    as ``val_segment_map`` in the logs: `evaluate_segments`, every
    segment of the records ranked (the official protocol), with the
    windows scorer by default.

    Args:
        pattern: segment-rated validation records.
        top_n: segments ranked per class (100,000 on Kaggle).
        steps: at most this many batches (None: all).
        batch_size: segments (windows) or videos (pooled) per batch.
        scorer: ``"windows"`` or ``"pooled"``.
        progress: draw a progress bar on standard error when it is a
            terminal.
        loader: what reads the records (`keras_gmsa.loaders.resolve_loader`;
            a run's ``loader``).
        num_workers: worker processes of the Grain and PyTorch loaders.
        **reader: reader options (``on_error``, ``id_split``).
    """

    def __init__(
        self,
        pattern,
        top_n=TOP_N,
        steps=None,
        batch_size=256,
        scorer="windows",
        progress=True,
        loader="auto",
        num_workers=0,
        **reader,
    ):
        super().__init__()
        self.progress = progress
        self.pattern = pattern
        self.top_n = top_n
        self.steps = steps
        self.batch_size = batch_size
        self.scorer = scorer
        self.reader = {k: v for k, v in reader.items() if v is not None}
        self.reader.update(loader=loader, num_workers=num_workers)

    def evaluate(self):
        num_classes = int(self.model.output_shape[-1])
        if not hasattr(self, "_ratings"):
            self._ratings = ratings_of(
                self.pattern,
                num_classes,
                features=frame_features(self.model),
                **self.reader,
            )
        result = evaluate_segments(
            self.model,
            self.pattern,
            scorer=self.scorer,
            top_n=self.top_n,
            ratings=self._ratings,
            steps=self.steps,
            batch_size=self.batch_size,
            progress=Progress(unit_name="segment", enabled=self.progress),
            **self.reader,
        )
        return {"segment_map": result["segment_map"]}

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for key, value in self.evaluate().items():
            logs["val_" + key] = value
