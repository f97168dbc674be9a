'use strict';
// ACL interop, IP allowlist: an ali-ons producer that does not sign, against our broker with
// aclEnable=true. Usage: node acl_white.js NAMESRV TOPIC refused|allowed
//   refused: 127.0.0.1 is not on the global white list: the send is refused with Java's
//            "No accessKey is configured";
//   allowed: plain_acl.yml lists 127.0.0.1 in globalWhiteRemoteAddresses: sends succeed.
// Exit 0 when the broker answered as expected (scripts/interop-acl.sh retries while the
// changed file is being reloaded).
const { producer, sendOutcome } = require('./lib');

const [ ns, topic, want ] = process.argv.slice(2);

(async () => {
  const p = await producer(ns, 'acl_white');
  const why = await sendOutcome(p, topic, `white-${Date.now()}`);
  const outcome = why === null ? 'allowed'
    : why.includes('No accessKey is configured') ? 'refused' : `error: ${why}`;
  try { await p.close(); } catch (_) { /* a refused unregister */ }
  const ok = outcome === want;
  console.log(`${ok ? 'PASS' : 'FAIL'} unsigned ali-ons send ${want}: ${outcome}`);
  process.exit(ok ? 0 : 1);
})().catch(e => { console.error('FAIL', e); process.exit(1); });
