"""Application: recognise handwritten digits and whole numbers in real pictures with a trained MNIST model.

    python mnist_app.py pic/3.png pic/number_2026.png     # files, folders, globs: "pic/number_2026.png: 2026"
    python mnist_app.py                                   # asks, as in the lesson
    python mnist_app.py --single photo.jpg                # the course's reading: one digit per picture
    python mnist_app.py --serve                           # a local web page: draw or upload, see what it reads

The course's three steps, each here under its own name:
  pre_pic(picture)      makes a photo look like an MNIST digit (tfnotes/pictures.py): EXIF orientation,
                        grey, ink polarity, background and lighting removed, specks and frames dropped,
                        crop, thin strokes thickened, longer side 20 px, centred by mass in 28x28;
  restore_model(...)    the course's graph (placeholder, forward(x, None), argmax) and a Saver of the
                        moving-average weights, restored once for all pictures; the web page uses it too;
  application(args)     asks for or expands the pictures, predicts them in one batch and prints each.
A picture may hold a whole number: its digits are found (tfnotes/segment.py), each goes through
pre_pic's steps, and they are read left to right, lines top to bottom (tfnotes/digits.py).
"""
import argparse
import json
import sys

import numpy as np

from tfnotes import collect, digits, inference, pictures, segment, server
from tfnotes.checkpoints import list_checkpoints, newest_first
from tfnotes.cli import HelpFormatter
from tfnotes.errors import CheckpointMismatchError, ConfigError, ModelError, NoCheckpointError
from tfnotes.models import MODELS
from tfnotes.tfenv import tf

import mnist_forward

MOVING_AVERAGE_DECAY = 0.99  # the training's; restoring the averages reads only their names, not the decay


def pre_pic(picture, name=None):
    """A decoded picture of one digit -> float32 [28, 28] in [0, 1], MNIST style; ImageError if none is found."""
    return pictures.preprocess(picture, name=name)


def restore_model(model="fc", model_dir=None):
    """The trained network `model` (fc, or lenet5) with the moving-average weights of its newest readable
    checkpoint, as an inference.Model (predict, classify). NoCheckpointError or CheckpointMismatchError
    with a message that names the fix."""
    spec = MODELS[model]
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, mnist_forward.INPUT_NODE])
        y = spec.forward(x, False, None)   # mnist_forward.forward(x, None); with --model lenet5, LeNet-5's
        preValue = tf.argmax(y, 1)
        probabilities = tf.nn.softmax(y)   # how sure, for --top-k and for telling touching digits apart
        variable_averages = tf.train.ExponentialMovingAverage(MOVING_AVERAGE_DECAY)
        variables_to_restore = variable_averages.variables_to_restore()
        saver = tf.train.Saver(variables_to_restore)
        sess = tf.Session()   # kept open in the Model: one restore serves every picture
        try:
            model_dir = model_dir or spec.model_dir
            for path, attempt in newest_first(list_checkpoints(model_dir), spec, model_dir):
                with attempt:              # a damaged checkpoint is named, and the next older one tried
                    saver.restore(sess, path)
                    return inference.Model(sess, x, probabilities, preValue, path, spec)
        except BaseException:              # no readable checkpoint, another network's, Ctrl-C: no session left
            sess.close()
            raise


def ask_paths(ask=None):
    """The lesson's interactive way: the number of pictures, then each path."""
    ask = ask or input
    while True:
        answer = ask("input the number of test pictures:").strip()
        if answer.isdigit() and int(answer) > 0:
            break
        print(f"'{answer}' is not a positive whole number, try again", file=sys.stderr)
    return [ask("the path of test picture:").strip() for _ in range(int(answer))]


def application(args, names, course_lines=False):
    """Predict every picture in `names` with one model load and one batch; print; return the exit code.
    course_lines: print the lesson's answer line, "The prediction number is: N", for each picture."""
    items = digits.expand_inputs(names)
    with load(args.model, args.model_dir) as model:
        if args.single:   # the course's reading: the whole picture is one digit
            batch, entries, decoded = digits.prepare_all(items, bool(args.save_debug), pre_pic)
        else:             # every digit in the picture, left to right; the model helps split touching ones
            batch, entries, decoded = digits.prepare_numbers(items, model.predict, args.digits,
                                                             bool(args.save_debug), pre_pic)
        probs = model.predict(batch) if len(batch) else np.zeros((0, 10), np.float32)
    found = digits.results(entries, probs, args.top_k, batch if args.inputs else None)
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=1))
    for result in found:
        if "error" in result:
            print(f"error: {result['error']}", file=sys.stderr)
        elif course_lines and not args.json:
            print(f"The prediction number is: {result.get('number', result.get('digit'))}")
        elif not args.json:
            print(digits.format_line(result))
    if args.save_debug:
        for n, (entry, picture) in enumerate(zip((e for e in entries if "error" not in e), decoded)):
            digits.save_debug(args.save_debug, n, entry, picture, batch, probs)
    return 1 if any("error" in r for r in found) else 0


def load(model, model_dir=None):
    """restore_model(), with its errors as a ModelError (exit status 2)."""
    try:
        return restore_model(model, model_dir)
    except (NoCheckpointError, CheckpointMismatchError) as exc:
        raise ModelError(str(exc)) from None


def serve(args):
    """--serve: the page and its API (tfnotes/server.py), the networks loaded once, until Ctrl-C."""
    models = {args.model: load(args.model, args.model_dir)}
    models.update(server.trained_models(restore_model, exclude=models))   # the page's model switch
    with server.Predictor(models, args.model) as predictor, \
            server.make_server(predictor, args.host, args.port, allow_hosts=args.allow_host,
                               collection=collect.Collection(args.collect_dir)) as httpd:
        if not server.is_loopback(args.host):
            print(f"warning: --host {args.host}: the page is reachable from the network, by anyone who can "
                  "reach this machine", file=sys.stderr)
        steps = ", ".join(f"{name} step {m.step}" for name, m in models.items())
        print(f"serving the digit page at {server.address(httpd)}  ({steps}); Ctrl-C to stop", flush=True)
        server.serve_until_stopped(httpd)
    print("stopped", flush=True)
    return 0


def build_parser():
    p = argparse.ArgumentParser(
        description="Read the handwritten digits, and whole numbers, in each picture with a trained MNIST model.",
        formatter_class=HelpFormatter)
    p.add_argument("images", nargs="*", default=[],
                   help="pictures, folders or glob patterns; none: ask for them as in the lesson")
    p.add_argument("--model", choices=tuple(MODELS), default="fc", help="which trained lesson network to use")
    p.add_argument("--model-dir", default=None,
                   help="checkpoint folder (default: the model's own, <repo>/model or <repo>/lenet5/model)")
    p.add_argument("--top-k", type=int, default=1, help="also show the next most likely digits")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of lines")
    p.add_argument("--inputs", action="store_true",
                   help="with --json: add each digit's 28x28 input as rows of 0..255, what the model sees")
    p.add_argument("--save-debug", metavar="DIR", default=None,
                   help="write a PNG per picture into DIR: the picture with numbered boxes, each box's 28x28 "
                        "input and its reading (default: none written)")
    p.add_argument("--single", action="store_true",
                   help="read each picture as one digit (the course's way), without looking for several")
    p.add_argument("--digits", type=int, default=None, metavar="N",
                   help="how many digits each picture holds, which helps split touching digits (default: found out "
                        "in each picture)")
    p.add_argument("--serve", action="store_true",
                   help="serve a web page to draw or upload digits and see what the model reads (no pictures)")
    p.add_argument("--port", type=int, default=8000, help="with --serve: the port (0: any free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="with --serve: the address to listen on; 0.0.0.0 opens the page to the network")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="with --serve: also answer requests addressed to NAME (repeat for more names), e.g. this "
                        "machine's name on the network; always answered: localhost, 127.0.0.1, [::1] and the "
                        "--host address, and with a --host open to the network any IP address; any other name is "
                        "refused (421), as a web page elsewhere may point its own name here (DNS rebinding) "
                        "(default: no other name)")
    p.add_argument("--collect", action="store_true",
                   help="save the pictures (one digit each, the digit --label) as samples of your handwriting into "
                        "--collect-dir, instead of reading them (docs/your_handwriting.md)")
    p.add_argument("--label", default=None, help="with --collect: the digit the pictures show (default: none given)")
    p.add_argument("--collect-dir", default=server.DEFAULT_COLLECT_DIR,
                   help="your handwriting's folder, for --collect and the web page's Collect tab")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not 1 <= args.top_k <= 10:
        print(f"error: --top-k must be between 1 and 10, not {args.top_k}", file=sys.stderr)
        return 2
    if args.digits is not None and not 1 <= args.digits <= segment.MAX_DIGITS:
        print(f"error: --digits must be between 1 and {segment.MAX_DIGITS}, not {args.digits}", file=sys.stderr)
        return 2
    if args.serve:
        return main_serve(args)
    if args.collect:   # samples of your handwriting, for fine-tuning (tfnotes/collect.py)
        try:
            return collect.add_pictures(args.collect_dir, args.label, args.images)
        except ConfigError as exc:
            print(f"error: {exc}; use --collect --label N picture ...", file=sys.stderr)
            return 2
    try:
        names = args.images or ask_paths()
    except (EOFError, KeyboardInterrupt):
        print("\nno pictures given", file=sys.stderr)
        return 2
    try:
        return application(args, names, course_lines=not args.images)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main_serve(args):
    if args.images:
        print("error: --serve takes no pictures: open the page and draw or upload them there", file=sys.stderr)
        return 2
    try:
        return serve(args)
    except (ModelError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:   # Ctrl-C while the model loads
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
