// End-to-end test of mqconsole in a real headless browser (Debian chromium + playwright-core).
//
// Env: CONSOLE_URL (http://127.0.0.1:PORT), ADMIN_PASSWORD, E2E_MODE (fake|real),
//      E2E_TOPIC (topic to create), E2E_GROUP (group to inspect), E2E_DLQ_GROUP,
//      E2E_PRODUCER_GROUP, E2E_PRODUCER_TOPIC, SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium).
// Prints "N passed, N failed" and exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const URL = process.env.CONSOLE_URL || 'http://127.0.0.1:8180';
const PASSWORD = process.env.ADMIN_PASSWORD || '';
const MODE = process.env.E2E_MODE || 'fake';
const TOPIC = process.env.E2E_TOPIC || `E2E_TOPIC_${Date.now()}`;
const GROUP = process.env.E2E_GROUP || 'GroupA';
const DLQ_GROUP = process.env.E2E_DLQ_GROUP || (MODE === 'fake' ? 'GroupA' : '');
const PRODUCER_GROUP = process.env.E2E_PRODUCER_GROUP || 'ProducerGroupA';
const PRODUCER_TOPIC = process.env.E2E_PRODUCER_TOPIC || 'TopicTest';
const SHOTS = process.env.SCREENSHOT_DIR || 'screenshots';
const KEY = `e2e-key-${Date.now()}`;
const BODY = `hello from the e2e test ${Date.now()}`;
mkdirSync(SHOTS, { recursive: true });

let passed = 0, failed = 0;
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
    try { await page.screenshot({ path: join(SHOTS, `FAILED-${name.replace(/\W+/g, '_')}.png`), fullPage: true }); } catch (_) { /* ignore */ }
  }
}
function expect(cond, msg) { if (!cond) throw new Error(msg); }
const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

const userDir = mkdtempSync(join(tmpdir(), 'rmq-e2e-chromium-'));
// A fresh profile directory each run (playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(userDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 1360, height: 900 },
  timeout: 60000,
});
const page = browser.pages()[0] || await browser.newPage();
page.setDefaultTimeout(20000);
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));
page.on('console', (m) => { if (m.type() === 'error' && !/status of (401|404|502)/.test(m.text())) consoleErrors.push(m.text()); });

let msgId = null;
try {
  if (MODE === 'real-partial') {
    // Real cluster with broker-b frozen (registered, never answers): every page still renders
    // broker-a's data, with a note naming broker-b.
    const DEAD = process.env.E2E_DEAD_BROKER || 'broker-b';
    const noteNames = async () => {
      await page.waitForSelector('.note');
      const note = (await page.$$eval('.note', (n) => n.map((x) => x.textContent))).join(' ');
      expect(note.includes(`broker ${DEAD}`) && note.includes('failed'), 'no failure note naming ' + DEAD + ': ' + note);
    };
    await step('broker down: overview shows the live broker and names the dead one', async () => {
      await page.goto(`${URL}/overview`);
      await page.waitForSelector('#brokers tbody tr td');
      await noteNames();
      expect(await page.$('#brokers td:text("broker-a")'), 'live broker not shown');
      expect(await page.$(`#brokers td:text("${DEAD}")`), 'dead broker not listed');
      await shot('real-partial-overview');
    });
    await step('broker down: topics page lists the live broker\'s topics', async () => {
      await page.goto(`${URL}/topics`);
      await page.waitForSelector('#topics tbody tr');
      await noteNames();
      // The name is a link inside its cell: look at the table's text.
      const listed = await page.$eval('#topics', (t, name) => t.textContent.includes(name), TOPIC);
      expect(listed, `topic ${TOPIC} not listed`);
      await shot('real-partial-topics');
    });
    await step('broker down: groups page renders with the note', async () => {
      await page.goto(`${URL}/groups`);
      await page.waitForSelector('#groups');
      await noteNames();
      await shot('real-partial-groups');
    });
  } else if (MODE === 'partial') {
    // mqconsole --fake-backend --fake-failing-broker broker-b: the UI must show the live broker's
    // data plus a note naming the failed one, and a 502 naming it where only it can answer.
    await step('partial failure: overview names the failed broker', async () => {
      await page.goto(`${URL}/overview`);
      await page.waitForSelector('.note');
      const note = await page.textContent('.note');
      expect(note.includes('broker broker-b') && note.includes('failed'), 'no failure note: ' + note);
      expect(await page.$('#brokers td:text("broker-a")'), 'live broker not shown');
      await shot('partial-overview');
    });
    await step('partial failure: topic status and group lag', async () => {
      await page.goto(`${URL}/topics/TopicTest`);
      await page.waitForSelector('#topic-status tbody tr');
      expect((await page.textContent('.note')).includes('broker-b'), 'no note on topic status');
      await shot('partial-topic-status');
      await page.goto(`${URL}/groups`);
      await page.waitForSelector('#groups tbody tr');
      const lag = await page.$$eval('#groups tbody tr td:nth-child(4)', (t) => t.map((x) => x.textContent));
      expect(lag.every((c) => c === 'unknown'), 'lag should be unknown while a broker is down: ' + lag);
      await shot('partial-groups');
    });
    await step('partial failure: a call only the dead broker can answer is a 502 naming it', async () => {
      const r = await page.evaluate(async () => { const x = await fetch('/api/brokers/runtime?addr=127.0.0.1:11011'); return { status: x.status, body: await x.json() }; });
      expect(r.status === 502 && r.body.error.broker === 'broker-b', JSON.stringify(r));
    });
  } else {
  await step('overview shows brokers and a live TPS chart', async () => {
    await page.goto(`${URL}/overview`);
    await page.waitForSelector('#brokers tbody tr td');
    const rows = await page.$$eval('#brokers tbody tr', (r) => r.length);
    expect(rows >= 1, 'no broker row');
    // Wait (bounded) for the sampler to have at least two points so the chart has lines.
    await page.waitForFunction(async () => { const r = await fetch('/api/tps'); const j = await r.json(); return j.times.length >= 2; }, null, { timeout: 30000, polling: 500 });
    await page.reload();
    await page.waitForSelector('#brokers tbody tr td');
    await page.waitForFunction(() => !document.querySelector('.legend').textContent.includes('no data'), null, { timeout: 15000 });
    await shot('overview');
  });

  await step('topics page lists topics with filters', async () => {
    await page.click('nav a[data-page=topics]');
    await page.waitForSelector('#topics tbody tr');
    await shot('topics');
    await page.check('input[data-kind=system]');
    await page.waitForFunction(() => [...document.querySelectorAll('#topics td')].some((td) => td.textContent === 'system'));
    await page.uncheck('input[data-kind=system]');
  });

  await step('create a topic through the UI (login asked on the way)', async () => {
    await page.click('#create-topic');
    await page.fill('#tf-name', TOPIC);
    await page.fill('#tf-read', '4');
    await page.fill('#tf-write', '4');
    await page.click('#tf-submit');
    await page.waitForSelector('#login-password');
    await page.fill('#login-password', 'definitely-wrong');
    await page.click('#login-submit');
    await page.waitForSelector('.modal .error');
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-submit');
    await page.waitForSelector('#logout');
    await page.waitForURL((u) => u.pathname.startsWith('/topics/'));
    await page.waitForSelector('h1 .mono');
    expect((await page.textContent('h1 .mono')) === TOPIC, 'not on the new topic page');
  });

  await step('topic route and status', async () => {
    // The nameserver learns new topics when the broker re-registers: poll (bounded) for a route.
    const deadline = Date.now() + 45000;
    for (;;) {
      await page.click('.tabs button[data-tab=Status]');
      await page.waitForSelector('#topic-status, .error');
      if (await page.$('#topic-status tbody tr')) break;
      expect(Date.now() < deadline, 'topic never got a route/status');
      await page.waitForTimeout(1000);
    }
    await shot('topic-status');
    await page.click('.tabs button[data-tab=Route]');
    await page.waitForSelector('text=Queues');
    await shot('topic-route');
  });

  await step('send a message from the send page', async () => {
    await page.click('.tabs button[data-tab="Send message"]');
    await page.fill('#send-tags', 'E2E');
    await page.fill('#send-keys', KEY);
    await page.fill('#send-body', BODY);
    await page.click('#send-submit');
    await page.waitForSelector('#send-result, .error');
    const err = await page.$('.error');
    expect(!err, 'send failed: ' + (err && (await err.textContent())));
    msgId = (await page.textContent('#sent-msg-id')).trim();
    expect(/^[0-9A-F]{32,}$/i.test(msgId), 'bad msg id ' + msgId);
    await shot('topic-send');
  });

  await step('find the message by key and open its detail', async () => {
    await page.click('nav a[data-page=messages]');
    await page.click('.tabs button[data-tab="By key"]');
    // The broker indexes asynchronously: retry the search (bounded).
    const deadline = Date.now() + 30000;
    for (;;) {
      await page.fill('#mq-topic', TOPIC);
      await page.fill('#mq-key', KEY);
      await page.click('#mq-key-search');
      await page.waitForSelector('#key-results, .error');
      if (await page.$(`#key-results a:text("${msgId}")`)) break;
      expect(Date.now() < deadline, 'message not found by key');
      await page.waitForTimeout(1000);
    }
    await shot('messages-by-key');
    await page.click(`#key-results a:text("${msgId}")`);
    await page.waitForSelector('#msg-body');
    expect((await page.textContent('#msg-body')).includes(BODY), 'body not shown');
    expect((await page.textContent('#msg-props')).includes(KEY), 'keys property not shown');
    await shot('message-detail');
  });

  await step('messages by time range', async () => {
    await page.click('nav a[data-page=messages]');
    await page.fill('#mq-topic', TOPIC);
    await page.click('#mq-time-search');
    await page.waitForSelector(`#messages a:text("${msgId}")`);
    await shot('messages-by-time');
  });

  await step('consumer groups list and group lag', async () => {
    await page.click('nav a[data-page=groups]');
    await page.waitForSelector('#groups tbody tr');
    await shot('groups');
    // Real stack: the consumer picks the new topic's route up on its next refresh (≤ 30 s),
    // then rebalances and commits; poll (bounded) until its queues show a known lag.
    const deadline = Date.now() + (MODE === 'real' ? 90000 : 10000);
    let total = '', cells = [];
    for (;;) {
      await page.goto(`${URL}/groups/${encodeURIComponent(GROUP)}`);
      await page.waitForSelector('#group-progress tbody tr');
      total = await page.textContent('p:has-text("Total lag")');
      cells = await page.$$eval('#group-progress tbody tr td:nth-child(6)', (t) => t.map((x) => x.textContent));
      if (cells.length > 0 && /Total lag: \d/.test(total)) break;
      expect(Date.now() < deadline, `group ${GROUP} never showed a known lag (last: ${total}, ${cells.length} queues)`);
      await page.waitForTimeout(2000);
    }
    expect(cells.every((c) => /^[\d,]+$/.test(c) || c === 'unknown'), 'bad lag cells ' + cells);
    expect(!cells.some((c) => c.startsWith('-')), 'negative lag rendered');
    console.log(`     group ${GROUP}: ${total}`);
    await shot('group-progress');
    await page.click('.tabs button[data-tab=Members]');
    await page.waitForSelector('#group-members');
    await shot('group-members');
    await page.click('.tabs button[data-tab="Reset offset"]');
    await page.click('#reset-preview-btn');
    await page.waitForSelector('#reset-preview, .error');
    await shot('group-reset-preview');
    await page.click('#reset-apply');
    await page.click('#confirm-ok');
    await page.waitForSelector('.modal h2:has-text("Offsets reset")');
    const resetText = await page.textContent('.modal');
    expect(resetText.includes('Done on every broker'), 'reset failed: ' + resetText);
    await shot('group-reset-applied');
    await page.click('#close-modal');
  });

  await step('message detail shows the group consumed it; resend to the group', async () => {
    // Consumers commit offsets periodically: poll (bounded) until the detail says "consumed".
    const deadline = Date.now() + (MODE === 'real' ? 30000 : 5000);
    for (;;) {
      await page.goto(`${URL}/message/${encodeURIComponent(TOPIC)}/${encodeURIComponent(msgId)}`);
      await page.waitForSelector('#msg-consumed');
      const text = await page.textContent('#msg-consumed');
      const consumed = await page.$$eval('#msg-consumed tr', (rows, g) => rows.some((r) => r.cells[0].textContent === g && r.querySelector('.badge.ok')), GROUP);
      if (MODE !== 'real' || consumed) break;
      expect(Date.now() < deadline, 'never shown as consumed: ' + text);
      await page.waitForTimeout(1500);
    }
    await shot('message-consumed');
    if (await page.$('#resend-group')) {
      await page.selectOption('#resend-group', GROUP);
      await page.click('button:text("Resend")');
      await page.waitForSelector('.okbox:has-text("Resent"), .error');
      const err = await page.$('.error');
      expect(!err, 'resend failed: ' + (err && (await err.textContent())));
      await shot('message-resent');
    }
  });

  if (DLQ_GROUP) {
    await step('DLQ browse and resend selected', async () => {
      await page.click('nav a[data-page=dlq]');
      await page.fill('#dlq-group', DLQ_GROUP);
      await page.click('#dlq-browse');
      await page.waitForSelector('#dlq-messages tbody tr');
      const boxes = await page.$$('.msg-select');
      expect(boxes.length > 0, 'no DLQ message');
      await boxes[0].check();
      await page.click('#dlq-resend');
      await page.waitForSelector('#dlq-results tbody tr');
      await shot('dlq');
    });
  }

  if (MODE === 'fake') {
    // The demo cluster has one controller-mode group (broker-ctl: 1 master, 2 in sync, 3 behind).
    await step('controller groups: table, then elect an in-sync replica as master', async () => {
      await page.goto(`${URL}/overview`);
      await page.waitForSelector('#controller-groups tbody tr');
      const rows = await page.$$eval('#controller-groups tbody tr', (r) => r.map((x) => x.textContent));
      expect(rows.length === 3, 'controller table rows: ' + rows.join(' | '));
      expect(rows[0].includes('broker-ctl') && rows[0].includes('3 / 5'), 'group row: ' + rows[0]);
      expect(rows[2].includes('not in sync'), 'replica 3 is behind: ' + rows[2]);
      // Only replica 2 (in sync, not master) can be made master.
      const buttons = await page.$$eval('#controller-groups button.elect', (b) => b.map((x) => x.dataset.id));
      expect(buttons.join() === '2', 'elect buttons for replicas: ' + buttons);
      await shot('controller-groups');
      await page.click('#controller-groups button.elect[data-id="2"]');
      await page.click('#confirm-ok');
      await page.waitForSelector('#elect-result');
      const result = await page.textContent('#elect-result');
      expect(result.includes('master 2') && result.includes('epoch 4'), 'elect result: ' + result);
      await page.click('#elect-close');
      await page.waitForFunction(() => {
        const r = [...document.querySelectorAll('#controller-groups tbody tr')].map((x) => x.textContent);
        return r.length === 3 && r[0].startsWith('DefaultClusterbroker-ctl2 (') && r[0].includes('4 / 6');
      }, null, { timeout: 10000 });
      const after = await page.$$eval('#controller-groups button.elect', (b) => b.map((x) => x.dataset.id));
      expect(after.join() === '1', 'after the election only the old master can be made master again: ' + after);
      await shot('controller-elected');
    });
  }

  await step('producers page', async () => {
    await page.click('nav a[data-page=producers]');
    await page.fill('#pg-group', PRODUCER_GROUP);
    await page.fill('#pg-topic', PRODUCER_TOPIC);
    await page.click('#pg-search');
    await page.waitForSelector('#producers, .error');
    await shot('producers');
  });

  await step('deep link served by the SPA fallback', async () => {
    await page.goto(`${URL}/topics/${encodeURIComponent(TOPIC)}`);
    await page.waitForSelector('h1 .mono');
  });

  }

  await step('no JavaScript errors', async () => {
    expect(consoleErrors.length === 0, 'page errors: ' + consoleErrors.join(' | '));
  });
} finally {
  await browser.close();
  rmSync(userDir, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
