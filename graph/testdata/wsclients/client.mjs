// client.mjs subscribes to Herald's deliveryLog with a real npm client and prints each attempt
// received as one JSON line on stdout.
//
//   node client.mjs URL TOKEN PROTOCOL COUNT
//
// PROTOCOL is graphql-transport-ws (the graphql-ws package) or graphql-ws (the legacy
// subscriptions-transport-ws package). The script prints "ready" on stderr once the
// subscription is sent, exits 0 after COUNT attempts and, when the connection is refused or
// closed, prints {"closed": CODE} on stdout and exits 1 without reconnecting.
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import subscriptionsTransportWS from 'subscriptions-transport-ws';

const { SubscriptionClient } = subscriptionsTransportWS;

const [url, token, protocol, countArg] = process.argv.slice(2);
const count = Number(countArg);
if (!url || !token || !['graphql-transport-ws', 'graphql-ws'].includes(protocol) || !(count > 0)) {
  console.error('usage: node client.mjs URL TOKEN graphql-transport-ws|graphql-ws COUNT');
  process.exit(2);
}

const query = 'subscription { deliveryLog { id test outcome webhook { id status } } }';
const connectionParams = { Authorization: `Bearer ${token}` };
let received = 0;
let closeCode = 0;

// RecordingWebSocket is ws's WebSocket remembering the code the server closed it with.
class RecordingWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener('close', (event) => { closeCode = event.code; });
  }
}

function finish(code) {
  process.exit(code);
}

function refused(code) {
  console.log(JSON.stringify({ closed: code || closeCode }));
  finish(1);
}

function onAttempt(result) {
  if (result.errors) {
    console.log(JSON.stringify({ errors: result.errors }));
    finish(1);
  }
  console.log(JSON.stringify(result.data.deliveryLog));
  received += 1;
  if (received >= count) {
    finish(0);
  }
}

if (protocol === 'graphql-transport-ws') {
  const client = createClient({
    url,
    webSocketImpl: RecordingWebSocket,
    connectionParams,
    lazy: false,
    retryAttempts: 0,
    shouldRetry: () => false,
    on: {
      connecting: () => console.error('connecting'),
      closed: (event) => refused(event?.code),
    },
  });
  client.subscribe({ query }, {
    next: onAttempt,
    error: (err) => refused(err?.code),
    complete: () => refused(closeCode),
  });
} else {
  const client = new SubscriptionClient(url, {
    reconnect: false,
    lazy: false,
    connectionParams,
    // A refused connection_init is followed by the close carrying the code: wait for it.
    connectionCallback: (err) => { if (err) { setTimeout(() => refused(closeCode), 2000).unref(); } },
  }, RecordingWebSocket);
  client.onDisconnected(() => setImmediate(() => refused(closeCode)));
  client.onConnecting(() => console.error('connecting'));
  client.request({ query }).subscribe({
    next: onAttempt,
    error: () => refused(closeCode),
    complete: () => refused(closeCode),
  });
}
console.error('ready');
