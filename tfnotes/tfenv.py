"""TensorFlow's environment, set up once, before TensorFlow is first imported.

Every module of the library that needs TensorFlow takes it from here (`from tfnotes.tfenv import tf`),
so the settings below always come first, whichever script starts.
"""
import os

# TensorFlow's C++ start-up chatter is not for students; TF_CPP_MIN_LOG_LEVEL=0 shows it again.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN kernels roughly double LeNet-5 training speed on x86 CPUs where TensorFlow leaves them off
# by default; it must be set before TensorFlow is imported. TF_ENABLE_ONEDNN_OPTS=0 turns it off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import tensorflow as tf2  # noqa: E402  (TF2's API: SavedModel loading, TFLite; the lessons use tf below)
import tensorflow.compat.v1 as tf  # noqa: E402

# TF's own deprecation notices (e.g. from the Saver) are not for students either.
tf.get_logger().setLevel("ERROR")

__all__ = ["tf", "tf2"]
