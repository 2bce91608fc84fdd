"""Domain rules that do not touch the database or the network."""
