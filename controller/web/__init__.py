"""The station's own web interface (issue 14): a status page with live values and a 15-minute plot, the
session history with a CSV download, and the installer's configuration page, served by the main process
with aiohttp. Every asset is served from this package (`static/`); nothing is fetched at run time.

Modules: `settings` (the board's [web] section), `auth` (installer login, sessions, CSRF tokens, login rate
limiting on the injected clock), `status` (what the status page shows), `history` (the plot's ring buffer),
`faults` (what each fault means), `keys` (the configuration page and its writes), `sessions` (the journal's
history and its CSV), `server` (the aiohttp application), `factory` (what the composition root calls).
"""
