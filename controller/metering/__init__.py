"""Eichrecht metering: relaying the signed (OCMF) meter values of the connectors' signing meters."""
