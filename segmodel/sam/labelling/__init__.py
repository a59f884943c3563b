"""Batch labelling from prompt files: the labelling rule (`entries`) and the folder labeller
(`folder`).
"""
