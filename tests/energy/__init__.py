"""Energy management: load balancing, the allocation and the Alfen-compatible Modbus TCP slave."""
