'use strict';
// What ali-ons can do beyond the basic round trip, each against its own topic (created by
// scripts/interop.sh): tag filtering, a consumer restart that continues from the committed
// offset, broker-side retry (CONSUMER_SEND_MSG_BACK → %RETRY% via the delay scheduler), a
// delayed message (delayTimeLevel) and a timer message (setStartDeliverTime). Expects the broker's messageDelayLevel to be short.
// Usage: node extended.js NAMESRV TOPIC_PREFIX [timeoutSec=60]
// Prints one line per case and a last line "extended ok" / "extended FAIL".
const { Message } = require('ali-ons');
const { producer, consumer, sleep, waitFor } = require('./lib');

const [ nameSrv, prefix, timeoutArg = '60' ] = process.argv.slice(2);
const timeoutMs = parseInt(timeoutArg, 10) * 1000;
const run = `${Date.now()}-${process.pid}`;
const results = [];

function report(name, ok, detail) {
  results.push(ok);
  console.log(`${name}: ${detail} ${ok ? 'ok' : 'FAIL'}`);
}

async function send(p, topic, tag, body, extra = {}) {
  const m = new Message(topic, tag, body);
  Object.assign(m, extra);
  const r = await p.send(m);
  if (!r || r.sendStatus !== 'SEND_OK') throw new Error(`send failed: ${JSON.stringify(r)}`);
}

async function tagFilter(p) {
  const topic = `${prefix}_tags`;
  for (let i = 0; i < 10; i++) {
    await send(p, topic, 'TagA', `a-${i}`);
    await send(p, topic, 'TagB', `b-${i}`);
  }
  const got = [];
  const c = await consumer(nameSrv, `CG_tags_${run}`, topic, 'TagB', async msg => { got.push(msg.body.toString()); });
  await waitFor(() => got.length >= 10, timeoutMs);
  await sleep(1000);
  await c.close();
  const onlyB = got.every(b => b.startsWith('b-'));
  report('tag filter', got.length === 10 && onlyB, `received=${got.length} (expected 10 TagB only, onlyB=${onlyB})`);
}

async function restartContinues(p) {
  const topic = `${prefix}_restart`;
  const group = `CG_restart_${run}`;
  for (let i = 0; i < 20; i++) await send(p, topic, 'T', `first-${i}`);
  const first = new Set();
  let c = await consumer(nameSrv, group, topic, '*', async msg => { first.add(msg.body.toString()); });
  await waitFor(() => first.size >= 20, timeoutMs);
  await sleep(1000); // let the last consumed batch update the in-memory offsets
  await c.close(); // persists the consumed offsets to the broker (UPDATE_CONSUMER_OFFSET)
  for (let i = 0; i < 20; i++) await send(p, topic, 'T', `second-${i}`);
  const second = [];
  c = await consumer(nameSrv, group, topic, '*', async msg => { second.push(msg.body.toString()); });
  await waitFor(() => second.length >= 20, timeoutMs);
  await sleep(1500);
  await c.close();
  const redelivered = second.filter(b => b.startsWith('first-')).length;
  const fresh = new Set(second.filter(b => b.startsWith('second-'))).size;
  report('consumer restart', first.size === 20 && fresh === 20 && redelivered === 0,
    `first=${first.size} after-restart new=${fresh} redelivered-old=${redelivered}`);
}

async function retry(p) {
  const topic = `${prefix}_retry`;
  await send(p, topic, 'T', 'fail-once');
  let attempts = 0;
  let reconsume = -1;
  const c = await consumer(nameSrv, `CG_retry_${run}`, topic, '*', async msg => {
    if (msg.body.toString() !== 'fail-once') return;
    attempts++;
    if (attempts === 1) throw new Error('deliberate failure');
    reconsume = msg.reconsumeTimes;
  });
  await waitFor(() => attempts >= 2, timeoutMs);
  await sleep(500);
  await c.close();
  report('retry via %RETRY%', attempts === 2 && reconsume === 1, `attempts=${attempts} reconsumeTimes on redelivery=${reconsume}`);
}

// A delay level and, in the same wait, a timer message (ali-ons' setStartDeliverTime sets
// Aliyun's __STARTDELIVERTIME, which the broker treats as RocketMQ 5's TIMER_DELIVER_MS).
async function delayed(p) {
  const topic = `${prefix}_delay`;
  let at = 0;
  let timerAt = 0;
  const c = await consumer(nameSrv, `CG_delay_${run}`, topic, '*', async msg => {
    if (msg.body.toString() === 'later') at = Date.now();
    if (msg.body.toString() === 'timer') timerAt = Date.now();
  });
  await sleep(3000); // let the consumer rebalance onto the queues first
  const sentAt = Date.now();
  await send(p, topic, 'T', 'later', { delayTimeLevel: 3 });
  const due = Date.now() + 2000;
  const t = new Message(topic, 'T', 'timer');
  t.setStartDeliverTime(due);
  const r = await p.send(t);
  if (!r || r.sendStatus !== 'SEND_OK') throw new Error(`timer send failed: ${JSON.stringify(r)}`);
  await waitFor(() => at > 0 && timerAt > 0, timeoutMs);
  await c.close();
  const waited = at - sentAt;
  // Level 3 is 3 s in the interop broker config; allow for scheduling granularity.
  report('delay level 3', at > 0 && waited >= 2500, `delivered after ${waited} ms (expected ≥ ~3000)`);
  report('timer (setStartDeliverTime)', timerAt >= due, `received ${timerAt - due} ms after its time (never before)`);
}

async function main() {
  const p = await producer(nameSrv, 'ext');
  for (const t of [ tagFilter, restartContinues, retry, delayed ]) {
    try { await t(p); } catch (err) { report(t.name, false, `error ${err.message}`); }
  }
  await p.close();
  const ok = results.length === 5 && results.every(Boolean);
  console.log(`extended ${ok ? 'ok' : 'FAIL'}`);
  process.exit(ok ? 0 : 1);
}

main().catch(err => { console.error(err); console.log('extended FAIL'); process.exit(1); });
