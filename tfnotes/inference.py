"""Inference: a trained network restored from its newest checkpoint, predicting probabilities.

The network runs with the moving-average (shadow) weights, as the course's test and app did. The app's
restore_model() (mnist_app.py) builds the course's graph and hands it to Model; load_model() is the same
for code outside the lesson scripts (the export, benchmarks, your own programs).
"""
import os

import numpy as np

from tfnotes.checkpoints import checkpoint_step, list_checkpoints, newest_first
from tfnotes.models import get_spec
from tfnotes.precision import session_config
from tfnotes.tfenv import tf

EVAL_BATCH = 1000         # images per sess.run: bounds the memory of bigger networks
# The decay plays no part in restoring (only the shadow variables' names do); the course's value.
MOVING_AVERAGE_DECAY = 0.99


def build_inference(spec):
    """In the current graph: (x placeholder [None,784], logits, saver of the moving-average weights)."""
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    logits = spec.forward(x, False, None)
    # variables_to_restore() maps each variable to its shadow copy "<name>/ExponentialMovingAverage" in the
    # checkpoint, so the network runs with the averaged weights (the decay value plays no part here).
    ema = tf.train.ExponentialMovingAverage(MOVING_AVERAGE_DECAY)
    saver = tf.train.Saver(ema.variables_to_restore())
    return x, logits, saver


def predict_batches(sess, x, outputs, images):
    """Run `outputs` on images [N,784] (or [N,28,28]) in chunks of EVAL_BATCH; returns the concatenation."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, 784)
    parts = [sess.run(outputs, {x: images[i:i + EVAL_BATCH]}) for i in range(0, len(images), EVAL_BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0,) + tuple(outputs.shape[1:]), np.float32)


class Model:
    """A restored network: predict(images) -> probabilities [N,10], classify(images) -> digits [N].

    sess: a session whose graph feeds images to the placeholder x and computes `probabilities` and `digits`
    (the argmax) with the weights of checkpoint_path, of the network `spec` (a ModelSpec); the Model owns the
    session from then on (close() closes it).
    """

    def __init__(self, sess, x, probabilities, digits, checkpoint_path, spec):
        self.sess, self.x, self.probs, self.digits, self.spec = sess, x, probabilities, digits, spec
        self.checkpoint_path, self.step = checkpoint_path, checkpoint_step(checkpoint_path)
        sess.graph.finalize()  # shared by the server's threads: nothing may add to it

    def _images(self, images):
        images = np.asarray(images, dtype=np.float32)
        if images.ndim not in (2, 3) or images.shape[1:] not in ((784,), (28, 28)):
            raise ValueError(f"images of shape [N,784] or [N,28,28] are needed, got {images.shape}")
        return images

    def predict(self, images):
        """Probabilities [N, 10] of images [N,784] or [N,28,28] in [0, 1], MNIST style."""
        return predict_batches(self.sess, self.x, self.probs, self._images(images))

    def classify(self, images):
        """The most likely digit of each image: int64 [N]."""
        return predict_batches(self.sess, self.x, self.digits, self._images(images))

    def close(self):
        self.sess.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def load_model(model="fc", model_dir=None, precision="fp32"):
    """The network `model` (a name in MODELS, or a ModelSpec) with the moving-average weights of the
    newest readable checkpoint in model_dir (None: the model's own folder).

    precision: "fp32", or "bf16" for bfloat16 mixed precision (tfnotes.precision; ConfigError on a
    processor without bfloat16 instructions).
    A damaged checkpoint is named in a warning and an older one used; raises NoCheckpointError (naming
    the folder and the training command) when there is none (UnreadableCheckpoints when none can be read).
    """
    spec = get_spec(model) if isinstance(model, str) else model
    model_dir = os.path.abspath(model_dir or spec.model_dir)
    config = session_config(precision)  # refuses bf16 where it cannot run, whatever the folder holds
    with tf.Graph().as_default():  # (outside a graph, TF2's Saver.restore would run eagerly)
        x, logits, saver = build_inference(spec)
        probabilities, digits = tf.nn.softmax(logits), tf.argmax(logits, 1)
        sess = tf.Session(config=config)
        try:
            for path, attempt in newest_first(list_checkpoints(model_dir), spec, model_dir):
                with attempt:
                    saver.restore(sess, path)
                    return Model(sess, x, probabilities, digits, path, spec)
        except BaseException:
            sess.close()
            raise
