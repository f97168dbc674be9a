'use strict';
// The acceptance round trip: send COUNT messages (tag TagA, a unique key each) through ali-ons,
// then consume the topic from the first offset in a fresh consumer group and check that every
// message of this run arrives exactly once with its tag and key.
// Usage: node produce_consume.js NAMESRV TOPIC [count=200] [timeoutSec=90]
// Last line: "sent=N received=M duplicates=D ok" (exit 0) or "... FAIL" (exit 1).
const { Message } = require('ali-ons');
const { producer, consumer, sleep, waitFor } = require('./lib');

const [ nameSrv, topic, countArg = '200', timeoutArg = '90' ] = process.argv.slice(2);
const count = parseInt(countArg, 10);
const timeoutMs = parseInt(timeoutArg, 10) * 1000;
const runId = `run-${Date.now()}-${process.pid}`;

async function main() {
  const p = await producer(nameSrv, 'rt');
  let sent = 0;
  const t0 = Date.now();
  for (let i = 0; i < count; i++) {
    const msg = new Message(topic, 'TagA', `${runId}:${i}`);
    msg.keys = [ `${runId}-${i}` ];
    const res = await p.send(msg);
    if (res && res.sendStatus === 'SEND_OK') sent++;
    else console.error('send not ok', res);
  }
  const t1 = Date.now();
  console.log(`produced ${sent}/${count} in ${t1 - t0} ms`);

  const seen = new Map();
  let bad = 0;
  const c = await consumer(nameSrv, `CG_rt_${process.pid}_${Date.now()}`, topic, '*', async msg => {
    const body = msg.body.toString();
    if (!body.startsWith(runId + ':')) return;
    const i = body.slice(runId.length + 1);
    if (msg.tags !== 'TagA' || msg.keys !== `${runId}-${i}`) {
      bad++;
      console.error(`wrong tag/key on ${body}: tags=${msg.tags} keys=${msg.keys}`);
    }
    seen.set(body, (seen.get(body) || 0) + 1);
  });
  await waitFor(() => seen.size >= count, timeoutMs);
  // Linger briefly so a duplicate delivery would be noticed.
  await sleep(1000);
  const dups = [ ...seen.values() ].reduce((a, n) => a + n - 1, 0);
  console.log(`consumed ${seen.size}/${count} in ${Date.now() - t1} ms`);
  await c.close();
  await p.close();
  const ok = sent === count && seen.size === count && dups === 0 && bad === 0;
  console.log(`sent=${sent} received=${seen.size} duplicates=${dups} ${ok ? 'ok' : 'FAIL'}`);
  process.exit(ok ? 0 : 1);
}

main().catch(err => { console.error(err); console.log('sent=0 received=0 FAIL'); process.exit(1); });
