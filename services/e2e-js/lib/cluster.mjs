// Spawns a real chat deployment (mqnamesrv, mqbroker, chat-observer, chat-gateway) on free
// loopback ports for the node tests, and mints HS256 chat tokens. BIN_DIR points at the built
// binaries (default: <repo>/target/debug). CHAT_JS_SECURE=1: name server and broker run with
// aclEnable=true and tlsMode=enforcing, and the services sign (RMQ_ACCESS_KEY/RMQ_SECRET_KEY,
// an account with explicit permissions) over TLS (RMQ_TLS_CA), as a hardened deployment would.
import { execFileSync, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN_DIR = process.env.BIN_DIR || path.resolve(here, "../../../target/debug");
export const SECRET = "js-e2e-secret";
const SECURE = process.env.CHAT_JS_SECURE === "1";

/**
 * CHAT_JS_SECURE: a test PKI (scripts/lib.sh's rmq_make_pki) and an accounts file under `dir`.
 * Returns the settings of the name server and the broker and the services' environment.
 */
function secureSetup(dir) {
  if (!SECURE) return { ns: [], broker: [], env: {} };
  const pki = path.join(dir, "pki");
  execFileSync("bash", ["-c", '. "$0" && rmq_make_pki "$1"', path.resolve(here, "../../../scripts/lib.sh"), pki]);
  const acl = path.join(dir, "plain_acl.yml");
  writeFileSync(acl, [
    "accounts:",
    "  - accessKey: jsBrokerAdmin", "    secretKey: js-broker-secret", "    admin: true",
    // The gateway creates its topics at start (CREATE_TOPICS), an admin request; explicit
    // lists keep its resource checks on (an admin without lists would skip them).
    "  - accessKey: jsChatService", "    secretKey: js-chat-secret", "    admin: true",
    "    defaultTopicPerm: PUB|SUB", "    defaultGroupPerm: PUB|SUB",
    "    topicPerms: [NotForChat=DENY]", "",
  ].join("\n"));
  const server = [
    "aclEnable=true", `aclFilePath=${acl}`, "tlsMode=enforcing",
    `tlsCertPath=${path.join(pki, "cert.pem")}`, `tlsKeyPath=${path.join(pki, "key.pem")}`,
  ];
  return {
    ns: server.flatMap((kv) => ["--set", kv]),
    broker: [...server, "tlsEnable=true", `tlsTrustCertPath=${path.join(pki, "ca.pem")}`,
      "accessKey=jsBrokerAdmin", "secretKey=js-broker-secret"],
    env: { RMQ_ACCESS_KEY: "jsChatService", RMQ_SECRET_KEY: "js-chat-secret", RMQ_TLS_CA: path.join(pki, "ca.pem") },
  };
}

/** Whether `port` can be bound on 127.0.0.1 right now (this suite's servers all use it). */
function canBind(port) {
  return new Promise((res) => {
    const s = net.createServer();
    s.once("error", () => res(false));
    s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
  });
}

/**
 * A port p with p-2 and p+1 free as well (the broker's VIP and HA ports), picked at random
 * below the kernel's ephemeral range (32768): an ephemeral port may be given to any outgoing
 * connection between this check and the server's bind (scripts/lib.sh's rmq_free_port does
 * the same).
 */
const given = new Set();
async function brokerPort() {
  for (let i = 0; i < 500; i++) {
    const p = 20002 + Math.floor(Math.random() * 12000);
    if ([p - 2, p, p + 1].some((q) => given.has(q))) continue;
    const ok = await Promise.all([p - 2, p, p + 1].map(canBind));
    if (ok.every(Boolean)) {
      [p - 2, p, p + 1].forEach((q) => given.add(q));
      return p;
    }
  }
  throw new Error("no free broker port");
}

async function waitFor(what, ms, fn) {
  const end = Date.now() + ms;
  for (;;) {
    try { if (await fn()) return; } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function tcpOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

const b64url = (b) => Buffer.from(b).toString("base64url");

/** An HS256 chat token. */
export function token(sub, { secret = SECRET, aud = "chat", ttl = 3600, scope = ["chat.read:r_*", "chat.write:r_*", "chat.write:d_*"] } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify({ sub, aud, iat: now, exp: now + ttl, scope, roles: ["user"] }));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/** Start namesrv + broker + 1 observer + 1 gateway. Returns { url, port, stop() }. */
export async function startCluster(gatewayEnv = {}, scheme = "http") {
  const dir = mkdtempSync(path.join(tmpdir(), "chat-js-"));
  const procs = [];
  const run = (name, bin, args, env) => {
    const log = openSync(path.join(dir, `${name}.log`), "a");
    const p = spawn(path.join(BIN_DIR, bin), args, { env: { ...process.env, ...env }, stdio: ["ignore", log, log] });
    procs.push({ name, p });
    return p;
  };
  const stop = async () => {
    for (const { p } of procs.reverse()) {
      if (p.exitCode === null) {
        p.kill("SIGKILL");
        await new Promise((r) => p.once("exit", r));
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const sec = secureSetup(dir);
    const nsPort = await brokerPort();
    const ns = `127.0.0.1:${nsPort}`;
    run("namesrv", "mqnamesrv", ["--listen", ns, "--set", `kvConfigPath=${path.join(dir, "kv.json")}`, ...sec.ns], {});
    await waitFor("namesrv", 20000, () => tcpOpen(nsPort));
    const bp = await brokerPort();
    writeFileSync(path.join(dir, "broker.conf"), [
      "brokerClusterName=JsCluster", "brokerName=broker-a", "brokerId=0", `namesrvAddr=${ns}`, "brokerIP1=127.0.0.1",
      `listenPort=${bp}`, `haListenPort=${bp + 1}`, `storePathRootDir=${path.join(dir, "store")}`, `rocketmqHome=${dir}`,
      "registerNameServerPeriod=2000", "autoCreateTopicEnable=true", ...sec.broker, "",
    ].join("\n"));
    run("broker", "mqbroker", ["-c", path.join(dir, "broker.conf")], {});
    await waitFor("broker", 30000, () => tcpOpen(bp));
    // OFFSETS_DIR inside our temp dir: stop() SIGKILLs the services, which then cannot remove
    // their per-process offsets dirs themselves; rmSync(dir) does.
    const common = { NAMESRV_ADDR: ns, JWT_SECRET: SECRET, BROKER_HEARTBEAT_INTERVAL: "1000", RUST_LOG: "info", OFFSETS_DIR: dir, ...sec.env };
    const obsPort = await brokerPort();
    run("observer", "chat-observer", [], { ...common, INSTANCE_ID: "js-obs", HEALTH_CHECK_PORT: String(obsPort) });
    await waitFor("observer ready", 60000, async () => (await fetch(`http://127.0.0.1:${obsPort}/ready`)).ok);
    const port = await brokerPort();
    run("gateway", "chat-gateway", [], {
      ...common, INSTANCE_ID: "js-gw", PORT: String(port), BIND_ADDR: "127.0.0.1",
      HEARTBEAT_INTERVAL: "1", CONNECTION_TIMEOUT: "4", ...gatewayEnv,
    });
    await waitFor("gateway ready", 60000, () => scheme === "http"
      ? fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok)
      : tcpOpen(port));
    return { url: `ws://127.0.0.1:${port}/websocket`, port, dir, stop, log: (n) => readFileSync(path.join(dir, `${n}.log`), "utf8") };
  } catch (e) {
    for (const { name } of procs) {
      try { console.error(`--- ${name} ---\n` + readFileSync(path.join(dir, `${name}.log`), "utf8").slice(-2000)); } catch { /* none */ }
    }
    await stop();
    throw e;
  }
}
