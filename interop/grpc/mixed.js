// Mixed clients on one topic: the 5.x Node SDK (gRPC) and ali-ons (remoting, 4.x protocol).
// Usage: node mixed.js GRPC_ENDPOINT NAMESRV TOPIC. 5.x → ali-ons: 5 messages sent by the SDK
// arrive at an ali-ons push consumer with their tag, keys and properties; ali-ons → 5.x: 5
// messages sent by ali-ons arrive at an SDK simple consumer. Exit 0 = both directions passed.
'use strict';
const path = require('path');
const sdk = require(path.join(__dirname, 'node/node_modules/rocketmq-client-nodejs'));
const { Message } = require(path.join(__dirname, '../node_modules/ali-ons'));
const ons = require('../lib');

const [endpoints, nameSrv, topic] = process.argv.slice(2);
const logger = { info() {}, debug() {}, warn() {}, error() {} };

(async () => {
  // 5.x SDK → ali-ons.
  const p5 = new sdk.Producer({ endpoints, logger, topics: [topic] });
  await p5.startup();
  for (let i = 0; i < 5; i++) {
    await p5.send({ topic, tag: 'From5', keys: [`k5-${i}`], properties: new Map([['src', 'sdk5']]), body: Buffer.from(`five-${i}`) });
  }
  await p5.shutdown();
  const seen = new Set();
  let bad = null;
  const c4 = await ons.consumer(nameSrv, 'GMixedOns', topic, 'From5', async (m) => {
    const body = m.body.toString();
    if (m.tags !== 'From5' || m.properties.src !== 'sdk5' || !String(m.keys).startsWith('k5-')) bad = `${body}: ${JSON.stringify(m.properties)}`;
    seen.add(body);
  });
  const ok4 = await ons.waitFor(() => seen.size >= 5, 30000);
  await c4.close();
  if (!ok4 || bad) throw new Error(`ali-ons got ${[...seen]} ${bad || ''}`);

  // ali-ons → 5.x SDK.
  const p4 = await ons.producer(nameSrv, 'mixed');
  for (let i = 0; i < 5; i++) {
    const m = new Message(topic, 'From4', Buffer.from(`four-${i}`));
    m.keys = [`k4-${i}`];
    await p4.send(m);
  }
  await p4.close();
  const c5 = new sdk.SimpleConsumer({ endpoints, logger, consumerGroup: 'GMixedSdk5', subscriptions: new Map([[topic, 'From4']]), awaitDuration: 5000 });
  await c5.startup();
  const got = new Set();
  const until = Date.now() + 30000;
  while (got.size < 5 && Date.now() < until) {
    for (const m of await c5.receive(16, 15000)) {
      if (m.tag !== 'From4') bad = `tag ${m.tag}`;
      got.add(m.body.toString());
      await c5.ack(m);
    }
  }
  await c5.shutdown();
  if (got.size < 5 || bad) throw new Error(`SDK got ${[...got]} ${bad || ''}`);
  console.log('ok   mixed 5.x SDK <-> ali-ons');
  process.exit(0);
})().catch((e) => { console.log(`FAIL mixed: ${e && e.stack ? e.stack : e}`); process.exit(1); });
