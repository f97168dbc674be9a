'use strict';
// Shared helpers for the ali-ons interop scripts.
const { Producer, Consumer, Message } = require('ali-ons');

// ali-ons insists on an http client, used only to look up the name server over HTTP when
// `nameSrv` is not given. We always give `nameSrv`, so this is never called.
const httpclient = { async request() { throw new Error('http name-server lookup is not used'); } };
const quiet = process.env.INTEROP_VERBOSE ? console : { info() {}, debug() {}, log() {} };
const logger = {
  info: (...a) => quiet.info('[ali-ons]', ...a),
  debug() {},
  // ali-ons warns on every first route lookup of a topic ("prev is not null"): not a problem.
  warn: (...a) => { if (!/updateTopicPublishInfo\(\) prev is not null/.test(String(a[0]))) console.warn('[ali-ons warn]', ...a); },
  error: (...a) => console.error('[ali-ons error]', ...a),
};

function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }

// `extra`: more ali-ons options, e.g. `{ accessKeyId, accessKeySecret }` to sign (ACL).
async function producer(nameSrv, name, extra = {}) {
  const p = new Producer(Object.assign({ nameSrv, httpclient, logger, producerGroup: `PG_${name}_${process.pid}`, instanceName: `p_${name}_${process.pid}` }, extra));
  p.on('error', err => console.error('[producer error]', err.message));
  await p.ready();
  return p;
}

// A push consumer; `handler(msg)` may throw to ask for a retry.
async function consumer(nameSrv, group, topic, expr, handler, extra = {}) {
  const c = new Consumer(Object.assign({
    nameSrv, httpclient, logger,
    consumerGroup: group,
    instanceName: `c_${group}`,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    rebalanceInterval: 2000,
    maxReconsumeTimes: 3,
  }, extra));
  c.on('error', err => { if (!/process mq message failed/.test(err.message)) console.error('[consumer error]', err.message); });
  c.subscribe(topic, expr, handler);
  await c.ready();
  return c;
}

// One send of `body` to `topic`: null when the broker stored it, else why not (the broker's
// text). `send()` retries a SYSTEM_ERROR (code 1, what a Java 4.x broker answers an ACL denial
// with) and then throws a generic "still failed", so the text comes from one attempt through
// ali-ons' own signing send path (`sendKernelImpl`).
async function sendOutcome(p, topic, body) {
  try {
    const r = await p.send(new Message(topic, 'TagA', body));
    if (r.sendStatus === 'SEND_OK') return null;
  } catch (_) { /* refused: the reason comes from one attempt below */ }
  try {
    const info = await p.tryToFindTopicPublishInfo(topic);
    await p.sendKernelImpl(new Message(topic, 'TagA', body), info.selectOneMessageQueue());
    return null;
  } catch (e) {
    return String(e && e.message || e);
  }
}

async function waitFor(pred, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!pred() && Date.now() < deadline) await sleep(100);
  return pred();
}

module.exports = { producer, consumer, sendOutcome, sleep, waitFor };
