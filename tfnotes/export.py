"""Export a trained network for use outside these scripts: a SavedModel, a TFLite model and export.json.

The SavedModel holds the moving-average weights (what mnist_test.py evaluates). Its signature
`serving_default` takes `images`, float32 [None, 784] in [0, 1] (MNIST style: light digit on black),
and returns `probabilities`, float32 [None, 10], and `digits`, int64 [None]. It loads with
tf.saved_model.load and in TF Serving. model.tflite is converted from it.

Everything is written into a temporary folder beside --out and renamed into place when complete, so
an interrupted export never leaves a half-written model under the final name.
"""
import datetime
import json
import os
import shutil
import tempfile
import warnings

import numpy as np

from tfnotes.atomic import replace_dir, usual_mode
from tfnotes.checkpoints import restore
from tfnotes.errors import ConfigError
from tfnotes.inference import build_inference
from tfnotes.tfenv import tf, tf2

SIGNATURE = "serving_default"
SAVED_MODEL_DIR = "saved_model"
TFLITE_FILE = "model.tflite"
INFO_FILE = "export.json"


def check_out_dir(out_dir, force):
    """Refuse an existing folder with content unless `force`; a file in its place is always refused."""
    if os.path.isfile(out_dir):
        raise ConfigError(f"--out {out_dir} is a file; give a folder")
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not force:
        raise ConfigError(f"--out {out_dir} exists and is not empty; choose another folder, or add --force to "
                          "replace its content")


def write_saved_model(spec, checkpoint_path, target):
    """The network with the checkpoint's moving-average weights as a SavedModel in `target` (must not exist)."""
    graph = tf.Graph()
    with graph.as_default():
        x, logits, saver = build_inference(spec)
        probabilities = tf.nn.softmax(logits, name="probabilities")
        digits = tf.argmax(logits, 1, output_type=tf.int64, name="digits")
        with tf.Session(graph=graph) as sess:
            restore(saver, sess, checkpoint_path, spec)
            builder = tf.saved_model.Builder(target)
            signature = tf.saved_model.predict_signature_def(
                inputs={"images": x}, outputs={"probabilities": probabilities, "digits": digits})
            builder.add_meta_graph_and_variables(sess, [tf.saved_model.tag_constants.SERVING],
                                                 signature_def_map={SIGNATURE: signature}, strip_default_attrs=True)
            builder.save()


def write_tflite(saved_model_dir, target):
    """Convert the SavedModel to TFLite; returns None, or the reason the installed TensorFlow could not."""
    try:
        converter = tf2.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[SIGNATURE])
        flat = converter.convert()
    except Exception as e:  # any converter failure: the SavedModel is still useful on its own
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else 'no message'}"
    with open(target, "wb") as f:
        f.write(flat)
    return None


def saved_model_probabilities(saved_model_dir, images, batch=1000):
    """Probabilities [N, 10] from the exported SavedModel, loaded the way a user would (tf.saved_model.load)."""
    loaded = tf2.saved_model.load(saved_model_dir)
    serve = loaded.signatures[SIGNATURE]
    parts = [serve(images=tf2.constant(images[i:i + batch]))["probabilities"].numpy()
             for i in range(0, len(images), batch)]
    return np.concatenate(parts)


def tflite_probabilities(tflite_path, images, batch=1000):
    """Probabilities [N, 10] from the TFLite model, run by the TFLite interpreter."""
    with warnings.catch_warnings():  # TF 2.20+ points to LiteRT's interpreter; tf.lite's still runs the model
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf2.lite.Interpreter(model_path=tflite_path)
    runner = interpreter.get_signature_runner(SIGNATURE)
    parts = [runner(images=images[i:i + batch])["probabilities"] for i in range(0, len(images), batch)]
    return np.concatenate(parts)


def export(model, out_dir, images, labels, force=False):
    """Export `model` (a loaded tfnotes.inference.Model) into out_dir; returns the export.json dict.

    images/labels (the MNIST test set) measure the exported models against the checkpoint.
    """
    out_dir = os.path.abspath(out_dir)
    check_out_dir(out_dir, force)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out_dir)}.", suffix=".tmp")
    usual_mode(work, directory=True)
    try:
        info = _export_into(model, work, images, labels)
        replace_dir(work, out_dir)  # an existing --out (with --force) is deleted only once this one is in
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return info


def _export_into(model, work, images, labels):
    saved = os.path.join(work, SAVED_MODEL_DIR)
    write_saved_model(model.spec, model.checkpoint_path, saved)
    reference = model.predict(images)
    exported = saved_model_probabilities(saved, images)
    accuracy = float(np.mean(exported.argmax(1) == labels))
    info = dict(model=model.spec.name, checkpoint=os.path.basename(model.checkpoint_path),
                checkpoint_step=model.step, test_accuracy=accuracy,
                checkpoint_test_accuracy=float(np.mean(reference.argmax(1) == labels)),
                saved_model_max_abs_diff=float(np.abs(exported - reference).max()),
                tensorflow_version=tf2.__version__, test_images=len(images),
                exported=datetime.datetime.now().isoformat(timespec="seconds"),
                signature=dict(name=SIGNATURE, inputs={"images": "float32 [None, 784] in [0, 1]"},
                               outputs={"probabilities": "float32 [None, 10]", "digits": "int64 [None]"}))
    failure = write_tflite(saved, os.path.join(work, TFLITE_FILE))
    if failure is None:
        lite = tflite_probabilities(os.path.join(work, TFLITE_FILE), images)
        info.update(tflite=TFLITE_FILE, tflite_test_accuracy=float(np.mean(lite.argmax(1) == labels)),
                    tflite_max_abs_diff=float(np.abs(lite - reference).max()))
    else:
        info.update(tflite=None, tflite_error=failure)
    with open(os.path.join(work, INFO_FILE), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    return info


