"""The Modbus grid meter's register map follows MBTCP*-SlaveMeterModel (controller/energy/meter.py names the
key's value, controller/app.py passes it to the factory, hal/meter_maps.py maps it to a table)."""

from __future__ import annotations

from pathlib import Path

from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.energy.meter import modbus_meter_model
from controller.energy.settings import EnergySettings
from hal.meter_maps import model_for


def test_the_key_of_the_enabled_modbus_meter_names_the_map(tmp_path: Path) -> None:
    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))

    def model() -> str:
        return modbus_meter_model(EnergySettings.read(reg))

    assert model() == "Socomec"  # the Alfen default
    assert model_for(model()).name == "socomec_countis_e2x"
    assert reg.set("MBTCPCentral-SlaveMeterModel", "None").value == "Accepted"
    assert model() == "Socomec"  # Central is not enabled: Smart's key
    assert reg.set("MBTCPCentral-IsEnabled", "true").value == "Accepted"
    assert model() == "None"  # only Central enabled: its key
    assert reg.set("MBTCPSmart-IsEnabled", "true").value == "Accepted"
    assert model() == "Socomec"  # Smart first, as load balancing selects it
