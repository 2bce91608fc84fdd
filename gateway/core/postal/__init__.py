"""Pure building blocks for public-postal delivery: administrative units (the two-level
model in force since 1 July 2025), phone numbers, and sealing of personal data.

Nothing here touches the network, the database, the clock or a random source.
"""
