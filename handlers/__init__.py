"""Channel-neutral conversation logic: what to say and which state changes."""
