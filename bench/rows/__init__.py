"""Leaderboard rows, shared by the runner (which assembles them) and the leaderboard (which
publishes them): the schema, validation and JSON lines, the pandas frame and display labels.
Neither the runner nor the leaderboard is imported from here."""
