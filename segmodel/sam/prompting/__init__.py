"""Point, box and mask prompts on keras-hub SAM: SamPredictor, the image embedding, prompt
checks, the image geometry, the shared mask decoder, result files and plots.
"""
