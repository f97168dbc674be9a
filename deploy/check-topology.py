#!/usr/bin/env python3
"""Cross-object checks of the deployment files that a schema cannot make (scripts/deploy-check.sh).

    deploy/check-topology.py [K8S_DIR] [COMPOSE_FILE]

Kubernetes (every *.yaml under K8S_DIR, default deploy/k8s):
  * each StatefulSet's serviceName is a headless Service whose selector picks its pods, and
    its selector matches its pod template's labels;
  * name-server addresses (namesrvAddr in the broker config, NAMESRV_ADDR of the services) are
    stable names `<sts>-<i>.<service>:<port>` of the name-server StatefulSet, i < replicas;
  * broker groups: per brokerName exactly one master (brokerId 0, a *_MASTER role) and slaves
    with distinct brokerIds > 0 and brokerRole SLAVE; a slave's haMasterAddress is its
    master's stable name `<master sts>-0.<service>:<haListenPort>`, a port the master's
    container and the Service expose.
Compose (COMPOSE_FILE, default deploy/compose.yaml): the same broker-group rules, each slave
depends on its master, and no two services share a default port.
Prints one line per check group; exits 1 with the reasons on any failure.
"""
import os
import re
import sys

import yaml

errors = []


def err(msg):
    errors.append(msg)


def props(text):
    """Java-properties `key = value` lines (comments and blanks skipped)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            k, _, v = line.partition("=") if "=" in line else line.partition(":")
            out[k.strip()] = v.strip()
    return out


def apache_key(env_name):
    """MQBROKER_HA_MASTER_ADDRESS -> haMasterAddress, MQBROKER_BROKER_IP1 -> brokerIP1."""
    words = env_name[len("MQBROKER_"):].split("_")
    key = words[0].lower() + "".join(w.title() for w in words[1:])
    return key.replace("Ip1", "IP1").replace("Ip2", "IP2")


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", []) or []}


def check_groups(where, brokers):
    """brokers: [(name, {brokerName, brokerId, brokerRole, haMasterAddress}, extra)]."""
    groups = {}
    for name, cfg, extra in brokers:
        groups.setdefault(cfg.get("brokerName"), []).append((name, cfg, extra))
    for group, members in groups.items():
        if not group:
            err(f"{where}: broker {members[0][0]} has no brokerName")
            continue
        masters = [m for m in members if str(m[1].get("brokerId", "0")) == "0"]
        if len(masters) != 1:
            err(f"{where}: group {group} has {len(masters)} brokers with brokerId 0: {[m[0] for m in masters]}")
            continue
        mname, mcfg, _ = masters[0]
        if mcfg.get("brokerRole", "ASYNC_MASTER") not in ("ASYNC_MASTER", "SYNC_MASTER"):
            err(f"{where}: {mname} has brokerId 0 but brokerRole {mcfg.get('brokerRole')}")
        ids = set()
        for name, cfg, _ in members:
            if (name, cfg) == (mname, mcfg):
                continue
            bid = str(cfg.get("brokerId"))
            if not bid.isdigit() or int(bid) <= 0 or bid in ids:
                err(f"{where}: slave {name} of {group} needs its own brokerId > 0 (has {bid})")
            ids.add(bid)
            if cfg.get("brokerRole") != "SLAVE":
                err(f"{where}: {name} of {group} has brokerId {bid} but brokerRole {cfg.get('brokerRole')}")
        if mcfg.get("brokerRole") == "SYNC_MASTER" and len(members) < 2:
            err(f"{where}: {mname} is a SYNC_MASTER without a slave (every send would be SLAVE_NOT_AVAILABLE)")
    return groups


def check_k8s(d):
    docs = []
    for f in sorted(os.listdir(d)):
        if f.endswith(".yaml") and f != "kustomization.yaml":
            with open(os.path.join(d, f)) as fh:
                docs += [(f, x) for x in yaml.safe_load_all(fh) if x]
    services = {x["metadata"]["name"]: x for _, x in docs if x["kind"] == "Service"}
    stss = {x["metadata"]["name"]: x for _, x in docs if x["kind"] == "StatefulSet"}
    config = {}
    for _, x in docs:
        if x["kind"] == "ConfigMap":
            for k, v in (x.get("data") or {}).items():
                config[(x["metadata"]["name"], k)] = v

    def picks(selector, labels):
        return all(labels.get(k) == v for k, v in selector.items())

    for name, s in stss.items():
        spec = s["spec"]
        labels = spec["template"]["metadata"].get("labels", {})
        if not picks(spec["selector"]["matchLabels"], labels):
            err(f"k8s: StatefulSet {name}: selector does not match its pod labels")
        svc = services.get(spec["serviceName"])
        if svc is None or svc["spec"].get("clusterIP") != "None":
            err(f"k8s: StatefulSet {name}: serviceName {spec['serviceName']} is not a headless Service here")
        elif not picks(svc["spec"]["selector"], labels):
            err(f"k8s: Service {spec['serviceName']} does not select the pods of {name}")
    print(f"   {len(stss)} StatefulSets: headless services and selectors agree")

    # Stable names of the name servers.
    ns_names = set()
    for name, s in stss.items():
        c = s["spec"]["template"]["spec"]["containers"][0]
        if c["image"].endswith("mqnamesrv"):
            port = next(p["containerPort"] for p in c["ports"] if p["name"] == "remoting")
            ns_names |= {f"{name}-{i}.{s['spec']['serviceName']}:{port}" for i in range(s["spec"]["replicas"])}
    addr_lists = [(f"ConfigMap {cm} {k}", props(v).get("namesrvAddr")) for (cm, k), v in config.items() if k.endswith(".conf")]
    addr_lists += [(f"ConfigMap {cm}", v) for (cm, k), v in config.items() if k == "NAMESRV_ADDR"]
    for where, v in addr_lists:
        if v is None:
            continue
        for a in v.split(";"):
            if a not in ns_names:
                err(f"k8s: {where}: name server {a} is not a stable name-server address {sorted(ns_names)}")
    print(f"   name-server addresses are the stable names {sorted(ns_names)}")

    # Broker groups.
    brokers = []
    for name, s in stss.items():
        pod = s["spec"]["template"]["spec"]
        c = pod["containers"][0]
        if not c["image"].endswith("mqbroker"):
            continue
        conf_vol = next((v for v in pod.get("volumes", []) if v["name"] == "conf"), None)
        cfg = {}
        if conf_vol:
            arg = c.get("args", [])
            file = os.path.basename(arg[arg.index("-c") + 1]) if "-c" in arg else "broker.conf"
            cfg = props(config.get((conf_vol["configMap"]["name"], file), ""))
        for k, v in env_of(c).items():
            if k.startswith("MQBROKER_") and v is not None:
                cfg[apache_key(k)] = v
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        brokers.append((name, cfg, (s, ports)))
    groups = check_groups("k8s", brokers)
    for group, members in groups.items():
        master = next((m for m in members if str(m[1].get("brokerId", "0")) == "0"), None)
        if master is None:
            continue
        mname, mcfg, (msts, mports) = master
        ha_port = int(mcfg.get("haListenPort", int(mcfg.get("listenPort", 10911)) + 1))
        if ha_port not in mports.values():
            err(f"k8s: master {mname} does not expose its haListenPort {ha_port}")
        svc = services.get(msts["spec"]["serviceName"], {"spec": {"ports": []}})
        if ha_port not in [p["port"] for p in svc["spec"]["ports"]]:
            err(f"k8s: Service {msts['spec']['serviceName']} does not expose the HA port {ha_port}")
        want = f"{mname}-0.{msts['spec']['serviceName']}:{ha_port}"
        for name, cfg, _ in members:
            if name != mname and cfg.get("haMasterAddress") not in (None, want):
                err(f"k8s: slave {name} follows {cfg.get('haMasterAddress')}, not its master {want}")
    print(f"   broker groups: {', '.join(f'{g} ({len(m)} brokers)' for g, m in sorted(groups.items()))}")


def check_compose(path):
    with open(path) as f:
        spec = yaml.safe_load(f)
    services = spec["services"]
    var = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-(\d+)\}")
    brokers, ports = [], {}
    for name, s in services.items():
        env = s.get("environment") or {}
        text = yaml.safe_dump({"e": env, "c": s.get("command"), "h": s.get("healthcheck")})
        # A port variable's default, and the ports a broker derives from its listenPort.
        for m in var.finditer(text):
            if m.group(1).endswith("PORT"):
                ports.setdefault((m.group(1), int(m.group(2))), set()).add(name)
        if s["image"].split("/")[-1].startswith("mqbroker"):
            cfg = {}
            for k, v in env.items():
                if k.startswith("MQBROKER_"):
                    cfg[apache_key(k)] = var.sub(lambda m: m.group(2), str(v))
            listen = int(cfg.get("listenPort", 10911))
            for derived, p in (("fast", listen - 2), ("ha", listen + 1)):
                ports.setdefault((f"{name} {derived} port", p), set()).add(name)
            brokers.append((name, cfg, s))
    by_port = {}
    for (v, p), users in ports.items():
        by_port.setdefault(p, set()).add(v)
    for p, vs in sorted(by_port.items()):
        if len(vs) > 1:
            err(f"compose: default port {p} is used by {sorted(vs)}")
    groups = check_groups("compose", brokers)
    for group, members in groups.items():
        master = next((m[0] for m in members if str(m[1].get("brokerId", "0")) == "0"), None)
        for name, cfg, s in members:
            if name != master and master not in (s.get("depends_on") or []):
                err(f"compose: slave {name} does not depend_on its master {master}")
    print(f"   compose: {len(services)} services, default ports distinct, broker groups: "
          + ", ".join(f"{g} ({len(m)} brokers)" for g, m in sorted(groups.items())))


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)))
    k8s = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "k8s")
    compose = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "compose.yaml")
    check_k8s(k8s)
    check_compose(compose)
    if errors:
        sys.exit("check-topology:\n  " + "\n  ".join(errors))


if __name__ == "__main__":
    main()
