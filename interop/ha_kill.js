'use strict';
// Replication fault test driver (broker/tests/ha_faults.rs): ali-ons sends continuously from
// WORKERS concurrent loops; every SEND_OK is appended to ACKFILE as "queueId queueOffset body".
// Broker errors (the master being killed) are counted and retried after a short pause. Stops
// when STOPFILE exists; the last line is "acked=N notOk=M errors=E".
// Usage: node ha_kill.js NAMESRV TOPIC ACKFILE STOPFILE [workers=4]
const fs = require('fs');
const { Message } = require('ali-ons');
const { producer, sleep } = require('./lib');

const [ nameSrv, topic, ackFile, stopFile, workersArg = '4' ] = process.argv.slice(2);

async function main() {
  // A `;`-separated list, as our tools take it; ali-ons wants an array.
  const p = await producer(nameSrv.split(';'), 'ha');
  const counts = { acked: 0, notOk: 0, errors: 0 };
  let n = 0;
  const worker = async () => {
    while (!fs.existsSync(stopFile)) {
      const body = `ha-${process.pid}-${n++}`;
      try {
        const res = await p.send(new Message(topic, 'TagA', body));
        if (res && res.sendStatus === 'SEND_OK') {
          fs.appendFileSync(ackFile, `${res.messageQueue.queueId} ${res.queueOffset} ${body}\n`);
          counts.acked++;
        } else {
          counts.notOk++;
        }
      } catch (e) {
        counts.errors++;
        await sleep(50);
      }
    }
  };
  await Promise.all(Array.from({ length: parseInt(workersArg, 10) }, worker));
  console.log(`acked=${counts.acked} notOk=${counts.notOk} errors=${counts.errors}`);
  await p.close();
  process.exit(0);
}

main().catch(e => { console.error(e); process.exit(1); });
