"""Samples -> tf.train.Example -> sharded TFRecords + manifest.json: record keys, the split
assignment, sharding, the local and Beam runners, verification and TFDS metadata.
"""
