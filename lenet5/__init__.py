"""LeNet-5 lesson: a convolutional network on MNIST, trained by the shared loop."""
