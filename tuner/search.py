"""Entry point of the GMSA mask search: the same code as `keras-gmsa tune`.

    python tuner/search.py --directory runs/tune \\
        --train 'data/frame/train*.tfrecord' \\
        --validation 'data/frame/validate*.tfrecord' \\
        --tuner bayesian --max-trials 30 --epochs 3 --steps-per-epoch 1000

Run the same command again to resume. See tuner/README.md.
"""

import sys

from keras_gmsa import cli

if __name__ == "__main__":
    sys.exit(cli.main(["tune", *sys.argv[1:]]))
