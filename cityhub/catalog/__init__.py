"""The public data catalog (一本账): grading, quality, governed sharing, usable-but-not-visible."""
