"""Serial bedside devices: a transport (pyserial, reconnection) and one I/O-free decoder per protocol."""
