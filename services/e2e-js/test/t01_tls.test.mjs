// ENABLE_TLS: the gateway terminates TLS (rustls) and speaks the same DDP over wss://.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { startCluster, token } from "../lib/cluster.mjs";

let haveOpenssl = true;
try { execFileSync("openssl", ["version"], { stdio: "ignore" }); } catch { haveOpenssl = false; }

describe("chat-gateway over TLS", { timeout: 120000, skip: haveOpenssl ? false : "openssl not installed" }, () => {
  let cluster, dir;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "chat-tls-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
      "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { stdio: "ignore" });
    cluster = await startCluster({ ENABLE_TLS: "1", TLS_CERT_PATH: path.join(dir, "cert.pem"), TLS_KEY_PATH: path.join(dir, "key.pem") }, "https");
  });
  after(async () => { await cluster?.stop(); if (dir) rmSync(dir, { recursive: true, force: true }); });

  test("wss:// handshake, connect and login", async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${cluster.port}/websocket`, { rejectUnauthorized: false });
    const frames = [];
    const got = (pred) => new Promise((resolve) => {
      const check = () => { const f = frames.find(pred); if (f) resolve(f); else setTimeout(check, 20); };
      check();
    });
    ws.on("message", (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((resolve, reject) => { ws.on("open", resolve); ws.on("error", reject); });
    ws.send(JSON.stringify({ msg: "connect", version: "1", support: ["1"] }));
    await got((f) => f.msg === "connected");
    ws.send(JSON.stringify({ msg: "method", id: "1", method: "login", params: [{ resume: token("alice") }] }));
    const r = await got((f) => f.msg === "result" && f.id === "1");
    assert.equal(r.result.id, "alice");
    ws.close();
  });
});
