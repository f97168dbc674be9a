'use strict';
// ACL interop: ali-ons signing with `accessKeyId` / `accessKeySecret` against our name server
// and broker started with aclEnable=true (scripts/interop-acl.sh writes plain_acl.yml).
// Usage: node acl.js NAMESRV BROKER TOPIC DENY_TOPIC USER_AK USER_SK ADMIN_AK ADMIN_SK
// Cases: signed send + consume allowed; DENY topic, wrong secret, unknown key and a
// non-admin topic creation refused with Java's AclException text; the admin's creation works.
// Prints PASS/FAIL per case; exit 1 if any failed.
const { Message } = require('ali-ons');
const { producer, consumer, sendOutcome, waitFor } = require('./lib');

const [ ns, broker, topic, denyTopic, userAk, userSk, adminAk, adminSk ] = process.argv.slice(2);
const creds = (ak, sk) => ({ accessKeyId: ak, accessKeySecret: sk });
let failed = 0;
function check(name, ok, detail = '') {
  if (!ok) failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ': ' + detail : ''}`);
}

// A send that must be refused; returns the broker's error text.
async function refusedSend(p, t) {
  return (await sendOutcome(p, t, 'refused')) || 'not refused';
}

// Closing a client whose key the broker refuses fails its unregister request: expected.
async function close(c) { try { await c.close(); } catch (_) { /* refused unregister */ } }

function topicConfig(name) {
  return { topicName: name, readQueueNums: 4, writeQueueNums: 4, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false };
}

(async () => {
  const user = await producer(ns, 'acl_user', creds(userAk, userSk));
  const count = 20;
  let sent = 0;
  for (let i = 0; i < count; i++) {
    const r = await user.send(new Message(topic, 'TagA', `acl-${i}`));
    if (r.sendStatus === 'SEND_OK') sent++;
  }
  check('signed send allowed', sent === count, `${sent}/${count}`);

  const seen = new Set();
  const c = await consumer(ns, `CG_acl_${process.pid}`, topic, '*', async msg => { seen.add(msg.body.toString()); },
    Object.assign({ instanceName: `c_acl_${process.pid}` }, creds(userAk, userSk)));
  const ok = await waitFor(() => seen.size >= count, 60000);
  check('signed consumer receives everything', ok, `${seen.size}/${count}`);
  await c.close();

  const deny = await refusedSend(user, denyTopic);
  check('DENY topic refused', deny.includes(`AclException: No default permission for topic:${denyTopic}`), deny);

  const wrong = await producer(ns, 'acl_wrong', creds(userAk, 'not-the-secret'));
  const w = await refusedSend(wrong, topic);
  check('wrong secret refused', w.includes(`AclException: Check signature failed for accessKey=${userAk}`), w);
  await close(wrong);

  const unsigned = await producer(ns, 'acl_unsigned');
  const n = await refusedSend(unsigned, topic);
  check('unsigned send refused', n.includes('AclException: No accessKey is configured'), n);
  await close(unsigned);

  const unknown = await producer(ns, 'acl_unknown', creds('nobody-here', 'whatever-1'));
  const u = await refusedSend(unknown, topic);
  check('unknown access key refused', u.includes('AclException: No acl config for nobody-here'), u);
  await close(unknown);

  let na = '';
  try {
    await user._mqClient.createTopic(broker, 'TBW102', topicConfig(`${topic}_by_user`), 5000);
    na = 'not refused';
  } catch (e) { na = String(e.message); }
  check('non-admin createTopic refused', na.includes('AclException: Need admin permission for request code=17'), na);

  const admin = await producer(ns, 'acl_admin', creds(adminAk, adminSk));
  let ad = 'ok';
  try { await admin._mqClient.createTopic(broker, 'TBW102', topicConfig(`${topic}_by_admin`), 5000); } catch (e) { ad = String(e.message); }
  check('admin createTopic allowed', ad === 'ok', ad);
  await admin.close();
  await user.close();
  process.exit(failed ? 1 : 0);
})().catch(e => { console.error('FAIL', e); process.exit(1); });
