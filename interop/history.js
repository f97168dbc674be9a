'use strict';
// History driver (history/, docs/history.md): ali-ons sends continuously from WORKERS
// concurrent loops and appends one JSON event per line to OUT: `invoke` before each send,
// then `ok` (SEND_OK, with the broker group, queue, offset and msgId it answered) or `info`
// (a non-OK status or an exception: the outcome is unknown, it may be stored). Every message
// carries a unique key (`CLIENT-n`, in KEYS) and the hash of its body (first 16 hex digits of
// SHA-256), as `mqhistory drive` writes them. A push consumer (group `CG_CLIENT`, from the
// first offset) records every delivery as a `recv` (`via: consumer`, with the broker group,
// queue and offset ali-ons delivered it from), so the checker's conflict and duplicate checks
// cover a third-party consumer too. Stops when STOPFILE exists; the last stdout line is
// "sent=N acked=M delivered=D".
// Usage: node history.js NAMESRV TOPIC OUT STOPFILE [workers=2] [client=ali-ons-PID]
const fs = require('fs');
const crypto = require('crypto');
const { Message } = require('ali-ons');
const { producer, consumer, sleep } = require('./lib');

const [ nameSrv, topic, out, stopFile, workersArg = '2', clientArg ] = process.argv.slice(2);
const client = clientArg || `ali-ons-${process.pid}`;

// appendFileSync: each event is one whole line on disk before the next send starts.
const record = ev => fs.appendFileSync(out, JSON.stringify(Object.assign({ t: Date.now(), client }, ev)) + '\n');
const hash = body => crypto.createHash('sha256').update(body).digest('hex').slice(0, 16);

// One delivery: where ali-ons says it came from (its queue names the broker group).
const delivered = (msg, mq) => record({
  type: 'recv', key: String(msg.keys || '').split(' ')[0] || undefined, hash: hash(msg.body),
  topic, broker: mq.brokerName, queue: Number(msg.queueId), offset: Number(msg.queueOffset),
  msg_id: msg.msgId, via: 'consumer',
});

async function main() {
  let deliveries = 0;
  const c = await consumer(nameSrv.split(';'), `CG_${client}`, topic, '*', async (msg, mq) => {
    delivered(msg, mq);
    deliveries++;
  });
  const p = await producer(nameSrv.split(';'), 'history');
  let n = 0;
  let acked = 0;
  const worker = async () => {
    while (!fs.existsSync(stopFile)) {
      const key = `${client}-${n++}`;
      const body = `${key}:${'x'.repeat(64)}`;
      const h = hash(body);
      const msg = new Message(topic, 'TagA', body);
      msg.keys = [ key ];
      record({ type: 'invoke', key, hash: h, topic });
      try {
        const res = await p.send(msg);
        if (res && res.sendStatus === 'SEND_OK') {
          const mq = res.messageQueue;
          record({ type: 'ok', key, hash: h, topic, broker: mq.brokerName, queue: Number(mq.queueId), offset: Number(res.queueOffset), msg_id: res.msgId });
          acked++;
        } else {
          record({ type: 'info', key, hash: h, error: String(res && res.sendStatus) });
          await sleep(50);
        }
      } catch (e) {
        record({ type: 'info', key, hash: h, error: String(e && e.message).slice(0, 200) });
        await sleep(50);
      }
    }
  };
  await Promise.all(Array.from({ length: parseInt(workersArg, 10) }, worker));
  console.log(`sent=${n} acked=${acked} delivered=${deliveries}`);
  await p.close();
  await c.close();
  process.exit(0);
}

main().catch(e => { console.error(e); process.exit(1); });
