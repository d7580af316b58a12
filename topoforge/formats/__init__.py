"""Date formats of the admin and the pages (``FORMAT_MODULE_PATH``): times to the second, in UTC.

A pipeline stores six windows a minute; Django's English default (``N j, Y, P``) shows them to
the minute, so they looked like duplicates.
"""
