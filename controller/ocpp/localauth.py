"""The LocalAuthListManagement feature profile: GetLocalListVersion and SendLocalList.

The list itself, its rules and its storage are in `controller.auth` (`locallist.py`, `store.py`,
`authorizer.py`); these handlers only translate.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, UpdateStatus


class LocalAuthHandlers:
    station: Any

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(list_version=self.station.auth.local_list_version())

    @on(Action.send_local_list)
    async def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
    ) -> call_result.SendLocalList:
        status = self.station.auth.send_local_list(list_version, update_type, local_authorization_list)
        return call_result.SendLocalList(status=UpdateStatus(status))
