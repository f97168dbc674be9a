#!/usr/bin/env python3
"""Run deploy/compose.yaml with plain podman: the small runner CI uses.

Debian 12's podman-compose (1.0.3) cannot run this file: it adds a bridge network to every
container even with `network_mode: host`, and wraps exec-form health checks in `/bin/sh -c`,
which a FROM scratch image does not have. This runner reads the same file (the subset it uses:
image, network_mode, environment, volumes, command, healthcheck, stop_grace_period,
depends_on, `${VAR:-default}` interpolation, YAML anchors) and drives `podman run`: the
services of one dependency level start (and stop) together.

    deploy/compose.py [-p PROJECT] [-f FILE] up [SERVICE...]
    deploy/compose.py [-p PROJECT] [-f FILE] down [-v]      # -v: remove the volumes too
    deploy/compose.py [-p PROJECT] [-f FILE] ps

Containers are named PROJECT_SERVICE_1 and labelled io.podman.compose.project=PROJECT (as
podman-compose does), volumes PROJECT_NAME. Needs python3-yaml (a dependency of podman).
"""
import argparse
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import yaml

LABEL = "io.podman.compose.project"
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def interpolate(v):
    if isinstance(v, str):
        return VAR.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), v)
    if isinstance(v, list):
        return [interpolate(x) for x in v]
    if isinstance(v, dict):
        return {k: interpolate(x) for k, x in v.items()}
    return v


def seconds(v):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", str(v).strip())
    if not m:
        sys.exit(f"compose.py: bad duration {v!r}")
    n, unit = int(m.group(1)), m.group(2) or "s"
    return max(1, {"ms": n // 1000, "s": n, "m": n * 60}[unit])


def podman(*args, check=True, quiet=False):
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run(["podman", *args], check=check, stdout=out, stderr=out)


def order(services, wanted):
    """Services in dependency order (depends_on first)."""
    done, seq = set(), []

    def visit(name, path=()):
        if name in done:
            return
        if name in path:
            sys.exit(f"compose.py: dependency cycle at {name}")
        if name not in services:
            sys.exit(f"compose.py: unknown service {name}")
        deps = services[name].get("depends_on") or []
        for d in deps if isinstance(deps, list) else list(deps):
            visit(d, path + (name,))
        done.add(name)
        seq.append(name)

    for n in wanted or services:
        visit(n)
    return seq


def levels(services):
    """Services grouped by dependency depth: [[no depends_on], [depending on those], ...]."""
    depth = {}
    for n in order(services, []):  # dependencies come first
        deps = services[n].get("depends_on") or []
        depth[n] = 1 + max((depth[d] for d in deps), default=-1)
    return [[n for n in depth if depth[n] == d] for d in range(max(depth.values(), default=-1) + 1)]


def run_args(project, name, svc):
    a = ["run", "-d", f"--name={project}_{name}_1", "--label", f"{LABEL}={project}",
         "--label", f"com.docker.compose.service={name}"]
    if svc.get("network_mode"):
        a += ["--network", svc["network_mode"]]
    env = svc.get("environment") or {}
    items = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)
    for k, v in items:
        a += ["-e", f"{k}={'' if v is None else v}"]
    for vol in svc.get("volumes") or []:
        src, _, dst = vol.partition(":")
        if not src.startswith(("/", ".")):
            src = f"{project}_{src}"
            if podman("volume", "exists", src, check=False, quiet=True).returncode != 0:
                podman("volume", "create", "--label", f"{LABEL}={project}", src, quiet=True)
        a += ["-v", f"{src}:{dst}"]
    hc = svc.get("healthcheck") or {}
    test = hc.get("test")
    if isinstance(test, list) and test and test[0] == "CMD":
        a += ["--health-cmd", json.dumps(test[1:])]  # a JSON array: exec form, no shell
    elif isinstance(test, list) and test and test[0] == "NONE":
        a += ["--no-healthcheck"]
    for key, flag in [("interval", "--health-interval"), ("timeout", "--health-timeout"),
                      ("start_period", "--health-start-period")]:
        if key in hc:
            a += [flag, str(hc[key])]
    if "retries" in hc:
        a += ["--health-retries", str(hc["retries"])]
    if "stop_grace_period" in svc:
        a += ["--stop-timeout", str(seconds(svc["stop_grace_period"]))]
    a.append(svc["image"])
    cmd = svc.get("command")
    a += cmd if isinstance(cmd, list) else (cmd.split() if cmd else [])
    return a


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-p", "--project", default=os.environ.get("COMPOSE_PROJECT_NAME", "rmq"))
    p.add_argument("-f", "--file", default=os.path.join(os.path.dirname(__file__), "compose.yaml"))
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("services", nargs="*")
    up.add_argument("-d", action="store_true", help="accepted (always detached)")
    down = sub.add_parser("down")
    down.add_argument("-v", "--volumes", action="store_true")
    sub.add_parser("ps")
    args = p.parse_args()
    with open(args.file) as f:
        spec = interpolate(yaml.safe_load(f))
    services = spec.get("services") or {}
    filt = ["--filter", f"label={LABEL}={args.project}"]
    if args.cmd == "up":
        wanted = set(order(services, args.services))
        for level in levels(services):
            names = [n for n in level if n in wanted]
            # Prepared one by one (volumes), started together: a service waits only for the
            # level it depends on (as compose's depends_on: started, not healthy).
            argv = {n: run_args(args.project, n, services[n]) for n in names}
            with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
                runs = list(pool.map(lambda n: subprocess.run(["podman", *argv[n]], capture_output=True,
                                                              text=True), names))
            for n, r in zip(names, runs):
                if r.returncode != 0:
                    sys.exit(f"compose.py: starting {n} failed: {r.stderr.strip()}")
                print(f"started {args.project}_{n}_1")
    elif args.cmd == "down":
        ids = subprocess.run(["podman", "ps", "-aq", *filt], capture_output=True, text=True).stdout.split()
        # Reverse dependency order: clients before the brokers, a slave before its master, the
        # brokers before the name servers; the services of one level stop together.
        for level in reversed(levels(services)):
            grace = max(seconds(services[n].get("stop_grace_period", "10s")) for n in level)
            podman("stop", "-t", str(grace), *(f"{args.project}_{n}_1" for n in level),
                   check=False, quiet=True)
        if ids:
            podman("rm", "-f", *ids, check=False, quiet=True)
        if args.volumes:
            vols = subprocess.run(["podman", "volume", "ls", "-q", *filt], capture_output=True, text=True).stdout.split()
            if vols:
                podman("volume", "rm", "-f", *vols, check=False, quiet=True)
    else:
        podman("ps", "-a", *filt, "--format", "{{.Names}}\t{{.Status}}")


if __name__ == "__main__":
    main()
