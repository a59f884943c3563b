"""Files: local paths and URLs, write-then-rename, and the checksummed Pets download.
"""
