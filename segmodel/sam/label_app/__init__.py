"""The labelling web page: its state (`session`; `classes_session` with classes, into a
`masks` folder), the photos (`photo_folder`), HTTP layer (`server`), start-up (`app`), masks
on the wire (`masks_io`), the background encoder and embedding cache, and the page's static
files (`page/`).
"""
