import sys

from keras_gmsa.cli import main

sys.exit(main())
