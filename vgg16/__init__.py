"""The VGG16 lesson: classify photos with a pre-trained VGG16 written in TensorFlow 1 style.

Modules: ``network`` (class Vgg16; reading, checking and writing weights files), ``utils``
(loading and cropping photos, the figures), ``Nclasses`` (the 1000 ImageNet class names),
and the scripts ``app`` (top-5 classes of photos), ``convert_weights`` (the pickle-free
.npz) and ``make_nclasses`` (Nclasses.py from imagenet_classes.tsv).  Importing the package
imports none of them, so ``python -m vgg16.app`` can quiet TensorFlow before loading it.
"""
