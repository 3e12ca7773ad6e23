"""YouTube-8M's numbers, in one place (`../shared/yt8m-format.md`).

Readers, the synthetic writer, models, metrics and the command line take
their defaults from here.
"""

# The 2018 vocabulary ("2/" partition): class indices 0 .. 3861.
NUM_CLASSES = 3862

# Frame-level features: bytes per frame (uint8 each), 1 frame per second.
FRAME_FEATURES = {"rgb": 1024, "audio": 128}
# Video-level features: floats per video (means over the frames).
VIDEO_FEATURES = {"mean_rgb": 1024, "mean_audio": 128}

# The official reader keeps the first 300 frames of a video.
MAX_FRAMES = 300

# The 2019 segment task: 5-frame (5 s) segments, ids "<video id>:<start>".
SEGMENT_SIZE = 5

# Official 8-bit quantization of the features (yt8m-format.md 4.1): the
# reader computes x = q * DEQUANTIZE_SCALE + DEQUANTIZE_BIAS in float32.
QUANTIZE_MIN = -2.0
QUANTIZE_MAX = 2.0
DEQUANTIZE_SCALE = (QUANTIZE_MAX - QUANTIZE_MIN) / 255.0
DEQUANTIZE_BIAS = (QUANTIZE_MAX - QUANTIZE_MIN) / 512.0 + QUANTIZE_MIN

# The starter's evaluation keeps each video's top 20 classes (GAP@20).
TOP_K = 20
