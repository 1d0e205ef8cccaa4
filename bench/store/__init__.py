"""SQLite results store and content-addressed artifact cache."""
