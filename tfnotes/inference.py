"""Inference: a trained network restored from its newest checkpoint, predicting probabilities.

The network runs with the moving-average (shadow) weights, as the course's test and app did.
"""
import os

import numpy as np

from tfnotes.checkpoints import CheckpointVanished, checkpoint_step, list_checkpoints, no_checkpoint_message, restore
from tfnotes.errors import NoCheckpointError
from tfnotes.models import get_spec
from tfnotes.precision import session_config
from tfnotes.tfenv import tf

EVAL_BATCH = 1000         # images per sess.run: bounds the memory of bigger networks
# The decay plays no part in restoring (only the shadow variables' names do); the course's value.
MOVING_AVERAGE_DECAY = 0.99


def build_inference(spec):
    """In the current graph: (x placeholder [None,784], logits, saver of the moving-average weights)."""
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    logits = spec.build_logits(x, False, None)
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
    """A restored network: predict(images) -> probabilities [N,10]. Use load_model() to make one."""

    def __init__(self, spec, checkpoint_path, precision="fp32"):
        self.spec, self.checkpoint_path = spec, checkpoint_path
        self.step = checkpoint_step(checkpoint_path)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.x, logits, saver = build_inference(spec)
            self.probs = tf.nn.softmax(logits)
        self.graph.finalize()
        self.sess = tf.Session(graph=self.graph, config=session_config(precision))
        try:
            restore(saver, self.sess, checkpoint_path, spec)
        except BaseException:
            self.sess.close()
            raise

    def predict(self, images):
        images = np.asarray(images, dtype=np.float32)
        if images.ndim not in (2, 3) or images.shape[1:] not in ((784,), (28, 28)):
            raise ValueError(f"predict() takes images of shape [N,784] or [N,28,28], got {images.shape}")
        return predict_batches(self.sess, self.x, self.probs, images)

    def close(self):
        self.sess.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def load_model(model="fc", model_dir=None, precision="fp32"):
    """The network `model` (a name in MODELS, or a ModelSpec) with the moving-average weights of the
    newest checkpoint in model_dir (None: the model's own folder).

    precision: "fp32", or "bf16" for bfloat16 mixed precision (tfnotes.precision; ConfigError on a
    processor without bfloat16 instructions).
    Falls back to an older checkpoint if the newest vanishes while being read; raises
    NoCheckpointError (naming the folder and the training command) when there is none.
    """
    spec = get_spec(model) if isinstance(model, str) else model
    model_dir = os.path.abspath(model_dir or spec.model_dir)
    session_config(precision)  # refuses bf16 where it cannot run, whatever the folder holds
    for path in list_checkpoints(model_dir):
        try:
            return Model(spec, path, precision)
        except CheckpointVanished:
            continue
    raise NoCheckpointError(no_checkpoint_message(spec, model_dir))
