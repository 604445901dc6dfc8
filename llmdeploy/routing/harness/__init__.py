"""Loopback proof of the request layer: engine stand-ins, traces, a fleet runner and measurements.

Nothing here runs on a VM: it starts stand-ins, the real router binary and the real nginx on 127.0.0.1.
"""
