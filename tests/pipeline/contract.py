"""Offline checks of what only real AWS would reveal, run by scripts/pipeline-checks.sh.

The state machine (statemachine/migration.asl.json) and the template (infra/template.yaml)
are read as AWS reads them and checked against AWS's rules and bak2pg's promises:

* error names: AWS SDK integrations name errors `<Service>.<Name>Exception` (the service in
  PascalCase as in the resource ARN, `Exception` always appended; unmodelled errors are
  `<Service>.<Service>Exception`), per the Step Functions developer guide, "AWS SDK
  service integrations"; every Retry must cover the transient errors of its resource
  (table below) and none may retry what is not transient (a time limit, a permanent error);
* replay: no failure path ends in a state that a Redrive would fail again (no Catch, no
  Fail state), so a Redrive resumes at the state that failed;
* the failure path: an EventBridge rule on the execution status events reaches the report
  function and, failing that, the dead-letter queue; alarms on the executions' ends; an
  alarm topic CloudWatch can publish to;
* IAM follows what may be configured without a redeploy; hygiene of buckets and queues;
* the status change events the pipeline test delivered (.moto/status-change-events.jsonl)
  match the rule's pattern.

Exits non-zero naming every violation. Needs cfn-lint (for its CloudFormation YAML loader).
"""

import json
import os
import re
import sys

from cfnlint.decode import decode_str

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBLEMS = []


def check(ok, what):
    if not ok:
        PROBLEMS.append(what)


# The transient errors each kind of Task must retry, and what none may retry.
MUST_RETRY = {
    "lambda:invoke": {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Lambda.ClientExecutionTimeoutException",
    },
    "aws-sdk:ssm:sendCommand.waitForTaskToken": {
        "Ssm.ThrottlingException",
        "Ssm.InternalServerErrorException",
        "Ssm.SsmException",
        "Ssm.InvalidInstanceIdException",
        "States.HeartbeatTimeout",
        "Bak2pg.Transient",
    },
}
NEVER_RETRY = {"States.ALL", "States.Timeout", "States.TaskFailed", "Bak2pg.Permanent", "Bak2pg.Timeout"}
NAME = re.compile(r"^(States\.[A-Za-z]+|Bak2pg\.[A-Za-z]+|(?P<svc>[A-Z][A-Za-z0-9]*)\.[A-Z][A-Za-z0-9]*Exception)$")


def states_of(machine, prefix=""):
    for name, st in machine["States"].items():
        yield prefix + name, st
        if st["Type"] == "Map":
            yield from states_of(st.get("ItemProcessor") or st["Iterator"], prefix + name + "/")
        for i, b in enumerate(st.get("Branches", [])):
            yield from states_of(b, f"{prefix}{name}[{i}]/")


def check_asl(asl):
    tasks = 0
    for name, st in states_of(asl):
        check(st["Type"] != "Fail", f"ASL {name}: a Fail state: a Redrive would resume there and fail again")
        check("Catch" not in st, f"ASL {name}: a Catch: the execution would not end at the failed state")
        if st["Type"] != "Task":
            continue
        tasks += 1
        resource = st["Resource"].removeprefix("arn:aws:states:::")
        retried = {e for r in st.get("Retry", []) for e in r["ErrorEquals"]}
        for e in retried:
            m = NAME.match(e)
            check(m is not None, f"ASL {name}: {e!r} is not an error name Step Functions produces")
            if m and m.group("svc"):
                service = resource.split(":")[1] if resource.startswith("aws-sdk:") else resource.split(":")[0]
                check(m.group("svc").lower() == service.lower() and m.group("svc")[0].isupper(),
                      f"ASL {name}: {e!r} does not name the service {service} as AWS does")
        missing = MUST_RETRY.get(resource, set()) - retried
        check(resource in MUST_RETRY, f"ASL {name}: no retry table for resource {resource}")
        check(not missing, f"ASL {name}: Retry misses {sorted(missing)}")
        check(not (retried & NEVER_RETRY), f"ASL {name}: retries {sorted(retried & NEVER_RETRY)}")
        if resource.endswith(".waitForTaskToken"):
            params = json.dumps(st["Parameters"])
            check("$$.Task.Token" in params, f"ASL {name}: the task token is not passed on")
            check("HeartbeatSeconds" in st or "HeartbeatSecondsPath" in st, f"ASL {name}: no HeartbeatSeconds")
            check("TimeoutSeconds" in st or "TimeoutSecondsPath" in st, f"ASL {name}: no TimeoutSeconds")
            check("TimeoutSeconds.$" in st["Parameters"], f"ASL {name}: no delivery timeout on SendCommand")
    check(tasks > 0, "ASL: no Task state")
    maps = [st for _, st in states_of(asl) if st["Type"] == "Map"]
    check(len(maps) == 1 and maps[0].get("MaxConcurrency") == 1, "ASL: the steps must run one at a time, in order")
    sdk = [n for n, st in states_of(asl) if st.get("Resource", "").startswith("arn:aws:states:::aws-sdk:")]
    check(len(sdk) == 1, f"ASL: the agent step must be defined once, found {sdk}")


def resources(tpl, kind):
    return {k: v for k, v in tpl["Resources"].items() if v["Type"] == kind}


def statements(policy_holder):
    props = policy_holder["Properties"]
    docs = [props["PolicyDocument"]] if "PolicyDocument" in props else []
    for p in props.get("Policies", []):
        if isinstance(p, dict) and "Statement" in p:
            docs.append(p)
    return [s for d in docs for s in d["Statement"]]


def flat(v):
    return json.dumps(v, sort_keys=True)


def check_template(tpl):
    res = tpl["Resources"]
    rules = resources(tpl, "AWS::Events::Rule")
    check(len(rules) == 1, "template: one EventBridge rule on execution status changes")
    rule = next(iter(rules.values()))["Properties"] if rules else {}
    pattern = rule.get("EventPattern", {})
    check(pattern.get("source") == ["aws.states"], "rule: source aws.states")
    check(pattern.get("detail-type") == ["Step Functions Execution Status Change"], "rule: detail-type")
    check(sorted(pattern.get("detail", {}).get("status", [])) == ["ABORTED", "FAILED", "TIMED_OUT"],
          "rule: FAILED, TIMED_OUT and ABORTED")
    check(pattern.get("detail", {}).get("stateMachineArn") == [{"Ref": "MigrationStateMachine"}],
          "rule: this state machine only")
    targets = rule.get("Targets", [])
    check(any(flat(t["Arn"]) == flat({"Fn::GetAtt": ["ReportFunction", "Arn"]}) and
              flat(t.get("DeadLetterConfig", {}).get("Arn")) == flat({"Fn::GetAtt": ["DeadLetterQueue", "Arn"]})
              for t in targets), "rule: the report function, with the DLQ as the rule's dead-letter queue")
    report = res["ReportFunction"]["Properties"]
    dest = report.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {})
    check(flat(dest.get("Destination")) == flat({"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}),
          "report function: failed invocations go to the DLQ")
    check(any(flat(v["Properties"].get("SourceArn")) == flat({"Fn::GetAtt": ["ExecutionFailedRule", "Arn"]})
              for v in resources(tpl, "AWS::Lambda::Permission").values()), "the rule may invoke the function")
    metrics = {v["Properties"]["MetricName"] for v in resources(tpl, "AWS::CloudWatch::Alarm").values()}
    for m in ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted", "ApproximateNumberOfMessagesVisible"]:
        check(m in metrics, f"template: no alarm on {m}")
    for k, t in resources(tpl, "AWS::SNS::Topic").items():
        key = t["Properties"].get("KmsMasterKeyId")
        check(key != "alias/aws/sns", f"{k}: alias/aws/sns cannot be used by CloudWatch alarms")
        if key is not None:
            kid = key.get("Ref") if isinstance(key, dict) else None
            pol = flat(res.get(kid, {}).get("Properties", {}).get("KeyPolicy", {}))
            check("cloudwatch.amazonaws.com" in pol, f"{k}: its key does not let CloudWatch use it")

    # Queues and buckets.
    qp = flat(res["UploadQueuePolicy"]["Properties"])
    check("s3:::*" not in qp, "upload queue: accepts events from any bucket")
    check("bak2pg-uploads" in qp and "aws:SourceArn" in qp, "upload queue: only the uploads bucket")
    up = res["UploadsBucket"]["Properties"]
    rules_ = flat(up.get("LifecycleConfiguration", {}))
    check("NoncurrentVersionExpiration" in rules_, "uploads bucket: noncurrent versions kept forever")
    check("AbortIncompleteMultipartUpload" in rules_, "uploads bucket: incomplete multipart uploads kept")
    check(flat(up.get("BucketName")) in qp, "upload queue: SourceArn is not the uploads bucket's name")
    for b in ["UploadsBucket", "ArtifactsBucket"]:
        check(any(flat(p["Properties"]["Bucket"]) == flat({"Ref": b}) and "aws:SecureTransport" in flat(p)
                  for p in resources(tpl, "AWS::S3::BucketPolicy").values()), f"{b}: no TLS-only policy")

    # IAM follows what may be configured.
    sm = [s for s in statements(res["MigrationStateMachine"]) if "ssm:SendCommand" in flat(s.get("Action"))]
    check(all("instance/${WorkerInstanceId}" not in flat(s) for s in sm),
          "state machine: SendCommand only to the deploy-time instance (config worker/instance-id cannot change)")
    check(any("ssm:resourceTag/" in flat(s.get("Condition")) for s in sm), "state machine: instances by tag")
    check(not any("GetCommandInvocation" in flat(s) for s in statements(res["MigrationStateMachine"])),
          "state machine: polls no more; GetCommandInvocation is not needed")
    prep = flat(statements(res["PrepareFunction"]))
    check("ssm:DescribeInstanceInformation" in prep and "ssm:ListCommandInvocations" in prep,
          "prepare: cannot find the pool's online workers or how busy they are")
    pool = flat(res.get("ConfigWorkerPool", {}).get("Properties", {}).get("Value"))
    check("bak2pg:worker=${AWS::StackName}" in pool and any("ssm:resourceTag/bak2pg:worker" in flat(s) for s in sm),
          "worker pool: the configured tag is not the one SendCommand is allowed by")
    worker = statements(res["WorkerPolicy"])
    secrets = [s for s in worker if flat(s.get("Action")) == flat("ssm:GetParameter")]
    check(len(secrets) == 1 and "${SecretsPath}*" in flat(secrets[0]["Resource"]),
          "worker: secrets by path (a renamed password parameter would be AccessDenied)")
    check(any("states:SendTaskSuccess" in flat(s.get("Action")) for s in worker), "worker: cannot report its tasks")
    check(any("s3.${AWS::Region}.amazonaws.com" in flat(s) and "kms:Decrypt" in flat(s) for s in worker),
          "worker: cannot decrypt SSE-KMS uploads")
    params = tpl["Parameters"]
    check(params["StepTimeoutSeconds"].get("MaxValue", 10**9) <= 172800,
          "StepTimeoutSeconds: unbounded (an SSM shell command runs 172,800 s at most)")
    doc = flat(res["StepDocument"]["Properties"]["Content"])
    check("BAK2PG_TASK_TOKEN='{{ TaskToken }}'" in doc, "SSM document: the token is not handed to the agent")
    check("--task-token" not in doc, "SSM document: the token on a command line")

    # Every configuration parameter the template writes is documented by prepare.
    prepare = open(os.path.join(REPO, "functions/prepare/src/lib.rs")).read()
    for k, v in resources(tpl, "AWS::SSM::Parameter").items():
        name = flat(v["Properties"]["Name"])
        m = re.search(r"/config/([a-z0-9/-]+)", name)
        check(m is not None and f"`{m.group(1)}`" in prepare, f"{k}: {name} not in prepare's configuration table")
    return pattern


def matches(pattern, event):
    """EventBridge matching for what the rule uses: nested objects, lists of exact values."""
    for k, want in pattern.items():
        got = event.get(k)
        if isinstance(want, dict):
            if not isinstance(got, dict) or not matches(want, got):
                return False
        # A CloudFormation reference stands for the deployed state machine's ARN.
        elif not any(w == got or (isinstance(w, dict) and "Ref" in w and isinstance(got, str)) for w in want):
            return False
    return True


def main():
    asl = json.load(open(os.path.join(REPO, "statemachine/migration.asl.json")))
    check_asl(asl)
    tpl, errors = decode_str(open(os.path.join(REPO, "infra/template.yaml")).read())
    if errors:
        PROBLEMS.extend(str(e) for e in errors)
    else:
        pattern = check_template(tpl)
        sample = {"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
                  "detail": {"status": "FAILED", "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:m"}}
        check(matches(pattern, sample), "rule: does not match a failed execution's event")
        succeeded = dict(sample, detail=dict(sample["detail"], status="SUCCEEDED"))
        check(not matches(pattern, succeeded), "rule: matches a succeeded execution's event")
        log = os.path.join(REPO, ".moto/status-change-events.jsonl")
        # After the pipeline tests (scripts/test sets this) the events must be there: a
        # harness that stopped delivering them must not pass this check unseen.
        if os.environ.get("BAK2PG_EXPECT_STATUS_EVENTS"):
            check(os.path.exists(log) and os.path.getsize(log) > 0, f"no status change events in {log}")
        if os.path.exists(log):
            for line in open(log):
                ev = json.loads(line)
                check(matches(pattern, ev), f"rule: the harness delivered an event the rule would not: {line[:200]}")
    for p in PROBLEMS:
        print(f"contract: {p}", file=sys.stderr)
    if PROBLEMS:
        sys.exit(1)
    print("contract: the state machine and the template keep AWS's rules and the pipeline's promises")


if __name__ == "__main__":
    main()
