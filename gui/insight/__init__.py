"""Looking inside a model: the learning-rate finder, the batch preview and explanations."""
