"""Inputs: every way a reading enters ivmon (simulators, HL7 over MLLP, serial)."""
