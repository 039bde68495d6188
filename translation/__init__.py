"""The space-time rendering-to-video network (built in the translation issue)."""
