"""Scoring a trained model on a record split: IoU, boundary F-score, figures.
"""
