"""Small helpers shared by every part of dfl-tui (no heavy imports here)."""
