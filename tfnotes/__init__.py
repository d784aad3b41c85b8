"""The library under the course's scripts.

The lesson scripts at the top of the repository (mnist_backward.py, mnist_test.py, mnist_app.py,
mnist_generateds.py, lenet5/, ...) hold the course's recipe and stay short and readable; what the course
lacked, and what the scripts share, lives here, one responsibility per module:

    errors       typed exceptions with messages that say what to do
    atomic       atomic file writes (temporary file, then rename)
    tfenv        TensorFlow's environment, set up once before TensorFlow is imported
    data         MNIST: verified IDX files, download, read_data_sets
    records      TFRecords and image folders + label files
    regions      connected pieces of a stroke mask: boxes, sizes, frames along a picture's edge
    printed      what was printed on the paper: ruled, squared and form lines, boxes around the writing
    pictures     a picture of a digit -> MNIST-style 28x28 input
    segment      the digits of a whole number in a picture: pieces, lines, cuts between touching digits
    touching     three small networks: how many digits in a group? which two? which three?
                 (touching.npz, pairs.npz, triples.npz)
    linereader   a small network that reads a whole line of digits at once (CNN + GRU + CTC, lines.npz)
    digits       reading digits and numbers in picture files: inputs, one batch, results, debug PNGs
    server       the local web page (mnist_app.py --serve) and its HTTP API
    models       the model registry: name -> graph builder and default model folder
    checkpoints  checkpoints, the status file and the model folder
    inference    restore a checkpoint and predict
    progress     progress lines and Ctrl-C handling for long runs
    training     what the lessons' backward() adds to the course's recipe (Run): resume, progress, summaries,
                 Ctrl-C, several steps per call, the training flags
    batches      each step's batch made inside the graph (--feed, --data tfrecords, --own-data, --augment)
    collect      your handwriting saved in the course's layout (the web page's Collect tab, --collect)
    cli          the scripts' help formatter (every flag's default)
    augment      --augment: training images varied inside the graph (rotation, scale, shift, pen width)
    precision    bfloat16 where the processor has it (--precision)
    evaluation   what the lessons' test() adds (Watch): each new checkpoint once, history CSV and PNG
    report       what the model gets wrong: confusion matrix, mistakes, per-class CSV
    export       SavedModel and TFLite export (mnist_export.py)

Imports point one way: scripts -> tfnotes -> graph builders (mnist_forward.py,
lenet5/mnist_lenet5_forward.py), which import only TensorFlow.
"""
