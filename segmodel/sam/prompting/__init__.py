"""Point, box and mask prompts on keras-hub SAM: SamPredictor, prompt checks, the image
geometry, the shared mask decoder, result files and plots.
"""
