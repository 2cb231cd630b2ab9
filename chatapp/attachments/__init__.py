"""v2 attachments: everything about one upload, from the bytes to serving them.

- ``receive``: the multipart body streamed into a spool file, counted and hashed
  on the way (never whole in memory; over the limit: 413, nothing kept).
- ``sniff``: what the bytes are (magic numbers), never the name or the header.
- ``images``: sizes, thumbnail and a re-encoded original without metadata, with
  decompression bombs refused from the header alone. Run in a thread
  (services/blocking.py), off the event loop.
- ``storage``: where the bytes live, a folder or database chunks, chosen by
  ``CHAT_UPLOAD_STORAGE``.
- ``serving``: the answer for a file: types that cannot run, nosniff, ETag, Range.

The domain (who may read, attach, quota, purge) is services/uploads.py; the
routes are api/uploads.py. docs/attachments.md is the reader's guide.
"""
