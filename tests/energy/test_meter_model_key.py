"""The Modbus grid meter's register map follows MBTCP*-SlaveMeterModel (controller/app.py wires the key into
the factory; hal/meter_maps.py maps the key's value to a table)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from controller.app import Station
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from hal.meter_maps import model_for


def test_the_key_of_the_enabled_modbus_meter_names_the_map(tmp_path: Path) -> None:
    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))
    station = SimpleNamespace(config=reg)
    model = lambda: Station._grid_meter_model(station)  # type: ignore[arg-type]  # noqa: E731
    assert model() == "Socomec"  # the Alfen default
    assert model_for(model()).name == "socomec_countis_e2x"
    assert reg.set("MBTCPCentral-SlaveMeterModel", "None").value == "Accepted"
    assert model() == "Socomec"  # Central is not enabled: Smart's key
    assert reg.set("MBTCPCentral-IsEnabled", "true").value == "Accepted"
    assert model() == "None"  # only Central enabled: its key
    assert reg.set("MBTCPSmart-IsEnabled", "true").value == "Accepted"
    assert model() == "Socomec"  # Smart first, as load balancing selects it
