#!/usr/bin/env python3
"""A fake mamori-server for the agent's integration tests (docs/protocol.md, agent side).

It speaks the agent protocol over HTTPS with client certificates, issued by its own CA
(made with the openssl command line in DIR on first start), and records everything it is
sent so tests can check it: every (host, seq) is stored once, and a sequence number that
comes back with *different* contents is recorded as a conflict (that would be a reused
number, i.e. a lost event). Its state is kept in DIR/state.json so it survives a restart.

A plain-HTTP control listener on 127.0.0.1 lets the test inspect and steer it:
  GET  /state                      everything recorded (JSON)
  POST /config {"mode": "ok"|"503"|"down", "retry_after": S, "checkin_interval": S,
                "inventory_interval": S, "conflict_409": N, "want_full": true,
                "policy": {"usb": {…}}}   (the policy sent with every check-in answer)
  POST /token {"token": T, "uses": N}
"down" closes the agent listener (connections refused) until mode is set back.

Usage: fake-server.py DIR   — writes DIR/ports.json {"agent": P, "control": Q} when ready.
"""
import gzip
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = sys.argv[1]
LOCK = threading.Lock()
STATE_FILE = os.path.join(DIR, "state.json")


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_ca():
    if os.path.exists(os.path.join(DIR, "ca.crt")):
        return
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", os.path.join(DIR, "ca.key"), "-out", os.path.join(DIR, "ca.crt"),
        "-subj", "/CN=fake mamori CA", "-days", "3650",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", os.path.join(DIR, "server.key"),
        "-out", os.path.join(DIR, "server.csr"), "-subj", "/CN=localhost")
    with open(os.path.join(DIR, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", os.path.join(DIR, "server.csr"),
        "-CA", os.path.join(DIR, "ca.crt"), "-CAkey", os.path.join(DIR, "ca.key"),
        "-set_serial", "1", "-days", "3650", "-extfile", os.path.join(DIR, "server.ext"),
        "-out", os.path.join(DIR, "server.crt"))


def load_state():
    if os.path.exists(STATE_FILE):
        with open(STATE_FILE) as f:
            return json.load(f)
    return {"tokens": {}, "hosts": {}, "serials": {}, "next_serial": 100,
            "config": {"mode": "ok", "retry_after": 0, "checkin_interval": 300,
                       "inventory_interval": 3600, "conflict_409": 0, "want_full": False},
            "requests": [], "conflicts": [], "enrollments": []}


STATE = None


def save():
    tmp = STATE_FILE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(STATE, f)
    os.replace(tmp, STATE_FILE)


def sign_csr(csr_pem, host_id, serial):
    with tempfile.TemporaryDirectory() as t:
        csr = os.path.join(t, "a.csr")
        ext = os.path.join(t, "ext")
        crt = os.path.join(t, "a.crt")
        with open(csr, "w") as f:
            f.write(csr_pem)
        with open(ext, "w") as f:
            f.write("extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n")
        run("openssl", "req", "-verify", "-in", csr, "-noout")
        run("openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(DIR, "ca.crt"),
            "-CAkey", os.path.join(DIR, "ca.key"), "-set_serial", str(serial),
            "-days", "30", "-subj", "/CN=" + host_id, "-extfile", ext, "-out", crt)
        with open(crt) as f:
            return f.read()


OPEN = set()  # the agent listener's live connections, closed when it goes "down"


class AgentHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with LOCK:
            OPEN.add(self.connection)

    def finish(self):
        with LOCK:
            OPEN.discard(self.connection)
        super().finish()

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, headers=()):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        if self.command == "POST":
            save()  # durable before acknowledged, like the real server
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, text, headers=()):
        self.reply(status, {"error": text, "code": code}, headers)

    def host(self):
        cert = self.connection.getpeercert()
        if not cert:
            return None
        return STATE["serials"].get(str(int(cert["serialNumber"], 16)))

    def body(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        enc = self.headers.get("Content-Encoding", "identity")
        if enc == "gzip":
            raw = gzip.decompress(raw)
        return enc, n, json.loads(raw)

    def note(self, status, **extra):
        rec = {"time": time.time(), "path": self.path, "status": status}
        rec.update(extra)
        STATE["requests"].append(rec)

    def do_GET(self):
        if self.path == "/agent/v1/ca":
            with open(os.path.join(DIR, "ca.crt"), "rb") as f:
                pem = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-pem-file")
            self.send_header("Content-Length", str(len(pem)))
            self.end_headers()
            self.wfile.write(pem)
            return
        self.error(404, "not_found", "no such path")

    def do_POST(self):
        with LOCK:
            self.post()

    def post(self):
        cfg = STATE["config"]
        try:
            enc, wire, body = self.body()
        except Exception as e:  # noqa: BLE001 - the fake reports anything it cannot read
            self.note(400, error=str(e))
            return self.error(400, "malformed", "cannot read the body: %s" % e)
        if cfg["mode"] == "503" and self.path != "/agent/v1/enroll":
            self.note(503)
            return self.error(503, "busy", "shedding load",
                              [("Retry-After", str(cfg["retry_after"]))])
        if self.path == "/agent/v1/enroll":
            return self.enroll(body)
        host_id = self.host()
        if host_id is None:
            self.note(401)
            return self.error(401, "no_client_certificate", "a client certificate is needed")
        h = STATE["hosts"][host_id]
        if self.path == "/agent/v1/checkin":
            self.note(200, host=host_id, body=body)
            h["checkins"] += 1
            if cfg["want_full"] or not h["digest"]:
                inv = "full"
            elif body.get("inventory_digest") == h["digest"]:
                inv = "ok"
            else:
                inv = "delta"
            h["usb_policy_version"] = body.get("usb_policy_version")
            h["policy_version"] = body.get("policy_version")
            answer = {
                "server_time": int(time.time()),
                "checkin_interval": cfg["checkin_interval"],
                "inventory_interval": cfg["inventory_interval"],
                "inventory": inv, "inventory_base": h["digest"],
                "acked_seq": h["max_seq"], "commands": []}
            if cfg.get("policy"):
                answer["policy"] = cfg["policy"]
            return self.reply(200, answer)
        if self.path == "/agent/v1/inventory":
            kind = body.get("kind")
            rec = {"kind": kind, "digest": body.get("digest"), "encoding": enc,
                   "wire_bytes": wire, "base": body.get("base_digest")}
            if kind == "delta" and (cfg["conflict_409"] > 0 or body.get("base_digest") != h["digest"]):
                if cfg["conflict_409"] > 0:
                    cfg["conflict_409"] -= 1
                rec["status"] = 409
                h["inventories"].append(rec)
                self.note(409, host=host_id, kind=kind)
                return self.error(409, "inventory_base_mismatch", "send a full snapshot")
            if kind == "full":
                h["document"] = body.get("document")
            else:
                h["last_delta"] = body.get("delta")
            h["digest"] = body.get("digest")
            cfg["want_full"] = False
            rec["status"] = 200
            h["inventories"].append(rec)
            self.note(200, host=host_id, kind=kind, encoding=enc)
            return self.reply(200, {"digest": h["digest"], "changes": 1})
        if self.path == "/agent/v1/events":
            events = body.get("events", [])
            if len(events) > 1000:
                self.note(413, host=host_id)
                return self.error(413, "too_large", "more than 1000 events")
            stored = 0
            for e in events:
                key = str(e["seq"])
                if key in h["events"]:
                    if h["events"][key] != e:
                        STATE["conflicts"].append({"host": host_id, "seq": e["seq"],
                                                   "held": h["events"][key], "sent": e})
                    continue
                h["events"][key] = e
                h["max_seq"] = max(h["max_seq"], e["seq"])
                stored += 1
            h["batches"].append({"n": len(events), "stored": stored, "encoding": enc,
                                 "time": time.time(),
                                 "first": events[0]["seq"] if events else None,
                                 "last": events[-1]["seq"] if events else None})
            self.note(200, host=host_id, n=len(events), stored=stored, encoding=enc)
            return self.reply(200, {"acked_seq": h["max_seq"], "stored": stored})
        self.note(404)
        return self.error(404, "not_found", "no such path")

    def enroll(self, body):
        tok = STATE["tokens"].get(body.get("token"))
        if tok is None:
            self.note(403, code="token_unknown")
            return self.error(403, "token_unknown", "no such enrolment token")
        if tok["uses"] <= 0:
            self.note(403, code="token_used")
            return self.error(403, "token_used", "the token has been used up")
        host_id = str(uuid.uuid4())
        serial = STATE["next_serial"]
        try:
            cert = sign_csr(body["csr"], host_id, serial)
        except Exception as e:  # noqa: BLE001
            self.note(400, error=str(e))
            return self.error(400, "malformed", "field 'csr': not a valid request")
        tok["uses"] -= 1
        STATE["next_serial"] += 1
        STATE["serials"][str(serial)] = host_id
        STATE["hosts"][host_id] = {"facts": body.get("facts"), "events": {}, "max_seq": 0,
                                   "digest": "", "document": None, "inventories": [],
                                   "batches": [], "checkins": 0}
        STATE["enrollments"].append({"host": host_id, "body": body})
        self.note(200, host=host_id)
        with open(os.path.join(DIR, "ca.crt")) as f:
            ca = f.read()
        cfg = STATE["config"]
        return self.reply(200, {"host_id": host_id, "certificate": cert, "ca": ca,
                                "checkin_interval": cfg["checkin_interval"],
                                "inventory_interval": cfg["inventory_interval"]})


class ControlHandler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            self.reply(STATE)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        with LOCK:
            if self.path == "/token":
                STATE["tokens"][body["token"]] = {"uses": body.get("uses", 1)}
            elif self.path == "/config":
                STATE["config"].update(body)
                if "mode" in body:
                    AGENT.set_down(body["mode"] == "down")
            save()
            self.reply({"ok": True})


class AgentListener:
    """The TLS listener, which "down" closes and "ok" opens again on the same port."""

    def __init__(self):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(DIR, "server.crt"), os.path.join(DIR, "server.key"))
        self.ctx.load_verify_locations(os.path.join(DIR, "ca.crt"))
        self.ctx.verify_mode = ssl.CERT_OPTIONAL
        self.port = 0
        self.server = None
        self.thread = None

    def open(self):
        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), AgentHandler)
        self.server.daemon_threads = True
        self.server.socket = self.ctx.wrap_socket(self.server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set_down(self, down):
        if down and self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
            for c in list(OPEN):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        elif not down and not self.server:
            self.open()


def main():
    global STATE, AGENT
    os.makedirs(DIR, exist_ok=True)
    make_ca()
    STATE = load_state()
    AGENT = AgentListener()
    ports = os.path.join(DIR, "ports.json")
    AGENT.port = STATE.get("agent_port", 0)  # a restarted server keeps its port
    if STATE["config"]["mode"] != "down":
        AGENT.open()
    STATE["agent_port"] = AGENT.port
    save()
    control = ThreadingHTTPServer(("127.0.0.1", 0), ControlHandler)
    control.daemon_threads = True
    tmp = ports + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"agent": AGENT.port, "control": control.server_address[1]}, f)
    os.replace(tmp, ports)
    control.serve_forever()


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
