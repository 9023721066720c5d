"""Widgets shared by the screens (job view, options form)."""
