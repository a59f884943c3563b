"""Generated datasets in the real on-disk layouts, so tests and demos never need a download.
"""
