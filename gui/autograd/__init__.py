"""The autograd view: the backward graph of a training step, drawn and explained."""
