// The project's strict OCPP 1.6J back office for interop tests. It is built on ocpp-rpc (pinned in
// package.json, installed by `make test` with `npm ci`), an implementation independent of the Python `ocpp`
// package, with its own copy of the official JSON schemas, run in strict mode: a message of ours that
// breaks a schema is answered with a CALLERROR and printed as {"dir":"invalid"}.
//
// Protocol (one JSON object per line):
//   stdout: {"dir":"listening"|"handshake"|"connect"|"close"|"in"|"invalid"|"bad"|"result"|"error", ...}
//   stdin:  {"id":N,"call":"Action","params":{...},"to":"CP1"}  call the charge point (to: default the first)
//           {"id":N,"set":{"boot_status":"Rejected",...}}       change how it answers
//           {"id":N,"drop":"CP1"}                                close that charge point's socket
// Usage: node csms.js PORT
'use strict';
const { RPCServer, createRPCError } = require('ocpp-rpc');
const readline = require('readline');

const port = Number.parseInt(process.argv[2] || '9000', 10);
const emit = (fields) => process.stdout.write(JSON.stringify({ t: Date.now() / 1000, ...fields }) + '\n');

// how the back office answers; `set` commands change it
const answers = { boot_status: 'Accepted', boot_interval: 300, authorize: 'Accepted', next_tx: 1000, reject_auth: [] };
const clients = new Map();

const tagStatus = (idTag) => (answers.reject_auth.includes(idTag) ? 'Invalid' : answers.authorize);
const NOTIFICATIONS = new Set([
  'StatusNotification', 'MeterValues', 'DiagnosticsStatusNotification', 'FirmwareStatusNotification',
  'SecurityEventNotification', 'LogStatusNotification', 'SignedFirmwareStatusNotification',
]);

function answer(method, params) {
  const now = new Date().toISOString();
  if (NOTIFICATIONS.has(method)) return {};
  switch (method) {
    case 'BootNotification':
      return { status: answers.boot_status, currentTime: now, interval: answers.boot_interval };
    case 'Heartbeat':
      return { currentTime: now };
    case 'Authorize':
      return { idTagInfo: { status: tagStatus(params.idTag) } };
    case 'StartTransaction':
      return { transactionId: answers.next_tx++, idTagInfo: { status: tagStatus(params.idTag) } };
    case 'StopTransaction':
      return params.idTag ? { idTagInfo: { status: 'Accepted' } } : {};
    case 'DataTransfer':
    case 'SignCertificate':
      return { status: 'Accepted' };
    default:
      throw createRPCError('NotImplemented', `no handler for ${method}`);
  }
}

const server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true, callTimeoutMs: 30000, pingIntervalMs: 600000 });

server.auth((accept, _reject, handshake) => {
  const headers = handshake.headers || {};
  emit({
    dir: 'handshake', identity: handshake.identity, authorization: headers.authorization || null,
    protocols: [...(handshake.protocols || [])], path: handshake.endpoint || null,
  });
  accept({});
});

server.on('client', (client) => {
  const identity = client.identity;
  clients.set(identity, client);
  emit({ dir: 'connect', identity, protocol: client.protocol });
  client.on('strictValidationFailure', (e) => emit({
    dir: 'invalid', identity, method: e.method, outbound: e.outbound, isCall: e.isCall,
    error: String(e.error && e.error.message), params: e.params, result: e.result,
  }));
  client.on('badMessage', (e) => emit({ dir: 'bad', identity, error: String(e.error && e.error.message) }));
  client.on('close', (e) => {
    emit({ dir: 'close', identity, code: e && e.code });
    if (clients.get(identity) === client) clients.delete(identity);
  });
  client.handle(({ method, params }) => {
    emit({ dir: 'in', identity, action: method, params });
    return answer(method, params);
  });
});
server.on('error', (e) => emit({ dir: 'server-error', error: String(e) }));

async function command(m) {
  if (m.set) {
    Object.assign(answers, m.set);
    return {};
  }
  if (m.drop) {
    const c = clients.get(m.drop);
    if (c) await c.close({ code: 1001, force: true });
    return { dropped: Boolean(c) };
  }
  const c = clients.get(m.to || [...clients.keys()][0]);
  if (!c) throw new Error('no charge point connected');
  return c.call(m.call, m.params || {});
}

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  let m;
  try {
    m = JSON.parse(line);
  } catch (e) {
    emit({ dir: 'cmd-error', error: 'not JSON' });
    return;
  }
  try {
    emit({ dir: 'result', id: m.id, result: await command(m) });
  } catch (e) {
    emit({ dir: 'error', id: m.id, error: String(e && e.message), rpcErrorCode: e && e.rpcErrorCode });
  }
});
process.stdin.on('end', () => process.exit(0)); // the test runner went away

server.listen(port, '127.0.0.1').then(() => emit({ dir: 'listening', port }));
