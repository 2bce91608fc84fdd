"""Postal pickups and deliveries: orders, their carrier, post offices and operators."""
