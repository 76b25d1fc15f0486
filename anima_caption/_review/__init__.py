"""Side-by-side review: a spreadsheet export with thumbnails, applying the edited sheet back
through the journalled write path, and a self-contained HTML dataset report.

Stages: :mod:`._dataset` pairs images with captions and gathers diagnostics and proposals;
:mod:`._thumbs` makes bounded thumbnails without decoding huge images at full size;
:mod:`._sheet` writes and reads ``.xlsx`` / ``.csv``; :mod:`._apply` validates edited
captions and writes them; :mod:`._report` renders the HTML page; :mod:`.cli` is the
command line.
"""
