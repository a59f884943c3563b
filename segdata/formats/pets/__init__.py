"""The Oxford-IIIT Pet layout: `images/*.jpg`, `annotations/trimaps/*.png` and the list files.
"""
