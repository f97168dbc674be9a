// RocketMQ 5.x Node.js SDK (npm rocketmq-client-nodejs 1.0.8) against rmq's gRPC endpoint with
// aclEnable=true: `sessionCredentials` (the MQv2-HMAC-SHA1 `authorization` header) allowed and
// refused exactly as plain_acl.yml says.
// Usage: node acl.js ENDPOINT TOPIC DENY_TOPIC AK SK [tls] (scripts/interop-acl.sh sets it up:
// the account may PUB|SUB TOPIC, is DENY on DENY_TOPIC, SUB on groups). With `tls` the clients
// use `sslEnabled: true` (grpc-js verifies against GRPC_DEFAULT_SSL_ROOTS_FILE_PATH when set,
// which the caller points at the test CA; NODE_EXTRA_CA_CERTS is not used by grpc-js). Exit 0 = all passed.
'use strict';
const { Producer, SimpleConsumer } = require('rocketmq-client-nodejs');

const [endpoints, TOPIC, DENY, AK, SK, TLS] = process.argv.slice(2);
const sslEnabled = TLS === 'tls';
const MODE = sslEnabled ? 'TLS' : 'plaintext';
const logger = { info() {}, debug() {}, warn() {}, error(...a) { if (process.env.SDK_DEBUG) console.error(...a); } };
const common = (accessKey, accessSecret) => ({ endpoints, logger, requestTimeout: 5000, sslEnabled, sessionCredentials: { accessKey, accessSecret } });

async function send(ak, sk, topic, body) {
  const p = new Producer({ ...common(ak, sk) });
  await p.startup();
  try { return await p.send({ topic, tag: 'acl', body: Buffer.from(body) }); } finally { await p.shutdown(); }
}

// The SDK turns the response status into an exception carrying the code (40100).
async function refused(name, ak, sk, topic, reason) {
  let r;
  try {
    r = await send(ak, sk, topic, `refused-${name}`);
  } catch (e) {
    const text = `${e.code ?? ''} ${e.message ?? e}`;
    if (!text.includes('40100') || !text.includes(reason)) throw new Error(`${name}: refused for another reason: ${text}`);
    console.log(`PASS node ${MODE} ${name} refused (${text.slice(0, 120)})`);
    return;
  }
  throw new Error(`${name}: send was accepted: ${JSON.stringify(r)}`);
}

(async () => {
  const body = `acl-node-${Date.now()}`;
  const r = await send(AK, SK, TOPIC, body);
  console.log(`PASS node ${MODE} signed send (${r.messageId})`);
  const c = new SimpleConsumer({ ...common(AK, SK), consumerGroup: 'AclNodeGroup', subscriptions: new Map([[TOPIC, '*']]), awaitDuration: 5000 });
  await c.startup();
  let seen = false;
  try {
    const until = Date.now() + 40000;
    while (!seen && Date.now() < until) {
      for (const m of await c.receive(16, 15000)) {
        await c.ack(m);
        seen = seen || m.body.toString() === body;
      }
    }
  } finally { await c.shutdown(); }
  if (!seen) throw new Error('signed simple consumer did not receive the message');
  console.log(`PASS node ${MODE} signed receive + ack`);
  await refused('wrong secret', AK, `${SK}x`, TOPIC, `Check signature failed for accessKey=${AK}`);
  await refused('unknown key', 'NoSuchKey1', SK, TOPIC, 'No acl config for NoSuchKey1');
  await refused('DENY topic', AK, SK, DENY, `No default permission for topic:${DENY}`);
  console.log(`node acl ok (${MODE})`);
  process.exit(0);
})().catch((e) => { console.error(`FAIL ${e.stack || e}`); process.exit(1); });
