"""Back propagation: train the fully connected MNIST network (the course's mnist_backward.py).

    python mnist_backward.py                  # the course's run: 50,000 steps, checkpoints in ./model/
    python mnist_backward.py --steps 2000     # a short run; run again with a larger --steps to go on
    python mnist_backward.py --fresh          # start afresh; the old run is moved to model/previous/<time>/
    python mnist_backward.py --help           # every flag, with its default

The recipe (八股) of this lesson, as backward() builds it:
  1. forward:  y = mnist_forward.forward(x, REGULARIZER), which also puts the L2 terms in 'losses';
  2. loss:     mean softmax cross-entropy of y + the sum of the 'losses' collection;
  3. learning rate: exponential_decay(LEARNING_RATE_BASE, global_step, examples / BATCH_SIZE,
               LEARNING_RATE_DECAY, staircase=True): decayed once per epoch;
  4. train_step = GradientDescentOptimizer(learning_rate).minimize(loss, global_step), followed by
     ExponentialMovingAverage(MOVING_AVERAGE_DECAY).apply(trainable_variables());
  5. iterate:  STEPS steps of BATCH_SIZE examples; a checkpoint MODEL_SAVE_PATH/MODEL_NAME-<step> every
     1000 steps, with the loss printed.
The code of steps 2-5 is shared with the LeNet-5 lesson: tfnotes/training.py (build_train_ops,
run_steps), which also resumes, handles Ctrl-C, shows progress and writes TensorBoard summaries.
"""
import sys

from tfnotes import training
from tfnotes.errors import CourseError
from tfnotes.models import MODELS

MODEL = MODELS["fc"]  # forward(): mnist_forward.py

# The course's constants; each one is the default of a flag (--batch-size, --learning-rate-base, ...).
BATCH_SIZE = 200
LEARNING_RATE_BASE = 0.1
LEARNING_RATE_DECAY = 0.99
REGULARIZER = 0.0001
STEPS = 50000
MOVING_AVERAGE_DECAY = 0.99
MODEL_SAVE_PATH = MODEL.model_dir  # the course's "./model/", but the same from any working directory
MODEL_NAME = "mnist_model"


def backward(args):
    """Train (or resume) the network as the flags in `args` say; returns the run's summary dict."""
    return training.train(MODEL, args)


def main(argv=None):
    args = training.parse_args(MODEL, globals(), argv)
    try:
        return backward(args)["exit_code"]
    except CourseError as e:   # bad flags or data, a foreign checkpoint, Ctrl-C: the message says what to do
        print(e.report(), file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
