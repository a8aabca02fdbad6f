"""Geography: coordinate systems, the area tree's boundaries and point-in-area lookup (no database)."""
