"""Wraps a stdio MCP server and logs its wire traffic: the "upstream's own log".

Usage: python tee_logger.py [--linger] LOGFILE COMMAND [ARGS...]

Every line the client (the gateway) writes to the server is appended to LOGFILE before it is
forwarded; every line the server writes back is appended to LOGFILE.out. The wrapper exits when
the server does, closes the server's stdin when its own stdin closes, and takes the server down
with it on SIGTERM/SIGINT/SIGHUP (and the server gets SIGTERM if the wrapper is killed outright),
so the wrapper itself never leaves a process behind.

--linger models a server that does not exit when its stdin closes (many real servers keep timers
running): the wrapper then keeps the server alive until it is signalled, so only a parent that
actively stops its child gets rid of it. Standard library only.
"""

import ctypes
import os
import signal
import subprocess
import sys
import threading


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main() -> int:
    args = sys.argv[1:]
    linger = bool(args) and args[0] == "--linger"
    if linger:
        args = args[1:]
    if len(args) < 2:
        print("usage: tee_logger.py [--linger] LOGFILE COMMAND [ARGS...]", file=sys.stderr)
        return 2
    log_path, command = args[0], args[1:]
    child = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, preexec_fn=_die_with_parent
    )

    def stop(signum, _frame):
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=2)
            except subprocess.TimeoutExpired:
                child.kill()
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)

    def pump(source, sink, log_file, close_sink):
        with open(log_file, "ab", buffering=0) as log:
            try:
                for line in iter(source.readline, b""):
                    log.write(line if line.endswith(b"\n") else line + b"\n")
                    sink.write(line)
                    sink.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass
            finally:
                if close_sink:
                    try:
                        sink.close()
                    except OSError:
                        pass

    inbound = threading.Thread(target=pump, args=(sys.stdin.buffer, child.stdin, log_path, not linger), daemon=True)
    outbound = threading.Thread(target=pump, args=(child.stdout, sys.stdout.buffer, log_path + ".out", True), daemon=True)
    inbound.start()
    outbound.start()
    code = child.wait()
    outbound.join(timeout=2)
    return code


if __name__ == "__main__":
    sys.exit(main())
