"""Data access: the single table's items (PynamoDB models), key helpers and transactions."""
