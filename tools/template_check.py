"""Checks in template.yaml what neither sam validate nor cfn-lint can know: that every function
has its own log group with the retention parameter and its errors/throttles/duration alarms
(the duration threshold at 80 % of that function's timeout), that every S3 read may also list
its prefix (a missing key is then a 404, not a 403), and that the gateway's routes are the
ones the OpenAPI description lists, protected by the JWT exactly where the description says a
bearer token is required.

    python3 tools/template_check.py template.yaml functions/api/openapi.json
"""
import fnmatch
import json
import sys

from cfnlint.decode import decode


def described_routes(openapi_path):
    """`METHOD /path` -> whether the description requires the JWT (`bearerAuth`) on it. An
    operation whose security lists `{}` as one choice (like `/health`, open unless `?detail`)
    or names only a webhook's own secret is open at the gateway."""
    spec = json.load(open(openapi_path))
    routes = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            choices = op.get("security", [])
            routes[f"{method.upper()} {path}"] = bool(choices) and all("bearerAuth" in c for c in choices)
    return routes


def ref(value):
    return value.get("Ref") if isinstance(value, dict) else None


def sub(value):
    return value.get("Fn::Sub") if isinstance(value, dict) else None


def statements(props):
    for policy in props.get("Policies", []):
        if isinstance(policy, dict):
            yield from policy.get("Statement", [])


def as_list(value):
    return value if isinstance(value, list) else [value]


def main(path, openapi_path):
    template, matches = decode(path)
    if matches:
        for m in matches:
            print(m, file=sys.stderr)
        return 1
    resources = template["Resources"]
    globals_fn = template.get("Globals", {}).get("Function", {})
    problems = []
    alarms = {}
    for name, res in resources.items():
        if res.get("Type") == "AWS::CloudWatch::Alarm":
            p = res["Properties"]
            for d in p.get("Dimensions", []):
                if d.get("Name") == "FunctionName" and ref(d.get("Value")):
                    alarms[(ref(d["Value"]), p.get("MetricName"))] = (name, p)

    routes = {}
    for name, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if binary is None:
            # A makefile-built function: its crate's folder is its CodeUri, functions/{binary}/.
            binary = str(props.get("CodeUri", "")).strip("/").removeprefix("functions/")
        fn_name = f"${{AWS::StackName}}-{binary}"
        if sub(props.get("FunctionName")) != fn_name:
            problems.append(f"{name}: FunctionName should be !Sub {fn_name}")
        group = ref(props.get("LoggingConfig", {}).get("LogGroup"))
        group_res = resources.get(group, {})
        if group_res.get("Type") != "AWS::Logs::LogGroup":
            problems.append(f"{name}: LoggingConfig.LogGroup should be !Ref its AWS::Logs::LogGroup")
        else:
            gp = group_res["Properties"]
            if sub(gp.get("LogGroupName")) != f"/aws/lambda/{fn_name}":
                problems.append(f"{group}: LogGroupName should be /aws/lambda/{fn_name}")
            if ref(gp.get("RetentionInDays")) != "RetentionDays":
                problems.append(f"{group}: RetentionInDays should be !Ref RetentionDays")

        timeout = props.get("Timeout", globals_fn.get("Timeout", 3))
        for metric in ("Errors", "Throttles", "Duration"):
            alarm = alarms.get((name, metric))
            if alarm is None:
                problems.append(f"{name}: no {metric} alarm")
                continue
            alarm_name, ap = alarm
            if metric == "Duration":
                if ap.get("ExtendedStatistic") != "p99" or ap.get("Threshold") != timeout * 800:
                    problems.append(
                        f"{alarm_name}: p99 threshold should be {timeout * 800} (80 % of {timeout} s)"
                    )
            if "AlarmActions" not in ap:
                problems.append(f"{alarm_name}: no AlarmActions (HasAlarmTopic)")

        # Every prefix it reads, it may list: a probe for a missing key is a 404.
        read, listed = set(), set()
        for st in statements(props):
            actions = as_list(st.get("Action", []))
            if "s3:GetObject" in actions:
                for r in as_list(st.get("Resource")):
                    arn = sub(r) or ""
                    if arn.endswith("/*"):
                        # Everything after the bucket: `inbox/recordings/*`, not `recordings/*`.
                        read.add(arn.split(":::", 1)[-1].split("/", 1)[-1])
            if "s3:ListBucket" in actions:
                if any((sub(r) or "").endswith("/*") for r in as_list(st.get("Resource"))):
                    problems.append(f"{name}: s3:ListBucket goes on the bucket ARN, not objects")
                listed.update(as_list(st.get("Condition", {}).get("StringLike", {}).get("s3:prefix", [])))
        # A listed pattern covers a read one it matches as a string (StringLike's `*` spans `/`:
        # `samples/*` covers `samples/*/url/*`).
        uncovered = {r for r in read if not any(fnmatch.fnmatchcase(r, l) for l in listed)}
        for prefix in sorted(uncovered):
            problems.append(f"{name}: reads {prefix} without s3:ListBucket on s3:prefix {prefix}")

        for event_name, event in props.get("Events", {}).items():
            if event.get("Type") != "HttpApi":
                continue
            ep = event["Properties"]
            if ref(ep.get("ApiId")) != "HttpApi":
                problems.append(f"{name}.{event_name}: ApiId should be !Ref HttpApi")
            route = f"{ep['Method'].upper()} {ep['Path']}"
            routes[route] = ep.get("Auth", {}).get("Authorizer", "default")

    open_routes = {r for r, a in routes.items() if a == "NONE"}
    described = described_routes(openapi_path)
    for r in sorted(set(routes) ^ set(described)):
        where = "the template" if r in routes else f"{openapi_path}"
        problems.append(f"route {r} is only in {where}")
    for r in sorted(set(routes) & set(described)):
        if (r not in open_routes) != described[r]:
            gateway = "open" if r in open_routes else "JWT-protected"
            spec = "requires a bearer token" if described[r] else "is open"
            problems.append(f"route {r} is {gateway} at the gateway but the description says it {spec}")
    if "ServerlessHttpApi" in open(path).read():
        problems.append("ServerlessHttpApi is referred to; the API is HttpApi")

    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"{path}: {len(routes)} routes ({len(open_routes)} open), log groups, alarms and S3 probes in order")
    return 1 if problems else 0


if __name__ == "__main__":
    args = sys.argv[1:] + ["template.yaml", "functions/api/openapi.json"][len(sys.argv) - 1 :]
    sys.exit(main(args[0], args[1]))
