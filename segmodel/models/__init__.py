"""Segmentation models: the chapter's encoder-decoder and U-Net (`builtin`), keras-hub
segmenters and encoders (`hub`) and preset loading (`presets`).
"""
