"""A/B firmware installation: slots on disk (`slots`), the update bundle (`bundle`), the installer the
FirmwareManagement profile uses (`ab`) and the boot guard the launcher runs (`guard`)."""
