"""Feature backbones and the metrics computed on their features."""
