"""Tests of the control loop (controller.evse), its simulated devices and the control process."""
