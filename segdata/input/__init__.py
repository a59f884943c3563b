"""Records -> tf.data: `load_dataset` and its shard reader, per-example transforms, and the
tf.data service.
"""
