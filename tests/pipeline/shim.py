"""Routing shim of the pipeline tests (Python standard library only).

moto's Step Functions calls every AWS service at localhost:$MOTO_PORT; scripts/moto.sh
starts moto with MOTO_PORT pointing here. This shim forwards every request to moto
unchanged, except:

* Lambda Invoke (`POST /2015-03-31/functions/<arn or name>/invocations`): sent to the real
  handlers served by `cargo lambda watch` (function name = last ARN segment). `cargo lambda
  watch` answers a handler error with HTTP 500 and no `X-Amz-Function-Error`; the shim
  turns that into what Lambda answers (200 + `X-Amz-Function-Error: Unhandled`, the
  `{"errorType","errorMessage"}` body unchanged), so Retry/Catch see the handler's type.
* SSM `SendCommand` / `GetCommandInvocation` (`X-Amz-Target: AmazonSSM.*`): emulates the
  SSM agent of the worker running the step document: `<agent> step <Step> --job <JobUri>`
  on this machine, in the background, with `BAK2PG_TASK_TOKEN` set from the command's
  `TaskToken` parameter as the document does (the agent then reports to moto's Step
  Functions itself: the callback pattern). The command reads `InProgress` until it exits,
  then `Success` (exit 0) or `Failed` with the exit status and stdout/stderr (for the
  tests; the state machine no longer polls). The document name and instance id are
  recorded, not checked; the command's S3 output upload is not emulated.
* SSM's fleet of managed instances: `DescribeInstanceInformation` (filters `tag:KEY` and
  `PingStatus`) lists the configured `workers` ({instance id: {"tags", "online", "env"}});
  `ListCommandInvocations` (filters `DocumentName`, `Status`) lists the commands run here
  (`Pending` is never seen: they start at once). `SendCommand` to an instance that is not a
  configured, online worker answers `InvalidInstanceId`, as SSM does; a worker's `env`
  (e.g. `BAK2PG_WORK_ROOT`, its own work folders) is added to its commands' environment,
  so several emulated workers share this machine without sharing folders or slots.
* Fault injection, for the transient-failure tests: S3 GETs of keys containing a configured
  marker answer `503 SlowDown` the first N times, and not at all once a second `fetch` of
  the same job was sent (so the first fails whatever the SDK's and the download's own
  retries, and the state machine's retry succeeds); the first `load` command of a job whose
  URI contains a `kill_faults` marker runs with `BAK2PG_FAULT_PAUSE=<point>:<dir>`, and the
  process that pauses there (the step's worker process, `<dir>/pid`) is killed (SIGKILL),
  as the kernel's out-of-memory killer would. (A whole worker dying is left to the Task's
  `HeartbeatSeconds`, which moto 5.2.5 cannot emulate: its heartbeat timeout fails the
  execution with `States.Runtime` instead of raising `States.HeartbeatTimeout`.)

* Step Functions `SendTaskHeartbeat` (`X-Amz-Target: AWSStepFunctions.SendTaskHeartbeat`):
  answered here (and counted, `GET /_shim/heartbeats`), not forwarded. moto 5.2.5 gives
  every retry of a Task the same task token and, once a token has had a heartbeat, mixes
  up the outcomes of its attempts (a retried step's success is refused as `InvalidToken`,
  or the step is sent once more); AWS issues a new token per attempt. A token starting
  with `gone-` is answered `TaskTimedOut`, as for a task the state machine gave up on.

Configuration comes from the test: `POST /_shim/config` with
`{"lambda_url", "agent", "agent_env", "workers", "s3_faults": {"marker": n}, "kill_faults": {"marker": "point"},
"lose_worker": "marker"}`: with `lose_worker`, the worker that receives the first command of a
job whose URI contains the marker runs it, and leaves the fleet (offline, `InvalidInstanceId` to
later commands), as an instance terminated after that step.
`GET /_shim/commands` lists the commands run (parameters, exit status, output), so tests
can check that no secret was passed on a command line.
"""

import http.client
import json
import os
import re
import signal
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = urllib.parse.urlparse(os.environ["MOTO_UPSTREAM"])
LOCK = threading.Lock()
CONFIG = {"lambda_url": None, "agent": None, "agent_env": {}, "workers": {}, "s3_faults": {}, "kill_faults": {},
          "lose_worker": None}
LOST = set()
FAULTS_LEFT = {}
KILLED = set()
HEARTBEATS = [0]
COMMANDS = {}
ACCOUNT = "123456789012"
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body, headers=()):
        self.send_response(status)
        length = str(len(body))
        for k, v in headers:
            if k.lower() == "content-length" and self.command == "HEAD":
                length = v  # a HEAD answer's length is the object's, not its empty body's
                continue
            if k.lower() in HOP or k.lower() == "content-length":
                continue
            self.send_header(k, v)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, obj, extra=()):
        # Every AWS answer carries a request id; moto's Step Functions reads it from errors.
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", str(uuid.uuid4()))]
        self._send(status, json.dumps(obj).encode(), headers + list(extra))

    def _forward(self, body, base=None, path=None):
        base = base or UPSTREAM
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=3600)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "content-length"}
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, path or self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, data, r.getheaders()

    def do_GET(self):
        self._route()

    def do_POST(self):
        self._route()

    def do_PUT(self):
        self._route()

    def do_DELETE(self):
        self._route()

    def do_HEAD(self):
        self._route()

    def _route(self):
        body = self._body()
        try:
            if self.path.startswith("/_shim/"):
                return self._control(body)
            m = re.match(r"^/2015-03-31/functions/([^/]+)/invocations", self.path)
            if m and self.command == "POST":
                return self._invoke(urllib.parse.unquote(m.group(1)), body)
            target = self.headers.get("X-Amz-Target", "")
            if target == "AmazonSSM.SendCommand":
                return self._send_command(json.loads(body or b"{}"))
            if target == "AmazonSSM.GetCommandInvocation":
                return self._get_invocation(json.loads(body or b"{}"))
            if target == "AmazonSSM.DescribeInstanceInformation":
                return self._describe_instances(json.loads(body or b"{}"))
            if target == "AmazonSSM.ListCommandInvocations":
                return self._list_invocations(json.loads(body or b"{}"))
            if target == "AWSStepFunctions.SendTaskHeartbeat":
                token = json.loads(body or b"{}").get("taskToken", "")
                if token.startswith("gone-"):
                    # A task the state machine gave up on, as Step Functions answers it.
                    return self._json(400, {"__type": "TaskTimedOut", "message": "Task Timed Out"})
                with LOCK:
                    HEARTBEATS[0] += 1
                return self._json(200, {})
            if self.command == "GET" and self._s3_fault():
                return self._send(503, b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>injected by the test shim</Message></Error>",
                                  [("Content-Type", "application/xml")])
            status, data, headers = self._forward(body)
            self._send(status, data, headers)
        except Exception as e:  # a broken test harness must say so, not hang
            log(f"error on {self.command} {self.path}: {e!r}")
            self._json(500, {"__type": "ShimError", "message": repr(e)})

    def _s3_fault(self):
        path = urllib.parse.unquote(self.path.split("?")[0])
        with LOCK:
            for marker, n in CONFIG["s3_faults"].items():
                if marker in path and "partNumber" not in self.path:
                    left = FAULTS_LEFT.setdefault(marker, n)
                    if left > 0:
                        FAULTS_LEFT[marker] = left - 1
                        log(f"injected 503 for GET {path} ({left - 1} left)")
                        return True
        return False

    def _control(self, body):
        if self.path == "/_shim/health":
            return self._json(200, {"ok": True})
        if self.path == "/_shim/config" and self.command == "POST":
            with LOCK:
                CONFIG.update(json.loads(body))
                FAULTS_LEFT.clear()
                LOST.clear()
            return self._json(200, {"ok": True})
        if self.path == "/_shim/heartbeats":
            with LOCK:
                return self._json(200, {"count": HEARTBEATS[0]})
        if self.path == "/_shim/commands":
            with LOCK:
                return self._json(200, [dict(c, proc=None) for c in COMMANDS.values()])
        return self._json(404, {"error": "unknown control path"})

    def _invoke(self, function, body):
        name = function.split(":function:")[-1].split(":")[0]
        url = CONFIG["lambda_url"]
        if not url:
            return self._json(500, {"__type": "ShimError", "message": "no lambda_url configured"})
        base = urllib.parse.urlparse(url)
        status, data, headers = self._forward(body, base, f"/2015-03-31/functions/{name}/invocations")
        log(f"invoke {name}: HTTP {status}")
        if status == 200:
            return self._send(200, data, [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")])
        return self._send(200, data, [("Content-Type", "application/json"), ("X-Amz-Function-Error", "Unhandled")])

    def _send_command(self, req):
        params = req.get("Parameters", {})
        step = (params.get("Step") or [""])[0]
        job = (params.get("JobUri") or [""])[0]
        cid = str(uuid.uuid4())
        instance = (req.get("InstanceIds") or ["i-local"])[0]
        worker = CONFIG["workers"].get(instance)
        if worker is None or not worker.get("online", True):
            return self._json(400, {"__type": "InvalidInstanceId",
                                    "message": f"Instances [[{instance}]] not in a valid state for account {ACCOUNT}"})
        cmd = [CONFIG["agent"], "step", step, "--job", job]
        env = dict(os.environ)
        env.update(CONFIG["agent_env"])
        env.update(worker.get("env", {}))
        token = (params.get("TaskToken") or [""])[0]
        if token:
            env["BAK2PG_TASK_TOKEN"] = token
        entry = {"CommandId": cid, "InstanceId": instance, "DocumentName": req.get("DocumentName"), "Parameters": params,
                 "Status": "InProgress", "ResponseCode": -1, "StandardOutputContent": "", "StandardErrorContent": "",
                 "proc": None}
        pause_dir = None
        with LOCK:
            marker = CONFIG.get("lose_worker")
            if marker and marker in job and marker not in LOST:
                # Marked now, not when the command ends: the agent reports success before
                # it exits, and the next step's command must find the worker gone.
                LOST.add(marker)
                CONFIG["workers"][instance]["online"] = False
                log(f"worker {instance} leaves the fleet once command {cid} ({step}) has run")
            if step == "fetch" and any(c["Parameters"].get("JobUri") == params.get("JobUri") and
                                       (c["Parameters"].get("Step") or [""])[0] == "fetch" for c in COMMANDS.values()):
                # The marker is in the object's key, which the job URI does not show.
                for marker in CONFIG["s3_faults"]:
                    FAULTS_LEFT[marker] = 0
            COMMANDS[cid] = entry
            for marker, point in CONFIG.get("kill_faults", {}).items():
                if step == "load" and marker in job and (marker, job) not in KILLED:
                    KILLED.add((marker, job))
                    pause_dir = tempfile.mkdtemp(prefix="bak2pg-kill-")
                    env["BAK2PG_FAULT_PAUSE"] = f"{point}:{pause_dir}"
        log(f"SendCommand {cid}: bak2pg step {step} --job {job}")

        def run():
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if pause_dir:
                deadline = time.time() + 300
                while p.poll() is None and not os.path.exists(os.path.join(pause_dir, "paused")) and time.time() < deadline:
                    time.sleep(0.01)
                try:
                    with open(os.path.join(pause_dir, "pid")) as f:
                        victim = int(f.read().strip())
                    os.kill(victim, signal.SIGKILL)
                    log(f"command {cid} ({step}): process {victim} killed (SIGKILL) at its pause point")
                except (OSError, ValueError) as e:
                    p.kill()
                    log(f"command {cid} ({step}): no pid at the pause point ({e!r}); killed the command")
            out, err = p.communicate()
            if pause_dir:
                shutil.rmtree(pause_dir, ignore_errors=True)
            with LOCK:
                entry.update(Status="Success" if p.returncode == 0 else "Failed", ResponseCode=p.returncode,
                             StandardOutputContent=out, StandardErrorContent=err)

            log(f"command {cid} ({step}) exited {p.returncode}: {out.strip()[-300:]}")

        threading.Thread(target=run, daemon=True).start()
        return self._json(200, {"Command": {"CommandId": cid, "DocumentName": req.get("DocumentName"), "Status": "Pending",
                                            "Parameters": params, "InstanceIds": [instance]}})

    def _describe_instances(self, req):
        wanted = {f["Key"]: set(f.get("Values", [])) for f in req.get("Filters", [])}
        out = []
        with LOCK:
            for iid, w in sorted(CONFIG["workers"].items()):
                ping = "Online" if w.get("online", True) else "ConnectionLost"
                ok = True
                for key, values in wanted.items():
                    if key == "PingStatus":
                        ok = ok and ping in values
                    elif key.startswith("tag:"):
                        ok = ok and w.get("tags", {}).get(key[4:]) in values
                    else:
                        return self._json(400, {"__type": "InvalidInstanceInformationFilterValue",
                                                "message": f"filter {key} is not emulated"})
                if ok:
                    out.append({"InstanceId": iid, "PingStatus": ping, "ResourceType": "EC2Instance",
                                "PlatformType": "Linux"})
        return self._json(200, {"InstanceInformationList": out})

    def _list_invocations(self, req):
        wanted = {f["key"]: f["value"] for f in req.get("Filters", [])}
        unknown = set(wanted) - {"DocumentName", "Status"}
        if unknown:
            return self._json(400, {"__type": "InvalidFilterKey", "message": f"filters {sorted(unknown)} are not emulated"})
        with LOCK:
            out = [{"CommandId": c["CommandId"], "InstanceId": c["InstanceId"], "DocumentName": c["DocumentName"],
                    "Status": c["Status"]}
                   for c in COMMANDS.values()
                   if all(c.get(k) == v for k, v in wanted.items())
                   and (not req.get("InstanceId") or c["InstanceId"] == req["InstanceId"])]
        return self._json(200, {"CommandInvocations": out})

    def _get_invocation(self, req):
        with LOCK:
            c = COMMANDS.get(req.get("CommandId"))
            if c is None:
                return self._json(400, {"__type": "InvocationDoesNotExist", "message": "no such command"})
            out = {k: v for k, v in c.items() if k != "proc" and k != "Parameters"}
        return self._json(200, out)


def main():
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    log(f"shim on 127.0.0.1:{port} -> {UPSTREAM.geturl()}")
    server.serve_forever()


if __name__ == "__main__":
    main()
