"""Authorisation: who may charge. Pure decisions (`decision.py`, `locallist.py`), their persistent state
(`store.py`), the station's authoriser (`authorizer.py`) and reservations (`reservations.py`)."""
