"""Wire-format writers for simulated patients: CSV, PCD-01 over MLLP, serial protocols."""
