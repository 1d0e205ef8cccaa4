"""Versioned leaderboards: schema-validated rows, immutable snapshots, rendering and diffs."""
