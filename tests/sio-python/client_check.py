#!/usr/bin/env python3
"""End-to-end check of a Socket.IO scenario server with PyPI python-socketio 5.x, a client
written independently of the npm one (contract: shared/contracts/socketio-fixtures.md, section 2).

Runs every check over the transports ["websocket"], ["polling"] and ["polling", "websocket"].
Prints `ok   <name>` / `FAIL <name> <detail>` per check, then `N passed, M failed`; exits 0 when
every check passes. Every wait is bounded. Connection state recovery is not implemented by
python-socketio and is not checked here (tests/sio-reference/client_check.js covers it).

Usage: python client_check.py --url http://127.0.0.1:3001
"""

import argparse
import importlib.metadata
import sys
import threading
import time
import traceback
import uuid

import socketio

WAIT = 4.0  # seconds, for anything that must arrive
SETTLE = 0.3  # seconds, before asserting that something did not arrive

# Events the server emits on "/" and "/admin" that the checks look at.
EVENTS = [
    "welcome",
    "room message",
    "rooms message",
    "except message",
    "private message",
    "chat message",
    "broadcast message",
    "binary data",
    "double reply",
    "any seen",
    "disconnecting report",
    "disconnect report",
]
ADMIN_EVENTS = ["admin welcome", "admin news"]

passed = 0
failed = 0


def check(name, cond, detail=None):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}  {detail!r}", flush=True)


class Group:
    """Runs a group of checks; an exception (a timeout, a refused call) fails the group."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None:
            check(self.name, False, f"{kind.__name__}: {exc}")
            traceback.print_exception(kind, exc, tb, file=sys.stderr)
        return True


class Peer:
    """A socketio.Client that records what it receives, in arrival order."""

    def __init__(self, url, transports, namespaces=("/",), auth=None, connect=True):
        self.url = url
        self.transports = list(transports)
        self.namespaces = list(namespaces)
        self.auth = auth
        self.sio = socketio.Client(reconnection=False)
        self.cond = threading.Condition(threading.RLock())
        self.seq = 0
        self.got = {}  # (namespace, event) -> [(seq, args)]
        for ev in EVENTS:
            self.sio.on(ev, self._recorder("/", ev), namespace="/")
        for ev in ADMIN_EVENTS:
            self.sio.on(ev, self._recorder("/admin", ev), namespace="/admin")
        for ns in ("/", "/admin"):
            self.sio.on("disconnect", self._recorder(ns, "disconnect"), namespace=ns)
            self.sio.on("connect_error", self._recorder(ns, "connect_error"), namespace=ns)
        self.sio.on("question", self._question, namespace="/")
        if connect:
            self.connect()

    def connect(self):
        self.sio.connect(
            self.url,
            transports=self.transports,
            namespaces=self.namespaces,
            auth=self.auth,
            wait_timeout=WAIT,
        )

    def _recorder(self, ns, event):
        def record(*args):
            with self.cond:
                self.seq += 1
                self.got.setdefault((ns, event), []).append((self.seq, args))
                self.cond.notify_all()

        return record

    @staticmethod
    def _question(question):
        # The server asks with an ack; what this returns is the answer.
        if question == "slow":
            time.sleep(1.0)
            return "too late"
        if question == "silent":
            return None
        return {"answer": 42, "to": question}

    def wait(self, event, count=1, ns="/", timeout=WAIT):
        """The first `count` arrivals of `event` (each the tuple of its arguments)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.got.get((ns, event), [])) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    have = len(self.got.get((ns, event), []))
                    raise TimeoutError(f"waited {timeout}s for {count} {event!r} on {ns}, got {have}")
                self.cond.wait(left)
            return [args for _, args in self.got[(ns, event)][:count]]

    def arrivals(self, event, ns="/"):
        with self.cond:
            return list(self.got.get((ns, event), []))

    def payloads(self, event, ns="/", key=None, value=None):
        """First arguments of every `event` received so far; with `key`, only the dicts whose
        `key` is `value` (other runs may share the server: rooms and broadcasts are global)."""
        found = [args[0] if args else None for _, args in self.arrivals(event, ns)]
        if key is None:
            return found
        return [p for p in found if isinstance(p, dict) and p.get(key) == value]

    def arrival_seq(self, event, key, value, ns="/"):
        """Arrival number of the first `event` whose `key` is `value`."""
        for seq, args in self.arrivals(event, ns):
            if args and isinstance(args[0], dict) and args[0].get(key) == value:
                return seq
        return None

    def wait_for(self, event, key, value, count=1, ns="/", timeout=WAIT):
        """The first `count` payloads of `event` whose `key` is `value`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.payloads(event, ns, key, value)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"waited {timeout}s for {count} {event!r} with {key}={value!r} on {ns}")
                self.cond.wait(left)
            return self.payloads(event, ns, key, value)[:count]

    def call(self, event, data=None, ns="/"):
        return self.sio.call(event, data, namespace=ns, timeout=WAIT)

    def id(self, ns="/"):
        return self.sio.get_sid(ns)

    def close(self):
        try:
            self.sio.disconnect()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass


def first(args):
    return args[0] if args else None


def run(url, transports):
    tag = "+".join(transports)
    # Room names of this run: rooms, broadcasts and the watchers room are shared by every client
    # of the server, so what another run does must not count here.
    u = uuid.uuid4().hex[:8]
    r1, r2, temp, lc, none = (f"{name}-{u}" for name in ("r1", "r2", "temp", "lc", "nobody"))
    a = Peer(url, transports)
    b = Peer(url, ["websocket"])
    c = Peer(url, transports)
    peers = [a, b, c]
    try:
        with Group(f"{tag}: welcome"):
            welcome = first(a.wait("welcome")[0])
            check(
                f"{tag}: welcome not recovered, nsp /",
                isinstance(welcome, dict) and welcome.get("recovered") is False and welcome.get("nsp") == "/",
                welcome,
            )
            check(
                f"{tag}: welcome ids are the socket's and the engine's",
                welcome.get("id") == a.id() and welcome.get("engineId") == a.sio.sid and a.id() != a.sio.sid,
                {"welcome": welcome, "sid": a.id(), "engine": a.sio.sid},
            )
            want = "polling" if transports == ["polling"] else "websocket"
            check(f"{tag}: transport is {want}", a.sio.transport() == want, a.sio.transport())

        with Group(f"{tag}: echo"):
            r = a.call("echo", "hi")
            check(f"{tag}: echo one arg", r == "hi", r)
            r = a.call("echo", (1, "2", {"3": [True]}, None))
            check(f"{tag}: echo several args", r == (1, "2", {"3": [True]}, None), r)
            r = a.call("echo", b"\x01\x02\x03")
            check(f"{tag}: echo binary comes back as bytes", r == b"\x01\x02\x03" and isinstance(r, bytes), r)
            r = a.call("echo", ("text", {"nested": [b"\xff\x00", {"deep": b"ab"}]}, b""))
            check(
                f"{tag}: echo mixed binary args",
                r == ("text", {"nested": [b"\xff\x00", {"deep": b"ab"}]}, b""),
                r,
            )
            r = a.call("echo")
            check(f"{tag}: echo no args", r is None, r)

        with Group(f"{tag}: rooms"):
            ja = a.call("join", r1)
            check(
                f"{tag}: join ack lists own id first",
                ja.get("rooms", [None])[0] == a.id() and r1 in ja["rooms"],
                ja,
            )
            ja = a.call("join", r2)
            check(f"{tag}: join second room", ja.get("rooms") == [a.id(), r1, r2], ja)
            jb = b.call("join", r2)
            check(f"{tag}: join from another client", jb.get("rooms") == [b.id(), r2], jb)
            rs = c.call("room size", r2)
            check(f"{tag}: room size counts members", rs == {"size": 2}, rs)
            rs = c.call("room size", none)
            check(f"{tag}: room size of an unknown room is 0", rs == {"size": 0}, rs)
            a.call("join", temp)
            la = a.call("leave", temp)
            check(f"{tag}: leave ack", la.get("rooms") == [a.id(), r1, r2], la)
            rs = c.call("room size", temp)
            check(f"{tag}: left room is empty", rs == {"size": 0}, rs)

        with Group(f"{tag}: to room"):
            ack = a.call("to room", {"room": r2, "payload": {"n": 1, "bin": b"\x07"}})
            got = b.wait_for("room message", "room", r2)[0]
            time.sleep(SETTLE)
            check(f"{tag}: to room ack", ack == {"ok": True}, ack)
            check(
                f"{tag}: to room reaches another member",
                got == {"from": a.id(), "room": r2, "payload": {"n": 1, "bin": b"\x07"}},
                got,
            )
            seen = {p: x.payloads("room message", key="room", value=r2) for p, x in zip("abc", peers)}
            check(
                f"{tag}: to room skips the sender and non-members",
                seen["a"] == [] and seen["c"] == [] and len(seen["b"]) == 1,
                seen,
            )

        with Group(f"{tag}: to rooms"):
            ack = c.call("to rooms", {"rooms": [r1, r2], "payload": "u"})
            ga = a.wait_for("rooms message", "from", c.id())[0]
            gb = b.wait_for("rooms message", "from", c.id())[0]
            time.sleep(SETTLE)
            check(f"{tag}: to rooms ack", ack == {"ok": True}, ack)
            check(
                f"{tag}: to rooms reaches the union",
                ga == gb == {"from": c.id(), "rooms": [r1, r2], "payload": "u"},
                [ga, gb],
            )
            seen = {p: len(x.payloads("rooms message", key="from", value=c.id())) for p, x in zip("abc", peers)}
            check(f"{tag}: to rooms delivers once per socket", seen == {"a": 1, "b": 1, "c": 0}, seen)

        with Group(f"{tag}: to room except"):
            ack = c.call("to room except", {"room": r2, "except": r1, "payload": "x"})
            gb = b.wait_for("except message", "from", c.id())[0]
            time.sleep(SETTLE)
            check(f"{tag}: to room except ack", ack == {"ok": True}, ack)
            check(
                f"{tag}: to room except reaches the others",
                gb == {"from": c.id(), "room": r2, "except": r1, "payload": "x"},
                gb,
            )
            seen = [a.payloads("except message", key="from", value=c.id()), c.payloads("except message")]
            check(f"{tag}: to room except skips the excepted", seen == [[], []], seen)

        with Group(f"{tag}: to id"):
            ack = c.call("to id", {"id": a.id(), "payload": [1, b"\x02"]})
            ga = a.wait_for("private message", "from", c.id())[0]
            time.sleep(SETTLE)
            check(f"{tag}: to id ack", ack == {"ok": True}, ack)
            check(f"{tag}: to id reaches that socket", ga == {"from": c.id(), "payload": [1, b"\x02"]}, ga)
            seen = [b.payloads("private message"), c.payloads("private message")]
            check(f"{tag}: to id reaches no one else", seen == [[], []], seen)

        with Group(f"{tag}: chat message"):
            a.sio.emit("chat message", "hello all")
            got = [p.wait_for("chat message", "from", a.id())[0] for p in peers]
            want = {"from": a.id(), "text": "hello all"}
            check(f"{tag}: chat message reaches everyone, sender included", got == [want] * 3, got)

        with Group(f"{tag}: broadcast message"):
            payload = {"text": "to the others", "blob": b"\x00\x01\xfe"}
            a.sio.emit("broadcast message", payload)
            gb = b.wait_for("broadcast message", "from", a.id())[0]
            gc = c.wait_for("broadcast message", "from", a.id())[0]
            time.sleep(SETTLE)
            want = {"from": a.id(), "payload": payload}
            check(f"{tag}: broadcast message reaches the others, binary kept", gb == gc == want, [gb, gc])
            seen = a.payloads("broadcast message", key="from", value=a.id())
            check(f"{tag}: broadcast message skips the sender", seen == [], seen)

        with Group(f"{tag}: binary push"):
            ack = a.call("binary push")
            got = first(a.wait("binary data")[0])
            check(f"{tag}: binary push ack", ack == {"ok": True}, ack)
            check(
                f"{tag}: binary push decodes nested bytes",
                got == {"text": "bin", "one": b"\x01\x02\x03", "list": [b"hello", {"deep": b"\xff\x00\x80"}]},
                got,
            )

        with Group(f"{tag}: double"):
            a.sio.emit("double", 7)
            got = [first(args) for args in a.wait("double reply", 2)]
            check(
                f"{tag}: double: both handlers, in order",
                got == [{"handler": 1, "n": 7}, {"handler": 2, "n": 7}],
                got,
            )

        with Group(f"{tag}: any:*"):
            a.sio.emit("any:thing", (1, "two", {"three": [3]}, b"\x04"))
            got = first(a.wait("any seen")[0])
            check(
                f"{tag}: any:* caught with its args",
                got == {"event": "any:thing", "args": [1, "two", {"three": [3]}, b"\x04"]},
                got,
            )
            a.sio.emit("not-any", 1)
            a.call("echo", "barrier")
            time.sleep(SETTLE)
            check(f"{tag}: other events are not caught", len(a.payloads("any seen")) == 1, a.payloads("any seen"))

        with Group(f"{tag}: ask"):
            r = a.call("ask", {"timeout": 2000, "question": "6*7"})
            check(f"{tag}: ask answered", r == {"ok": True, "answer": {"answer": 42, "to": "6*7"}}, r)
            # The handler returns None: python-socketio acks with no argument (`43<id>[]`), and
            # Node's emitWithAck resolves with undefined, which JSON leaves out.
            r = a.call("ask", {"timeout": 2000, "question": "silent"})
            check(f"{tag}: ask answered with nothing", r == {"ok": True}, r)
            r = a.call("ask", {"timeout": 200, "question": "slow"})
            check(
                f"{tag}: ask times out",
                isinstance(r, dict) and r.get("ok") is False and isinstance(r.get("error"), str) and r["error"] != "",
                r,
            )

        with Group(f"{tag}: /admin"):
            for name, auth in [("bad token", {"token": "x"}), ("no auth", None)]:
                bad = Peer(url, transports, namespaces=["/admin"], auth=auth, connect=False)
                try:
                    bad.connect()
                    refused = False
                except socketio.exceptions.ConnectionError:
                    refused = True
                err = first(bad.wait("connect_error", ns="/admin")[0])
                check(f"{tag}: /admin refused with {name}", refused, "connect() succeeded")
                check(
                    f"{tag}: /admin refusal carries message and data ({name})",
                    err == {"message": "unauthorized", "data": {"reason": "bad token"}},
                    err,
                )
                bad.close()
            adm = Peer(url, transports, namespaces=["/", "/admin"], auth={"token": "s3cret"})
            try:
                aw = first(adm.wait("admin welcome", ns="/admin")[0])
                w = first(adm.wait("welcome")[0])
                check(
                    f"{tag}: /admin welcome",
                    aw
                    == {
                        "id": adm.id("/admin"),
                        "engineId": adm.sio.sid,
                        "nsp": "/admin",
                        "token": "s3cret",
                        "recovered": False,
                    },
                    aw,
                )
                check(
                    f"{tag}: / and /admin share the engine session",
                    w.get("engineId") == aw.get("engineId") and w.get("id") != aw.get("id"),
                    [w, aw],
                )
                who = adm.call("whoami", ns="/admin")
                check(
                    f"{tag}: /admin whoami",
                    who == {"id": adm.id("/admin"), "engineId": adm.sio.sid, "nsp": "/admin", "token": "s3cret"},
                    who,
                )
                adm.sio.emit("admin news", {"n": 1}, namespace="/admin")
                news = adm.wait_for("admin news", "from", adm.id("/admin"), ns="/admin")[0]
                check(f"{tag}: /admin news", news == {"from": adm.id("/admin"), "payload": {"n": 1}}, news)
            finally:
                adm.close()

        with Group(f"{tag}: lifecycle"):
            check(f"{tag}: watch ack", b.call("watch") == {"ok": True})
            x = Peer(url, transports)
            peers.append(x)
            x.call("join", lc)
            xid = x.id()
            # What socket.disconnect() sends: DISCONNECT `41` on "/". python-socketio's own
            # disconnect() queues `41` and the engine close `1` but its write loop may stop before
            # sending them, so the server may see "transport close" instead.
            x.sio._send_packet(x.sio.packet_class(socketio.packet.DISCONNECT, namespace="/"))
            ding = b.wait_for("disconnecting report", "id", xid)[0]
            dc = b.wait_for("disconnect report", "id", xid)[0]
            check(
                f"{tag}: disconnecting report lists the rooms still",
                ding == {"id": xid, "rooms": [xid, lc], "reason": "client namespace disconnect"},
                ding,
            )
            check(
                f"{tag}: disconnect report after it, rooms empty",
                dc == {"id": xid, "rooms": [], "reason": "client namespace disconnect"},
                dc,
            )
            seqs = [b.arrival_seq(event, "id", xid) for event in ("disconnecting report", "disconnect report")]
            check(f"{tag}: disconnecting comes first", seqs[0] < seqs[1], seqs)
            x.close()

        with Group(f"{tag}: kick me"):
            aid = a.id()
            a.sio.emit("kick me")
            reason = first(a.wait("disconnect")[0])
            check(f"{tag}: kick me: the client sees a server disconnect", reason == a.sio.reason.SERVER_DISCONNECT, reason)
            report = b.wait_for("disconnect report", "id", aid)[0]
            check(
                f"{tag}: kick me: the server's reason is server namespace disconnect",
                report == {"id": aid, "rooms": [], "reason": "server namespace disconnect"},
                report,
            )
    finally:
        for p in peers:
            p.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3001")
    args = parser.parse_args()
    print(f"python-socketio {importlib.metadata.version('python-socketio')}", flush=True)
    for transports in (["websocket"], ["polling"], ["polling", "websocket"]):
        try:
            run(args.url, transports)
        except Exception as exc:  # noqa: BLE001 - a failed connect fails the round, not the run
            check(f"{'+'.join(transports)}: round", False, f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
