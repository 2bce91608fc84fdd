"""Domain services: each takes the database and plain values, returns plain values."""
