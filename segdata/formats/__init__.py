"""Dataset layouts on disk, one subpackage or module per layout: each scans a folder and
describes its samples for the shared record writer (`segdata.records`).
"""
