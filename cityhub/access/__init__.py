"""Authentication (passwords, tokens), the one policy for every access decision, and masking."""
