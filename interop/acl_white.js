'use strict';
// ACL interop, IP allowlist: an ali-ons producer that does not sign, against our broker with
// aclEnable=true. Usage: node acl_white.js NAMESRV TOPIC refused|allowed
//   refused: 127.0.0.1 is not on the global white list: the send is refused with Java's
//            "No accessKey is configured";
//   allowed: plain_acl.yml lists 127.0.0.1 in globalWhiteRemoteAddresses: sends succeed.
// Exit 0 when the broker answered as expected (scripts/interop-acl.sh retries while the
// changed file is being reloaded).
const { Message } = require('ali-ons');
const { producer } = require('./lib');

const [ ns, topic, want ] = process.argv.slice(2);

(async () => {
  const p = await producer(ns, 'acl_white');
  let outcome;
  try {
    const r = await p.send(new Message(topic, 'TagA', `white-${Date.now()}`));
    outcome = r.sendStatus === 'SEND_OK' ? 'allowed' : `status ${r.sendStatus}`;
  } catch (_) {
    // send() retries and then throws a generic error: one attempt gives the broker's text.
    try {
      const info = await p.tryToFindTopicPublishInfo(topic);
      await p.sendKernelImpl(new Message(topic, 'TagA', 'white'), info.selectOneMessageQueue());
      outcome = 'allowed';
    } catch (e) {
      const text = String(e && e.message || e);
      outcome = text.includes('No accessKey is configured') ? 'refused' : `error: ${text}`;
    }
  }
  try { await p.close(); } catch (_) { /* a refused unregister */ }
  const ok = outcome === want;
  console.log(`${ok ? 'PASS' : 'FAIL'} unsigned ali-ons send ${want}: ${outcome}`);
  process.exit(ok ? 0 : 1);
})().catch(e => { console.error('FAIL', e); process.exit(1); });
