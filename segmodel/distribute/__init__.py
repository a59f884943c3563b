"""Several devices and machines: picking a tf.distribute strategy, the multi-worker loop,
the cluster side, and how a split divides between workers.
"""
