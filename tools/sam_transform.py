"""Writes template.yaml after the SAM transform, with the state machine's ASL inlined, so that
cfn-lint sees what CloudFormation will: the state machine's definition (which plain linting of
a SAM template skips) and every dependency (an S3 notification cycle shows up only here).

    python3 tools/sam_transform.py template.yaml > .aws-sam/transformed.json
"""
import json
import os
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no AWS managed policies by name; nothing to look up."""

    def load(self):
        return {}


def main(path):
    template, matches = decode(path)
    if matches:
        for m in matches:
            print(m, file=sys.stderr)
        sys.exit(1)
    base = os.path.dirname(os.path.abspath(path))
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties", {})
        kind = res.get("Type")
        if kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            with open(os.path.join(base, props.pop("DefinitionUri"))) as f:
                props["Definition"] = json.load(f)
        # Code is uploaded by `sam deploy`; the transform only needs somewhere to point.
        if kind == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = f"s3://echome-lint/{name}.zip"
        if kind == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            props["ContentUri"] = f"s3://echome-lint/{name}.zip"
    # Pseudo parameters need a region; any will do for linting.
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    out = transform(template, {}, NoManagedPolicies())
    json.dump(out, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
