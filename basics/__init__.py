"""The course's TensorFlow basics lessons (before MNIST), one runnable script per lesson.

Each script runs on its own (``python basics/<script>.py --help``) and exposes small
functions that the tests call.
"""
