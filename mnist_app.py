"""Application: recognise handwritten digits in real pictures with a trained MNIST model.

    python mnist_app.py pic/3.png photos/ "scans/*.jpg"   # files, folders, globs
    python mnist_app.py                                   # asks, as in the lesson

The course's three steps, each here under its own name:
  pre_pic(picture)      makes a photo look like an MNIST digit (tfnotes/pictures.py): EXIF orientation,
                        grey, ink polarity, background and lighting removed, specks and frames dropped,
                        crop, thin strokes thickened, longer side 20 px, centred by mass in 28x28;
  restore_model(...)    rebuilds the network and restores its moving-average weights, once for all
                        pictures (tfnotes/inference.py);
  application(args)     asks for or expands the pictures, predicts them in one batch and prints each.
"""
import argparse
import json
import sys

import numpy as np

from tfnotes import digits, inference, pictures
from tfnotes.errors import CheckpointMismatchError, ModelError, NoCheckpointError
from tfnotes.models import MODELS


def pre_pic(picture, name=None):
    """A decoded picture of one digit -> float32 [28, 28] in [0, 1], MNIST style; ImageError if none is found."""
    return pictures.preprocess(picture, name=name)


def restore_model(model="fc", model_dir=None):
    """The trained network with its moving-average weights; ModelError (naming the fix) if it cannot load."""
    try:
        return inference.load_model(model, model_dir)
    except (NoCheckpointError, CheckpointMismatchError, ValueError) as exc:
        raise ModelError(str(exc)) from None


def ask_paths(ask=None):
    """The lesson's interactive way: the number of pictures, then each path."""
    ask = ask or input
    while True:
        answer = ask("input the number of test pictures:").strip()
        if answer.isdigit() and int(answer) > 0:
            break
        print(f"'{answer}' is not a positive whole number, try again", file=sys.stderr)
    return [ask("the path of test picture:").strip() for _ in range(int(answer))]


def application(args, names):
    """Predict every picture in `names` with one model load and one batch; print; return the exit code."""
    with restore_model(args.model, args.model_dir) as model:
        batch, entries, decoded = digits.prepare_all(digits.expand_inputs(names), bool(args.save_debug), pre_pic)
        probs = model.predict(batch) if len(batch) else np.zeros((0, 10), np.float32)
    found = digits.results(entries, probs, args.top_k)
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=1))
    for result in found:
        if "error" in result:
            print(f"error: {result['error']}", file=sys.stderr)
        elif not args.json:
            print(digits.format_line(result))
    if args.save_debug:
        for n, entry in enumerate(e for e in entries if "row" in e):
            row = entry["row"]
            digits.save_debug(args.save_debug, n, entry["path"], decoded[row], batch[row], probs[row])
    return 1 if any("error" in r for r in found) else 0


def build_parser():
    p = argparse.ArgumentParser(
        description="Recognise the handwritten digit in each picture with a trained MNIST model.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("images", nargs="*", default=[],
                   help="pictures, folders or glob patterns; none: ask for them as in the lesson")
    p.add_argument("--model", choices=tuple(MODELS), default="fc", help="which trained lesson network to use")
    p.add_argument("--model-dir", default=None,
                   help="checkpoint folder; None means the model's own: <repo>/model, <repo>/lenet5/model")
    p.add_argument("--top-k", type=int, default=1, help="also show the next most likely digits")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of lines")
    p.add_argument("--save-debug", metavar="DIR", default=None,
                   help="write picture | 28x28 input | probabilities as a PNG per picture into DIR")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not 1 <= args.top_k <= 10:
        print(f"error: --top-k must be between 1 and 10, not {args.top_k}", file=sys.stderr)
        return 2
    try:
        names = args.images or ask_paths()
    except (EOFError, KeyboardInterrupt):
        print("\nno pictures given", file=sys.stderr)
        return 2
    try:
        return application(args, names)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
