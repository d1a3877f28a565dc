"""The chaos agent: what a Flask service adds to itself (placeholder, filled in below)."""
