"""keras-hub SAM and SAM 3: loading presets and building architectures from configs.
"""
