'use strict';
// Create (or update) a topic on a broker with one raw remoting request, like
// `mqadmin updateTopic`: UPDATE_AND_CREATE_TOPIC (code 17), JSON header, no body.
// Needed because ali-ons fails on TOPIC_NOT_EXIST instead of using the TBW102 route.
// Usage: node create_topic.js BROKER_HOST:PORT TOPIC [queues=4]   (exit 0 on SUCCESS)
const net = require('net');

const [ brokerAddr, topic, queues = '4' ] = process.argv.slice(2);
if (!brokerAddr || !topic) {
  console.error('usage: node create_topic.js BROKER_HOST:PORT TOPIC [queues]');
  process.exit(2);
}
const [ host, port ] = [ brokerAddr.slice(0, brokerAddr.lastIndexOf(':')), Number(brokerAddr.slice(brokerAddr.lastIndexOf(':') + 1)) ];
const header = Buffer.from(JSON.stringify({
  code: 17, language: 'JAVA', version: 453, opaque: 1, flag: 0, serializeTypeCurrentRPC: 'JSON',
  extFields: { topic, defaultTopic: 'TBW102', readQueueNums: queues, writeQueueNums: queues, perm: '6',
    topicFilterType: 'SINGLE_TAG', topicSysFlag: '0', order: 'false' },
}));
const frame = Buffer.alloc(8 + header.length);
frame.writeInt32BE(4 + header.length, 0);
frame.writeInt32BE(header.length, 4); // serialize type 0 (JSON) in the high byte
header.copy(frame, 8);

const sock = net.connect({ host, port }, () => sock.write(frame));
let buf = Buffer.alloc(0);
const timer = setTimeout(() => { console.error('no reply within 10 s'); process.exit(1); }, 10000);
sock.on('data', d => {
  buf = Buffer.concat([ buf, d ]);
  if (buf.length < 4 || buf.length < 4 + buf.readInt32BE(0)) return;
  clearTimeout(timer);
  const hlen = buf.readInt32BE(4) & 0xffffff;
  const reply = JSON.parse(buf.slice(8, 8 + hlen).toString());
  console.log(`create topic ${topic}: code=${reply.code} remark=${reply.remark || ''}`);
  sock.destroy();
  process.exit(reply.code === 0 ? 0 : 1);
});
sock.on('error', err => { console.error(`cannot reach ${brokerAddr}: ${err.message}`); process.exit(1); });
