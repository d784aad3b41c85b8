"""VGG16 (Simonyan & Zisserman, 2014) in TensorFlow 1 style, and its weights files.

The network is built from a weights mapping ``{layer: [W, b]}`` with the layer names
conv1_1 ... conv5_3, fc6, fc7, fc8.  The weights go into TensorFlow variables that are
filled once through placeholders, so the graph itself stays a few kilobytes; the
course instead embedded them as constants, which kept a second (and, inside the
GraphDef, a third) copy of the 553 MB in memory.

Weights files:
- ``.npz`` (preferred): plain arrays ``<layer>/W`` and ``<layer>/b``, float32, no pickle.
  ``convert_weights.py`` writes it, from the course's ``vgg16.npy`` or from Keras.
- ``.npy``: the course's pickled dict.  Unpickling can run code hidden in the file, so
  it is only done when the file's SHA-1 is the known one or the user allows it.
"""
import hashlib
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tfnotes.tfenv import tf

from vgg16.utils import atomic_output

HERE = Path(__file__).resolve().parent

IMAGE_SIZE = 224
NUM_CLASSES = 1000
# Mean pixel of the training set in BGR order on the 0-255 scale; subtracting it is
# the preprocessing the weights were trained with (Keras calls it 'caffe' mode).
VGG_MEAN = (103.939, 116.779, 123.68)

# The course's pickled weights file (553 MB).
COURSE_NPY_SHA1 = "6206897b35c2bfe5d9d16b83314e44fc3ea83b1c"
# Where the app looks when no --weights is given; the .npz wins when both exist.
DEFAULT_WEIGHTS = (HERE / "vgg16.npz", HERE / "vgg16.npy")

# (number of 3x3 conv layers, output channels) of the five blocks, each ending in a 2x2 pool.
BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def _layer_shapes():
    shapes, c_in = {}, 3
    for block, (n_conv, c_out) in enumerate(BLOCKS, start=1):
        for i in range(1, n_conv + 1):
            shapes[f"conv{block}_{i}"] = ((3, 3, c_in, c_out), (c_out,))
            c_in = c_out
    side = IMAGE_SIZE // 2 ** len(BLOCKS)  # 224 / 32 = 7
    shapes["fc6"] = ((side * side * c_in, 4096), (4096,))
    shapes["fc7"] = ((4096, 4096), (4096,))
    shapes["fc8"] = ((4096, NUM_CLASSES), (NUM_CLASSES,))
    return shapes


# {layer: (W shape, b shape)} in network order.
LAYER_SHAPES = _layer_shapes()
LAYERS = tuple(LAYER_SHAPES)
WEIGHTS_DTYPE = np.dtype(np.float32)


class WeightsError(ValueError):
    """A weights file or mapping that cannot be used; the message says why and what to do."""


HOW_TO_GET_WEIGHTS = f"""\
How to get the VGG16 weights (about 530 MB), either way:
  1. The course's file vgg16.npy (SHA-1 {COURSE_NPY_SHA1}): put it at
     {DEFAULT_WEIGHTS[1]}
     and, once, convert it to a pickle-free copy that is then used instead:
       python vgg16/convert_weights.py npy {DEFAULT_WEIGHTS[1]}
  2. Keras's ImageNet weights: on a machine with internet run
       python vgg16/convert_weights.py keras --out {DEFAULT_WEIGHTS[0]}
     (Keras downloads vgg16_weights_tf_dim_ordering_tf_kernels.h5 into ~/.keras/models/),
     or convert an .h5 you already have:
       python vgg16/convert_weights.py keras --h5 PATH/TO/vgg16_weights_tf_dim_ordering_tf_kernels.h5
Then pass --weights PATH, or leave it out to use {DEFAULT_WEIGHTS[0].name} / {DEFAULT_WEIGHTS[1].name} in {HERE}."""


# ---------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------
class Vgg16:
    """VGG16 inference graph whose weights live in variables filled from ``weights``.

    Use: ``vgg = Vgg16(weights); vgg.forward(images); vgg.load(sess)``, then run ``vgg.prob``.
    ``weights`` is checked here (layers, shapes, dtypes) and read layer by layer in ``load``,
    after which this object no longer holds it.
    """

    def __init__(self, weights, trainable=False):
        check_weights(weights)
        self.weights = weights
        self.trainable = trainable
        self._fills = []  # (layer, [(variable initializer, placeholder) for W and b])

    def forward(self, images):
        """Build the network on ``images`` [N, 224, 224, 3], RGB in [0, 1]; returns ``self.prob``."""
        shape = images.shape.as_list()
        if len(shape) != 4 or shape[1:] != [IMAGE_SIZE, IMAGE_SIZE, 3]:
            raise ValueError(f"VGG16 needs images shaped [N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3], got {shape}")
        with tf.name_scope("preprocess"):
            rgb_scaled = images * 255.0
            red, green, blue = tf.split(rgb_scaled, 3, axis=3)
            bgr = tf.concat([blue - VGG_MEAN[0], green - VGG_MEAN[1], red - VGG_MEAN[2]], axis=3)

        self.conv1_1 = self.conv_layer(bgr, "conv1_1")
        self.conv1_2 = self.conv_layer(self.conv1_1, "conv1_2")
        self.pool1 = self.max_pool_2x2(self.conv1_2, "pool1")

        self.conv2_1 = self.conv_layer(self.pool1, "conv2_1")
        self.conv2_2 = self.conv_layer(self.conv2_1, "conv2_2")
        self.pool2 = self.max_pool_2x2(self.conv2_2, "pool2")

        self.conv3_1 = self.conv_layer(self.pool2, "conv3_1")
        self.conv3_2 = self.conv_layer(self.conv3_1, "conv3_2")
        self.conv3_3 = self.conv_layer(self.conv3_2, "conv3_3")
        self.pool3 = self.max_pool_2x2(self.conv3_3, "pool3")

        self.conv4_1 = self.conv_layer(self.pool3, "conv4_1")
        self.conv4_2 = self.conv_layer(self.conv4_1, "conv4_2")
        self.conv4_3 = self.conv_layer(self.conv4_2, "conv4_3")
        self.pool4 = self.max_pool_2x2(self.conv4_3, "pool4")

        self.conv5_1 = self.conv_layer(self.pool4, "conv5_1")
        self.conv5_2 = self.conv_layer(self.conv5_1, "conv5_2")
        self.conv5_3 = self.conv_layer(self.conv5_2, "conv5_3")
        self.pool5 = self.max_pool_2x2(self.conv5_3, "pool5")

        self.fc6 = tf.nn.relu(self.fc_layer(self.pool5, "fc6"))
        self.fc7 = tf.nn.relu(self.fc_layer(self.fc6, "fc7"))
        self.fc8 = self.fc_layer(self.fc7, "fc8")  # logits
        self.prob = tf.nn.softmax(self.fc8, name="prob")
        return self.prob

    def conv_layer(self, x, name):
        with tf.variable_scope(name):
            w, b = self._layer_variables(name)
            conv = tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME")
            return tf.nn.relu(tf.nn.bias_add(conv, b))

    def fc_layer(self, x, name):
        with tf.variable_scope(name):
            w, b = self._layer_variables(name)
            # Flatten in NHWC order, the order both the course's and Keras's fc6 rows use.
            x = tf.reshape(x, [-1, w.shape[0]])
            return tf.nn.bias_add(tf.matmul(x, w), b)

    @staticmethod
    def max_pool_2x2(x, name):
        return tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME", name=name)

    def _layer_variables(self, layer):
        """Variables W and b whose initial value is a placeholder, fed once in ``load``.

        Unlike tf.constant, this keeps the numbers out of the GraphDef.
        """
        pair, fills = [], []
        for part, shape in zip(("W", "b"), LAYER_SHAPES[layer]):
            init = tf.placeholder(tf.float32, shape, name=f"{part}_init")
            var = tf.get_variable(part, initializer=init, trainable=self.trainable)
            pair.append(var)
            fills.append((var.initializer, init))
        self._fills.append((layer, fills))
        return pair

    def load(self, sess):
        """Copy the weights into the variables one layer at a time, then let go of them."""
        if self.weights is None:
            raise RuntimeError("Vgg16.load() was already run; the weights now live in the variables")
        if not self._fills:
            raise RuntimeError("call Vgg16.forward() before Vgg16.load()")
        for layer, fills in self._fills:
            arrays = self.weights[layer]  # an .npz is read from disk here, layer by layer
            sess.run([op for op, _ in fills],
                     feed_dict={ph: arr for (_, ph), arr in zip(fills, arrays)})
            del arrays
        self.weights = None


# ---------------------------------------------------------------------------
# Checking weights
# ---------------------------------------------------------------------------
def check_specs(specs, source, shapes=None):
    """Check ``{layer: [(W shape, W dtype), (b shape, b dtype)]}`` against ``shapes``.

    Raises WeightsError naming every missing or wrong layer of ``source``.
    """
    shapes = LAYER_SHAPES if shapes is None else shapes
    missing = [layer for layer in shapes if layer not in specs]
    if missing:
        raise WeightsError(f"{source}: missing layer(s) {', '.join(missing)}; a VGG16 weights file "
                           f"needs {', '.join(shapes)}. Re-create it with vgg16/convert_weights.py.")
    problems = []
    for layer, expected in shapes.items():
        for part, (shape, dtype), want in zip(("W", "b"), specs[layer], expected):
            if shape is None:
                problems.append(f"layer {layer}: {part} is missing")
            elif tuple(shape) != tuple(want):
                problems.append(f"layer {layer}: {part} has shape {tuple(shape)}, expected {tuple(want)}")
            elif np.dtype(dtype) != WEIGHTS_DTYPE:
                problems.append(f"layer {layer}: {part} has dtype {np.dtype(dtype)}, expected float32")
    if problems:
        raise WeightsError(f"{source}: unusable VGG16 weights:\n  " + "\n  ".join(problems))


def _specs_of_mapping(weights, source):
    """Shapes and dtypes of an in-memory ``{layer: [W, b]}``, checking its structure."""
    specs = {}
    for layer, entry in weights.items():
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            kind = f"{type(entry).__name__} of {len(entry)}" if hasattr(entry, "__len__") else type(entry).__name__
            raise WeightsError(f"{source}: layer {layer}: expected a pair [W, b], got {kind}")
        pair = []
        for part, arr in zip(("W", "b"), entry):
            if not isinstance(arr, np.ndarray):
                raise WeightsError(f"{source}: layer {layer}: {part} is a {type(arr).__name__}, not a numpy array")
            pair.append((arr.shape, arr.dtype))
        specs[layer] = pair
    return specs


def check_weights(weights, source=None, shapes=None):
    """Check a weights mapping (dict or NpzWeights); raise WeightsError naming the bad layer."""
    if isinstance(weights, NpzWeights):
        check_specs(weights.specs, source or weights.path, shapes)
    elif isinstance(weights, Mapping):
        check_specs(_specs_of_mapping(weights, source or "weights"), source or "weights", shapes)
    else:
        raise WeightsError(f"{source or 'weights'}: expected a mapping {{layer: [W, b]}}, "
                           f"got {type(weights).__name__}")


# ---------------------------------------------------------------------------
# Reading weights files
# ---------------------------------------------------------------------------
def _npy_header(f, name):
    version = np.lib.format.read_magic(f)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise WeightsError(f"{name}: unsupported .npy format version {version}")
    shape, _fortran, dtype = readers[version](f)
    return shape, dtype


def read_npz_specs(path):
    """{layer: [(W shape, dtype), (b shape, dtype)]} of an .npz, from its headers only (no data read)."""
    specs = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                if not member.endswith(".npy") or "/" not in member:
                    continue  # not one of ours: ignore
                layer, part = member[:-4].rsplit("/", 1)
                if part not in ("W", "b"):
                    continue
                with zf.open(member) as f:
                    shape, dtype = _npy_header(f, f"{path}:{member}")
                if dtype.hasobject:
                    raise WeightsError(f"{path}: {member} holds Python objects (pickle), which this "
                                       "loader never unpickles; re-create the file with vgg16/convert_weights.py")
                specs.setdefault(layer, [(None, None), (None, None)])[part == "b"] = (shape, dtype)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        if isinstance(e, WeightsError):
            raise
        raise WeightsError(f"{path}: not a readable .npz weights file ({e}); "
                           "re-create it with vgg16/convert_weights.py") from e
    return specs


class NpzWeights(Mapping):
    """Read-only ``{layer: [W, b]}`` over an .npz file, read from disk one layer at a time.

    Opening checks every layer's shape and dtype from the array headers, without
    loading the data; np.load runs with allow_pickle=False.
    """

    def __init__(self, path, shapes=None):
        self.path = Path(path)
        self.specs = read_npz_specs(self.path)
        check_specs(self.specs, self.path, shapes)

    def __getitem__(self, layer):
        if layer not in self.specs:
            raise KeyError(layer)
        with np.load(self.path, allow_pickle=False) as z:
            return [z[f"{layer}/W"], z[f"{layer}/b"]]

    def __iter__(self):
        return iter(self.specs)

    def __len__(self):
        return len(self.specs)


def sha1_of(path, chunk_size=1 << 20):
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def load_course_npy(path, allow_pickle=False, expected_sha1=None):
    """The course's pickled ``vgg16.npy`` as a dict ``{layer: [W, b]}`` (not yet checked).

    Unpickling runs whatever code the file asks for, so it happens only when the file's
    SHA-1 is ``expected_sha1`` (default: COURSE_NPY_SHA1) or ``allow_pickle`` is True.
    """
    expected_sha1 = COURSE_NPY_SHA1 if expected_sha1 is None else expected_sha1
    digest = sha1_of(path)
    if digest != expected_sha1 and not allow_pickle:
        raise WeightsError(
            f"{path}: refusing to unpickle this file. Its SHA-1 is {digest}, not the course "
            f"vgg16.npy's {expected_sha1}, and unpickling a file can run any code hidden in it. "
            "If you trust where it came from, pass --allow-pickle (best once, to convert it: "
            f"python vgg16/convert_weights.py npy {path} --allow-pickle), then use the .npz.")
    try:
        # latin1: the course's file was pickled by Python 2.
        data = np.load(path, allow_pickle=True, encoding="latin1")
    except Exception as e:
        raise WeightsError(f"{path}: cannot read it as a pickled .npy weights dict ({e})") from e
    if isinstance(data, np.ndarray) and data.dtype.hasobject and data.shape == ():
        data = data.item()
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: expected a pickled dict {{layer: [W, b]}}, got {type(data).__name__}")
    return {str(k): list(v) if isinstance(v, (list, tuple)) else v for k, v in data.items()}


def resolve_weights_path(path=None):
    """The file to load: ``path`` (or the defaults), with a same-named .npz preferred to an .npy."""
    if path is None:
        found = [p for p in DEFAULT_WEIGHTS if p.is_file()]
        if not found:
            raise FileNotFoundError(f"No VGG16 weights given and none found at {DEFAULT_WEIGHTS[0]} "
                                    f"or {DEFAULT_WEIGHTS[1]}.\n{HOW_TO_GET_WEIGHTS}")
        return found[0]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VGG16 weights file {path} does not exist.\n{HOW_TO_GET_WEIGHTS}")
    twin = path.with_suffix(".npz")
    if path.suffix.lower() == ".npy" and twin.is_file():
        return twin
    return path


def _sniff(path):
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK"):
        return "npz"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"\x89HDF"):
        return "h5"
    return "unknown"


def load_weights(path=None, allow_pickle=False, expected_sha1=None, shapes=None):
    """Open a checked weights mapping: NpzWeights for .npz (lazy), a dict for the course's .npy."""
    path = resolve_weights_path(path)
    kind = _sniff(path)
    if kind == "npz":
        return NpzWeights(path, shapes)
    if kind == "npy":
        weights = load_course_npy(path, allow_pickle, expected_sha1)
        check_weights(weights, path, shapes)
        return weights
    if kind == "h5":
        raise WeightsError(f"{path} is an HDF5 (Keras) file; convert it first: "
                           f"python vgg16/convert_weights.py keras --h5 {path}")
    raise WeightsError(f"{path}: neither an .npz nor an .npy weights file.\n{HOW_TO_GET_WEIGHTS}")


# ---------------------------------------------------------------------------
# Writing weights files
# ---------------------------------------------------------------------------
def write_npz(path, layers, force=False):
    """Write ``(layer, W, b)`` items to an .npz, streaming one array at a time.

    The file appears only when complete (temp file in the same folder, then os.replace);
    an existing file is kept unless ``force``.
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass --force to replace it")
    with atomic_output(path) as raw:
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for layer, w, b in layers:
                for part, arr in (("W", w), ("b", b)):
                    with zf.open(f"{layer}/{part}.npy", "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)
    return path


def random_weights(seed=0, shapes=None, fc8_std=None):
    """Yield ``(layer, W, b)`` of random float32 weights, for tests and benchmarks.

    He-normal kernels keep the activations' scale through the ReLU layers and the
    biases are non-zero, so a wrongly wired layer changes the output.  ``fc8_std``
    sets the last layer's spread (default: He), which decides how peaked the softmax is.
    """
    rng = np.random.default_rng(seed)
    shapes = LAYER_SHAPES if shapes is None else shapes
    for layer, (w_shape, b_shape) in shapes.items():
        fan_in = int(np.prod(w_shape[:-1]))
        std = fc8_std if (layer == "fc8" and fc8_std is not None) else np.sqrt(2.0 / fan_in)
        w = rng.standard_normal(w_shape, dtype=np.float32)
        w *= np.float32(std)
        b = rng.standard_normal(b_shape, dtype=np.float32)
        yield layer, w, b
