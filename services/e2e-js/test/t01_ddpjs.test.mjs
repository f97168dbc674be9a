// T1 (DDP conformance, driven by the real ddp.js client over `ws`) and the T8 subset that a
// browser client can exercise (forged/expired tokens, foreign streams and rooms).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import ddpPkg from "ddp.js";
import { startCluster, token } from "../lib/cluster.mjs";

const DDP = ddpPkg.default || ddpPkg;

/** A ddp.js client plus promise helpers on top of its events. */
class Client {
  constructor(url) {
    this.ddp = new DDP({ endpoint: url, SocketConstructor: WebSocket, autoReconnect: false });
    this.changed = [];
    this.ddp.on("changed", (m) => this.changed.push(m));
    this.updated = new Set();
    this.ddp.on("updated", (m) => m.methods.forEach((id) => this.updated.add(id)));
  }
  connected() { return new Promise((resolve) => this.ddp.on("connected", resolve)); }
  call(name, params) {
    const id = this.ddp.method(name, params);
    return new Promise((resolve) => {
      const h = (m) => { if (m.id === id) { this.ddp.off("result", h); resolve(m); } };
      this.ddp.on("result", h);
    });
  }
  sub(name, params) {
    const id = this.ddp.sub(name, params);
    return new Promise((resolve) => {
      const r = (m) => { if (m.subs.includes(id)) { done(); resolve({ id, ready: true }); } };
      const n = (m) => { if (m.id === id) { done(); resolve({ id, ready: false, error: m.error }); } };
      const done = () => { this.ddp.off("ready", r); this.ddp.off("nosub", n); };
      this.ddp.on("ready", r); this.ddp.on("nosub", n);
    });
  }
  unsub(id) {
    this.ddp.unsub(id);
    return new Promise((resolve) => { const n = (m) => { if (m.id === id) { this.ddp.off("nosub", n); resolve(m); } }; this.ddp.on("nosub", n); });
  }
  close() { this.ddp.disconnect(); }
}

/** A raw `ws` socket that records frames and the close code. */
function raw(url) {
  const ws = new WebSocket(url);
  const frames = [];
  ws.on("message", (d) => frames.push(JSON.parse(d.toString())));
  const closed = new Promise((resolve) => ws.on("close", (code) => resolve(code)));
  const open = new Promise((resolve) => ws.on("open", resolve));
  return { ws, frames, closed, open };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, ms, fn) {
  const end = Date.now() + ms;
  while (!fn()) { if (Date.now() > end) throw new Error(`timed out: ${what}`); await sleep(50); }
}

describe("chat-gateway DDP conformance (ddp.js)", { timeout: 120000 }, () => {
  let cluster;
  before(async () => { cluster = await startCluster(); });
  after(async () => { await cluster?.stop(); });

  test("connect, login, result + updated, sub/ready, unknown sub/method, unsub", async () => {
    const c = new Client(cluster.url);
    await c.connected();
    const login = await c.call("login", [{ resume: token("alice") }]);
    assert.equal(login.result.id, "alice");
    assert.equal(login.result.type, "resume");
    assert.ok(login.result.tokenExpires.$date > Date.now());
    await until("updated for login", 5000, () => c.updated.has(login.id));
    const s = await c.sub("stream-room-messages", ["r_general", { useCollection: false, args: [] }]);
    assert.equal(s.ready, true);
    const unknownSub = await c.sub("no-such-stream", []);
    assert.equal(unknownSub.ready, false);
    assert.equal(unknownSub.error.error, 404);
    const unknownMethod = await c.call("noSuchMethod", []);
    assert.equal(unknownMethod.error.error, 404);
    assert.equal(unknownMethod.error.errorType, "Meteor.Error");
    const nosub = await c.unsub(s.id);
    assert.equal(nosub.id, s.id);
    c.close();
  });

  test("messages arrive as changed events on stream-room-messages", async () => {
    const a = new Client(cluster.url); const b = new Client(cluster.url);
    await Promise.all([a.connected(), b.connected()]);
    await a.call("login", [{ resume: token("alice") }]);
    await b.call("login", [{ resume: token("bob") }]);
    const dm = await a.call("createDirectMessage", ["bob"]);
    assert.equal(dm.result.rid, "d_alice_bob");
    assert.equal((await b.sub("stream-room-messages", ["d_alice_bob", { useCollection: false, args: [] }])).ready, true);
    const sent = await a.call("sendMessage", [{ _id: "jsMessage000001", rid: "d_alice_bob", msg: "hi from ddp.js" }]);
    assert.equal(sent.result._id, "jsMessage000001");
    await until("bob receives the message", 30000, () => b.changed.some((m) => m.collection === "stream-room-messages"));
    const ev = b.changed.find((m) => m.collection === "stream-room-messages");
    assert.equal(ev.fields.eventName, "d_alice_bob");
    assert.equal(ev.fields.args[0].msg, "hi from ddp.js");
    assert.equal(ev.fields.args[0].u._id, "alice");
    assert.match(ev.fields.args[0]._cursor, /^8\/\d+\/\d+$/);
    a.close(); b.close();
  });

  test("ddp.js answers server pings and survives past CONNECTION_TIMEOUT", async () => {
    const c = new Client(cluster.url);
    await c.connected();
    let disconnected = false;
    c.ddp.on("disconnected", () => { disconnected = true; });
    await sleep(6000); // > CONNECTION_TIMEOUT (4 s) with HEARTBEAT_INTERVAL 1 s
    assert.equal(disconnected, false);
    const r = await c.call("createDirectMessage", ["bob"]);
    assert.equal(r.error.error, 401, "still connected (not logged in)");
    c.close();
  });

  test("ping {id} gets pong {id}; a silent client is closed with 4000", async () => {
    const r = raw(cluster.url);
    await r.open;
    r.ws.send(JSON.stringify({ msg: "connect", version: "1", support: ["1"] }));
    r.ws.send(JSON.stringify({ msg: "ping", id: "p1" }));
    await until("pong", 5000, () => r.frames.some((f) => f.msg === "pong" && f.id === "p1"));
    assert.ok(r.frames.some((f) => f.msg === "connected"));
    const started = Date.now();
    const code = await r.closed; // never answers the server's ping
    assert.equal(code, 4000);
    assert.ok(r.frames.some((f) => f.msg === "ping"));
    // Logged, not asserted: wall-clock bounds are not reliable on a loaded CI machine.
    console.log(`silent client closed with 4000 after ${Date.now() - started} ms (CONNECTION_TIMEOUT 4000 ms)`);
  });

  test("logout answers null, then the socket closes with 1002", async () => {
    const r = raw(cluster.url);
    await r.open;
    r.ws.send(JSON.stringify({ msg: "connect", version: "1", support: ["1"] }));
    r.ws.send(JSON.stringify({ msg: "method", id: "1", method: "login", params: [{ resume: token("alice") }] }));
    r.ws.send(JSON.stringify({ msg: "method", id: "2", method: "logout", params: [] }));
    assert.equal(await r.closed, 1002);
    const res = r.frames.find((f) => f.msg === "result" && f.id === "2");
    assert.ok(res && res.result === null && !res.error);
    assert.ok(r.frames.some((f) => f.msg === "updated" && f.methods.includes("2")));
  });

  test("first frame other than connect → 1002; garbage → 1007; unsupported version → failed", async () => {
    const a = raw(cluster.url); await a.open;
    a.ws.send(JSON.stringify({ msg: "ping" }));
    assert.equal(await a.closed, 1002);
    const b = raw(cluster.url); await b.open;
    b.ws.send("this is not json");
    assert.equal(await b.closed, 1007);
    const c = raw(cluster.url); await c.open;
    c.ws.send(JSON.stringify({ msg: "connect", version: "pre1", support: ["pre1"] }));
    assert.equal(await c.closed, 1002);
    assert.ok(c.frames.some((f) => f.msg === "failed" && f.version === "1"));
    const d = raw(cluster.url); await d.open;
    d.ws.send(JSON.stringify({ msg: "connect", version: "1", support: ["1"] }));
    d.ws.send(JSON.stringify({ msg: "method", method: "login" }));
    assert.equal(await d.closed, 1002, "method without id");
  });

  test("T8 subset: forged, expired and wrong-audience tokens; foreign streams and rooms", async () => {
    const c = new Client(cluster.url);
    await c.connected();
    for (const [t, reason] of [
      [token("alice", { secret: "not-the-secret" }), "invalid-token"],
      [token("alice", { ttl: -10 }), "token-expired"],
      [token("alice", { aud: "other" }), "invalid-token"],
    ]) {
      const r = await c.call("login", [{ resume: t }]);
      assert.equal(r.error.error, 403);
      assert.equal(r.error.reason, reason);
    }
    const early = await c.call("sendMessage", [{ _id: "jsMessage000002", rid: "r_general", msg: "x" }]);
    assert.equal(early.error.error, 401);
    await c.call("login", [{ resume: token("bob") }]);
    const foreign = await c.sub("stream-notify-user", ["alice/notification", false]);
    assert.equal(foreign.ready, false);
    const own = await c.sub("stream-notify-user", ["bob/notification", false]);
    assert.equal(own.ready, true);
    const otherDm = await c.sub("stream-room-messages", ["d_alice_carol", { useCollection: false, args: [] }]);
    assert.equal(otherDm.ready, false);
    const post = await c.call("sendMessage", [{ _id: "jsMessage000003", rid: "d_alice_carol", msg: "x" }]);
    assert.equal(post.error.error, 403);
    c.close();
  });
});
