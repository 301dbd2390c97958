#!/usr/bin/env python3
"""A real SMTP server on loopback for tests (aiosmtpd).

Every accepted message is stored in a directory as NNNN.eml (the bytes as
received, after the SMTP dot-unstuffing) next to NNNN.json (the envelope:
sender, recipients, whether TLS and AUTH were used). The .eml appears
atomically, and before the server answers the DATA command, so a client that
got "250" can read it at once.

Command line (the C unit tests and shell scripts use it):
    python3 tests/e2e/smtp_sink.py --port 0 --dir D --port-file F
        [--tls none|starttls|implicit] [--auth USER:PASSWORD] [--cert-dir C]
        [--stop-on-stdin-eof]
prints "PORT <n>" (and "CERT <path>" with TLS) on stdout once it listens,
writes the port to F, and runs until SIGTERM/SIGINT (or stdin EOF when asked).

From pytest:
    with SmtpSink(tmp_path) as sink:
        ... point BACKUP_SMTP_URL at f"smtp://127.0.0.1:{sink.port}" ...
        message = sink.wait_for(1)[0]
        assert message["Subject"].startswith("[neo4j-backup]")
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:  # pragma: no cover - reported by main() / start()
    SMTP = None

# aiosmtpd logs a deprecation on every successful AUTH (its own code sets the
# attribute), a traceback whenever a client rejects the certificate (which tests
# do on purpose), and warns about AUTH without STARTTLS even under implicit TLS.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")


def make_certificate(directory):
    """Self-signed certificate for 127.0.0.1 and localhost; returns (cert, key)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert = directory / "sink-cert.pem"
    key = directory / "sink-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


class _Handler:
    def __init__(self, sink):
        self._sink = sink

    async def handle_DATA(self, server, session, envelope):
        self._sink._store(server, session, envelope)
        return "250 2.0.0 Message accepted"


class SmtpSink:
    """SMTP server on a background thread. tls: None, "starttls" or "implicit";
    auth: "user:password" to require AUTH (only offered over TLS)."""

    def __init__(self, directory, host="127.0.0.1", port=0, tls=None, auth=None, cert_dir=None):
        if tls not in (None, "none", "starttls", "implicit"):
            raise ValueError(f"unknown tls mode {tls!r}")
        self.directory = Path(directory)
        self.host = host
        self.port = port
        self.tls = None if tls == "none" else tls
        self.auth = auth
        self.cert_dir = Path(cert_dir) if cert_dir else self.directory / ".tls"
        self.cert_file = None
        self._count = 0
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self._startup_error = None
        self._loop = None
        self._thread = None

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        if SMTP is None:
            raise RuntimeError("aiosmtpd is not installed (pip install aiosmtpd)")
        self.directory.mkdir(parents=True, exist_ok=True)
        context = None
        if self.tls:
            cert, key = make_certificate(self.cert_dir)
            self.cert_file = str(cert.resolve())
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert), str(key))
        self._thread = threading.Thread(target=self._run, args=(context,), daemon=True,
                                        name="smtp-sink")
        self._thread.start()
        self._ready.wait(30)
        if self._startup_error:
            raise self._startup_error
        if not self._ready.is_set():
            raise RuntimeError("SMTP sink did not start")
        return self.port

    def stop(self):
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    # -- results -----------------------------------------------------------
    def messages(self):
        """Parsed messages (email.message.EmailMessage) in arrival order."""
        result = []
        for path in sorted(self.directory.glob("*.eml")):
            with open(path, "rb") as handle:
                result.append(email.message_from_binary_file(handle, policy=email.policy.default))
        return result

    def envelopes(self):
        """Envelopes (mail_from, rcpt_tos, tls, authenticated, helo) in arrival order."""
        return [json.loads(path.read_text()) for path in sorted(self.directory.glob("*.json"))]

    def wait_for(self, count, timeout=10.0):
        """Waits until at least count messages arrived; returns messages()."""
        with self._changed:
            self._changed.wait_for(lambda: self._count >= count, timeout)
        return self.messages()

    # -- internals ---------------------------------------------------------
    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        user, _, password = self.auth.partition(":")
        if (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
                and auth_data.password.decode() == password):
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def _factory(self, starttls_context):
        options = dict(hostname="smtp-sink.test", decode_data=False, enable_SMTPUTF8=True)
        if starttls_context is not None:
            options.update(tls_context=starttls_context, require_starttls=False)
        if self.auth:
            # With implicit TLS the whole connection is encrypted already, but
            # aiosmtpd only counts STARTTLS as TLS.
            options.update(authenticator=self._authenticator, auth_required=True,
                           auth_require_tls=self.tls != "implicit")
        return SMTP(_Handler(self), **options)

    def _run(self, context):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        starttls_context = context if self.tls == "starttls" else None
        try:
            server = loop.run_until_complete(loop.create_server(
                lambda: self._factory(starttls_context), host=self.host, port=self.port,
                ssl=context if self.tls == "implicit" else None))
        except Exception as error:  # reported to start()
            self._startup_error = error
            self._ready.set()
            loop.close()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

    def _store(self, server, session, envelope):
        with self._changed:
            number = len(list(self.directory.glob("*.eml"))) + 1
            stem = self.directory / f"{number:04d}"
            details = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "tls": (session.ssl is not None
                        or server.transport.get_extra_info("ssl_object") is not None),
                "authenticated": bool(getattr(session, "authenticated", False)),
                "helo": session.host_name,
            }
            _write_atomically(stem.with_suffix(".json"), json.dumps(details, indent=2).encode())
            _write_atomically(stem.with_suffix(".eml"), envelope.original_content)
            self._count += 1
            self._changed.notify_all()


def _write_atomically(path, data):
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--dir", required=True, help="where received messages are stored")
    parser.add_argument("--port-file", help="file receiving the chosen port number")
    parser.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    parser.add_argument("--auth", help="USER:PASSWORD required (AUTH needs TLS)")
    parser.add_argument("--cert-dir", help="where the self-signed certificate is written")
    parser.add_argument("--stop-on-stdin-eof", action="store_true",
                        help="exit when stdin closes (the parent died)")
    args = parser.parse_args(argv)
    if SMTP is None:
        print("smtp_sink: aiosmtpd is not installed (pip install aiosmtpd)", file=sys.stderr)
        return 3

    sink = SmtpSink(args.dir, args.host, args.port, args.tls, args.auth, args.cert_dir)
    finished = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: finished.set())
    signal.signal(signal.SIGINT, lambda *_: finished.set())
    port = sink.start()
    if args.port_file:
        _write_atomically(Path(args.port_file).absolute(), f"{port}\n".encode())
    print(f"PORT {port}", flush=True)
    if sink.cert_file:
        print(f"CERT {sink.cert_file}", flush=True)
    if args.stop_on_stdin_eof:
        def watch_stdin():
            # Raw reads: a buffered reader's lock would still be held by this
            # daemon thread when the interpreter shuts down.
            while os.read(0, 4096):
                pass
            finished.set()
        threading.Thread(target=watch_stdin, daemon=True).start()
    while not finished.wait(3600):
        pass
    sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
