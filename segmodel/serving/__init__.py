"""Serving: in-graph signatures (`signatures`), the versioned SavedModel export (`export`)
and the client that runs it on image files (`predict`).
"""
