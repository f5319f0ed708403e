"""Framework-free helpers shared by every app: money, time, Italian identifiers."""
