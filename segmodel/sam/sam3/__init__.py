"""Text prompts with SAM 3: TextSegmenter, the image-converter geometry, result files and
labelling a folder from text.
"""
