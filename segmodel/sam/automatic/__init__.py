"""Automatic masks ("segment everything"): SamAutomaticMaskGenerator and its helpers.
"""
