"""Simulated patients and device emulators (they depend on the model and wire formats, never on the server)."""
