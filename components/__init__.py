"""frontier.components."""
