"""The study engine: one live study and its backend.

A study process sets up its backend (`runtime`), builds the search space (`spaces`, with `augment`), lets
keras-tuner's oracles search it under one budget (`strategies`, keras-tuner's internals only through `ktbridge`),
records every trial, refits the winner and scores it once on the test set (`study`, `metrics`). TensorFlow, JAX and
Keras are imported only here and in the tabular package, never by the parent CLI process.
"""
