// RocketMQ 5.x Node.js SDK (npm rocketmq-client-nodejs 1.0.8) against rmq's gRPC endpoint.
// Usage: node cases.js ENDPOINT PREFIX [CASE...]. Topics PREFIX_Normal, _Fifo, _Delay, _Tx,
// _Push and the orderly group PREFIX_GFifo must exist (scripts/interop-grpc.sh makes them).
// Exit 0 = every case passed; waits are bounded.
'use strict';
const { Producer, SimpleConsumer, PushConsumer, ConsumeResult } = require('rocketmq-client-nodejs');
const { TransactionResolution } = require('rocketmq-client-nodejs/proto/apache/rocketmq/v2/definition_pb');

const [endpoints, PREFIX, ...ONLY] = process.argv.slice(2);
// Our own logger: the default one writes under ~/logs and throws after shutdown.
const logger = { info() {}, debug() {}, warn() {}, error(...a) { if (process.env.SDK_DEBUG) console.error(...a); } };
const common = { endpoints, logger, requestTimeout: 5000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function msg(topic, body, extra = {}) {
  return { topic, tag: 'TagA', keys: [`k-${body}`], properties: new Map([['case', 'node']]), body: Buffer.from(body), ...extra };
}

async function withProducer(topics, fn, checker) {
  const p = new Producer({ ...common, topics, ...(checker ? { checker } : {}) });
  await p.startup();
  try { return await fn(p); } finally { await p.shutdown(); }
}

// Simple consumer: receive until `want` distinct bodies were acked (nack the first once).
// With `arrivals` (a Map), each body's first receipt time (epoch ms) is recorded there.
async function drain(topic, group, want, { timeoutMs = 40000, nackFirst = false, expr = '*', arrivals } = {}) {
  const c = new SimpleConsumer({ ...common, consumerGroup: group, subscriptions: new Map([[topic, expr]]), awaitDuration: 5000 });
  await c.startup();
  const got = new Map();
  let nacked = false;
  try {
    const until = Date.now() + timeoutMs;
    while (got.size < want && Date.now() < until) {
      for (const m of await c.receive(16, 15000)) {
        const body = m.body.toString();
        // The SDK verified the body digest the broker chose for it (CRC32 or MD5).
        if (m.corrupted) throw new Error(`${topic}: ${body}: the SDK rejected its body digest`);
        if (arrivals && !arrivals.has(body)) arrivals.set(body, Date.now());
        if (nackFirst && !nacked) { await c.changeInvisibleDuration(m, 1000); nacked = true; continue; }
        await c.ack(m);
        got.set(body, m.deliveryAttempt);
      }
    }
  } finally { await c.shutdown(); }
  if (got.size < want) throw new Error(`${topic}/${group}: got ${got.size} of ${want}: ${JSON.stringify([...got])}`);
  return got;
}

async function pushUntil(topic, group, listener, done, timeoutMs = 40000) {
  const c = new PushConsumer({ ...common, consumerGroup: group, subscriptions: new Map([[topic, '*']]), messageListener: listener });
  await c.startup();
  try {
    const until = Date.now() + timeoutMs;
    while (!done() && Date.now() < until) await sleep(200);
  } finally { await c.shutdown(); }
}

const cases = {
  async normal() {
    const t = `${PREFIX}_Normal`;
    const ids = await withProducer([t], async (p) => {
      const out = [];
      for (let i = 0; i < 10; i++) out.push((await p.send(msg(t, `n${i}`))).messageId);
      return out;
    });
    if (new Set(ids).size !== 10) throw new Error(`ids ${ids}`);
    const got = await drain(t, `${PREFIX}_GNormal`, 10);
    for (let i = 0; i < 10; i++) if (!got.has(`n${i}`)) throw new Error(`missing n${i}`);
  },
  async simpleNack() {
    const t = `${PREFIX}_Normal`;
    await withProducer([t], (p) => p.send(msg(t, 'nack-me', { tag: 'Nack' })));
    const got = await drain(t, `${PREFIX}_GNack`, 1, { nackFirst: true, expr: 'Nack' });
    if (got.get('nack-me') !== 2) throw new Error(`attempt ${got.get('nack-me')}`);
  },
  async fifoPush() {
    const t = `${PREFIX}_Fifo`;
    await withProducer([t], async (p) => {
      for (const g of ['a', 'b']) for (let i = 0; i < 10; i++) await p.send(msg(t, `${g}${i}`, { messageGroup: `order-${g}` }));
    });
    const seen = { a: [], b: [] };
    let failed = false;
    await pushUntil(t, `${PREFIX}_GFifo`, {
      async consume(m) {
        const body = m.body.toString();
        if (body === 'a3' && !failed) { failed = true; return ConsumeResult.FAILURE; }
        seen[body[0]].push(Number(body.slice(1)));
        return ConsumeResult.SUCCESS;
      },
    }, () => seen.a.length >= 10 && seen.b.length >= 10);
    for (const [g, v] of Object.entries(seen)) {
      if (JSON.stringify(v.slice(0, 10)) !== JSON.stringify([...Array(10).keys()])) throw new Error(`group ${g} out of order: ${v}`);
    }
  },
  async pushRetry() {
    const t = `${PREFIX}_Push`;
    await withProducer([t], (p) => p.send(msg(t, 'retry-me')));
    const attempts = [];
    await pushUntil(t, `${PREFIX}_GPush`, {
      async consume(m) {
        attempts.push(m.deliveryAttempt);
        return attempts.length === 1 ? ConsumeResult.FAILURE : ConsumeResult.SUCCESS;
      },
    }, () => attempts.length >= 2);
    if (attempts[0] !== 1 || attempts[1] !== 2) throw new Error(`attempts ${attempts}`);
  },
  async delay() {
    const t = `${PREFIX}_Delay`;
    const due = Date.now() + 3000;
    await withProducer([t], (p) => p.send(msg(t, 'later', { deliveryTimestamp: new Date(due) })));
    const arrivals = new Map();
    const got = await drain(t, `${PREFIX}_GDelay`, 1, { timeoutMs: 60000, arrivals });
    // Not delivered before its timestamp, less the timer's precision (timerPrecisionMs, 1 s:
    // a slot's messages are due at the slot's start, as Apache's wheel).
    const early = due - arrivals.get('later');
    if (got.get('later') !== 1 || early > 1000) throw new Error(`got ${[...got]}, delivered ${early} ms early`);
  },
  async transactions() {
    const t = `${PREFIX}_Tx`;
    const checker = { async check() { return TransactionResolution.COMMIT; } };
    const p = new Producer({ ...common, topics: [t], checker });
    await p.startup();
    try {
      let tx = p.beginTransaction();
      await p.send(msg(t, 'commit'), tx);
      await tx.commit();
      tx = p.beginTransaction();
      await p.send(msg(t, 'rollback'), tx);
      await tx.rollback();
      tx = p.beginTransaction();
      await p.send(msg(t, 'checked'), tx); // left open: resolved by the broker's check
      const got = await drain(t, `${PREFIX}_GTx`, 2, { timeoutMs: 60000 });
      if (!got.has('commit') || !got.has('checked') || got.has('rollback')) throw new Error(`got ${[...got.keys()]}`);
    } finally { await p.shutdown(); }
  },
};

(async () => {
  let failures = 0;
  for (const [name, fn] of Object.entries(cases)) {
    if (ONLY.length && !ONLY.includes(name)) continue;
    const t0 = Date.now();
    try {
      await fn();
      console.log(`ok   node ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failures++;
      console.log(`FAIL node ${name}: ${e && e.stack ? e.stack : e}`);
    }
  }
  process.exit(failures ? 1 : 0);
})();
