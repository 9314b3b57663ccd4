"""The LocalAuthListManagement feature profile: GetLocalListVersion and SendLocalList.

The list itself, its rules and its storage are in `controller.auth` (`locallist.py`, `store.py`,
`authorizer.py`); these handlers only translate.
"""

from __future__ import annotations

from typing import Any, Protocol

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, UpdateStatus


class LocalListApi(Protocol):
    def local_list_version(self) -> int: ...

    def send_local_list(self, version: int, update_type: str, entries: list[dict[str, Any]] | None) -> str: ...


class LocalAuthHandlers:
    local_list_api: LocalListApi

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(list_version=self.local_list_api.local_list_version())

    @on(Action.send_local_list)
    async def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
    ) -> call_result.SendLocalList:
        status = self.local_list_api.send_local_list(list_version, update_type, local_authorization_list)
        return call_result.SendLocalList(status=UpdateStatus(status))
