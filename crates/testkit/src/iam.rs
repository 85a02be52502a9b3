//! IAM for the contract tests: every function's policy as CloudFormation will create it (read
//! from the SAM-transformed template, intrinsics resolved to a test stack's names), an evaluator
//! for those policies, and which action on which resource an SDK request needs.
//!
//! What moto enforces (moto 5.2, `moto/core/authorization.py`, `moto/iam/access_control.py`),
//! once `INITIAL_NO_AUTH_ACTION_COUNT` requests have been served:
//! - every request's SigV4 signature, against an IAM user's access key (or an assumed role's);
//!   an unknown key is refused;
//! - the action (`dynamodb:GetItem`, `s3:PutObject`, ...) against the user's inline, attached
//!   and group policies, with `Allow`, explicit `Deny`, `Action`/`NotAction` and wildcards;
//! - the resource only for S3 (`arn:aws:s3:::bucket` and `.../key`), SQS, IAM and STS. Every
//!   other service, DynamoDB, SSM and Step Functions among them, is checked against the
//!   resource `*`: a statement scoped to a table, a parameter or a state machine never matches
//!   there, so moto would refuse what AWS allows;
//! - not `Condition` blocks (only `StringEquals` is known, and no request supplies context
//!   keys, so every condition holds), not `NotResource` (an Allow without `Resource` is taken
//!   for a trust policy and allows everything), not resource policies, not KMS;
//! - not S3's answer to a missing key: moto says 404 NoSuchKey whatever the caller may list,
//!   where S3 says 403 AccessDenied to a caller without `s3:ListBucket` on the bucket.
//!
//! And one thing it gets wrong: in server mode it recomputes the signature of an S3 path that
//! holds `+` or `=` differently from every SDK (boto3 included) and answers
//! SignatureDoesNotMatch; keys in IAM tests avoid those characters.
//!
//! So the contract tests give moto [`Policy::for_moto`] (S3 statements as they are, other
//! services' statements on `*`), and check every request themselves with [`Policy::decide`], on
//! what the SDK actually sends ([`json_request_accesses`], [`s3_request_accesses`]): the
//! resources moto ignores, the conditions, and S3's 403 for a missing key without
//! `s3:ListBucket` (emulated). The template itself is checked for that last one too.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value, json};

/// Account and region the tests' stack lives in (moto's default account).
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// Services whose resources moto checks; for the others it checks only the action.
pub const MOTO_CHECKS_RESOURCES_OF: &[&str] = &["s3", "sqs", "iam", "sts"];

/// `template.yaml` after the SAM transform, as `make check-infra` writes it: generated afresh
/// with `tools/sam_transform.py` and the Python that `make tools` installs (`.tools/venv`, or
/// `python3` on `PATH` with aws-sam-translator and cfn-lint), so it is never stale.
pub fn transformed_template(root: &Path) -> Result<Value, String> {
    let venv = root.join(".tools/venv/bin/python3");
    let python = if venv.is_file() { venv.display().to_string() } else { "python3".to_owned() };
    let out = Command::new(&python)
        .arg("tools/sam_transform.py")
        .arg("template.yaml")
        .current_dir(root)
        .output()
        .map_err(|e| {
            format!("cannot run {python} tools/sam_transform.py ({e}): run `make tools`, which installs it")
        })?;
    if !out.status.success() {
        return Err(format!(
            "`{python} tools/sam_transform.py template.yaml` failed ({}); `make tools` installs what it \
             needs (aws-sam-cli, cfn-lint into .tools/venv):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("the transformed template is not JSON: {e}"))
}

/// `upload-trigger` → `UploadTriggerFunction` (the naming rule of the design's layout).
pub fn function_logical_id(name: &str) -> String {
    let mut out = String::new();
    for part in name.split('-') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out + "Function"
}

/// The template as one stack: names and ARNs of its resources, its parameters (defaults unless
/// given) and conditions, so that intrinsics resolve to what the tests create in moto.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub account: String,
    pub region: String,
    pub partition: String,
    template: Value,
    parameters: BTreeMap<String, String>,
    names: BTreeMap<String, String>,
}

/// Somebody whose AWS calls a role's policy governs: a Lambda function or a state machine.
#[derive(Debug, Clone)]
pub struct Principal {
    pub logical_id: String,
    pub resource_type: String,
    pub role: String,
    pub policy: Policy,
    /// AWS managed policies the role also has; their statements are not known here.
    pub managed_policies: Vec<String>,
    /// The function's environment, resolved (what the handler's `env::required` reads).
    pub environment: BTreeMap<String, String>,
}

const MAX_DEPTH: usize = 64;

impl Stack {
    pub fn new(template: Value, name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            account: ACCOUNT.into(),
            region: REGION.into(),
            partition: "aws".into(),
            template,
            parameters: BTreeMap::new(),
            names: BTreeMap::new(),
        }
    }

    /// A parameter value instead of its default.
    pub fn parameter(mut self, name: &str, value: impl Into<String>) -> Self {
        self.parameters.insert(name.into(), value.into());
        self
    }

    /// The physical name of a resource that names none itself (CloudFormation would make one
    /// up): `{stack}-{logical id}` unless given here.
    pub fn physical_name(mut self, logical_id: &str, name: impl Into<String>) -> Self {
        self.names.insert(logical_id.into(), name.into());
        self
    }

    pub fn template(&self) -> &Value {
        &self.template
    }

    fn resources(&self) -> Result<&Map<String, Value>, String> {
        self.template
            .get("Resources")
            .and_then(Value::as_object)
            .ok_or("the template has no Resources".into())
    }

    fn resource(&self, logical_id: &str) -> Result<&Value, String> {
        self.resources()?.get(logical_id).ok_or_else(|| format!("the template has no resource {logical_id}"))
    }

    pub fn resource_type(&self, logical_id: &str) -> Result<String, String> {
        Ok(self.resource(logical_id)?.get("Type").and_then(Value::as_str).unwrap_or_default().to_owned())
    }

    /// Whether the resource is created (its `Condition`, if any, holds).
    pub fn exists(&self, logical_id: &str) -> Result<bool, String> {
        match self.resource(logical_id)?.get("Condition").and_then(Value::as_str) {
            Some(c) => self.condition(c),
            None => Ok(true),
        }
    }

    /// A condition of the template's `Conditions`, with the stack's parameters.
    pub fn condition(&self, name: &str) -> Result<bool, String> {
        self.condition_at(name, 0)
    }

    fn condition_at(&self, name: &str, depth: usize) -> Result<bool, String> {
        let expr = self
            .template
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| format!("the template has no condition {name}"))?;
        self.truth(expr, depth + 1)
    }

    fn truth(&self, expr: &Value, depth: usize) -> Result<bool, String> {
        if depth > MAX_DEPTH {
            return Err("conditions nest too deeply (a cycle?)".into());
        }
        let (op, args) = single_key(expr).ok_or_else(|| format!("not a condition: {expr}"))?;
        let list = || args.as_array().ok_or_else(|| format!("{op} takes a list: {expr}"));
        match op {
            "Condition" => self.condition_at(args.as_str().ok_or("Condition takes a name")?, depth),
            "Fn::Equals" => {
                let l = list()?;
                let side = |v: &Value| self.resolve_at(v, depth).map(|v| v.map(|v| scalar_text(&v)));
                match l.as_slice() {
                    [a, b] => Ok(side(a)? == side(b)?),
                    _ => Err(format!("Fn::Equals takes two values: {expr}")),
                }
            }
            "Fn::Not" => match list()?.as_slice() {
                [c] => Ok(!self.truth(c, depth + 1)?),
                _ => Err(format!("Fn::Not takes one condition: {expr}")),
            },
            "Fn::And" => list()?.iter().try_fold(true, |acc, c| Ok(acc & self.truth(c, depth + 1)?)),
            "Fn::Or" => list()?.iter().try_fold(false, |acc, c| Ok(acc | self.truth(c, depth + 1)?)),
            other => Err(format!("unknown condition function {other}")),
        }
    }

    /// `value` with every intrinsic resolved; `None` when it is `AWS::NoValue`.
    pub fn resolve(&self, value: &Value) -> Result<Option<Value>, String> {
        self.resolve_at(value, 0)
    }

    /// `value` resolved to a string (numbers and booleans as CloudFormation writes them).
    pub fn resolve_str(&self, value: &Value) -> Result<String, String> {
        match self.resolve(value)? {
            Some(Value::String(s)) => Ok(s),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(scalar_text(&v)),
            Some(other) => Err(format!("not a string: {other}")),
            None => Err("AWS::NoValue where a string is needed".into()),
        }
    }

    fn resolve_at(&self, value: &Value, depth: usize) -> Result<Option<Value>, String> {
        if depth > MAX_DEPTH {
            return Err("intrinsics nest too deeply (a cycle?)".into());
        }
        let d = depth + 1;
        match value {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(v) = self.resolve_at(item, d)? {
                        out.push(v);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(map) => {
                if let Some((op, args)) = single_key(value)
                    && (op == "Ref" || op.starts_with("Fn::"))
                {
                    return self.intrinsic(op, args, d);
                }
                let mut out = Map::new();
                for (k, v) in map {
                    if let Some(v) = self.resolve_at(v, d)? {
                        out.insert(k.clone(), v);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    fn intrinsic(&self, op: &str, args: &Value, depth: usize) -> Result<Option<Value>, String> {
        let text = |v: &Value| -> Result<String, String> {
            match self.resolve_at(v, depth)? {
                Some(Value::String(s)) => Ok(s),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(scalar_text(&v)),
                other => Err(format!("{op} needs a string, got {other:?}")),
            }
        };
        let list = || args.as_array().ok_or_else(|| format!("{op} takes a list: {args}"));
        match op {
            "Ref" => self.reference_value(args.as_str().ok_or("Ref takes a name")?),
            "Fn::GetAtt" => {
                let (logical, attr) = match args {
                    Value::String(s) => s.split_once('.').ok_or_else(|| format!("Fn::GetAtt {s}"))?,
                    Value::Array(a) => match a.as_slice() {
                        [Value::String(l), Value::String(at)] => (l.as_str(), at.as_str()),
                        _ => return Err(format!("Fn::GetAtt takes [resource, attribute]: {args}")),
                    },
                    _ => return Err(format!("Fn::GetAtt takes [resource, attribute]: {args}")),
                };
                Ok(Some(Value::String(self.attribute(logical, attr)?)))
            }
            "Fn::Sub" => {
                let (template, vars) = match args {
                    Value::String(s) => (s.as_str(), None),
                    Value::Array(a) => match a.as_slice() {
                        [Value::String(s), Value::Object(vars)] => (s.as_str(), Some(vars)),
                        [Value::String(s)] => (s.as_str(), None),
                        _ => return Err(format!("Fn::Sub takes a string and a map: {args}")),
                    },
                    _ => return Err(format!("Fn::Sub takes a string: {args}")),
                };
                Ok(Some(Value::String(self.substitute(template, vars, depth)?)))
            }
            "Fn::Join" => match list()?.as_slice() {
                [sep, items] => {
                    let sep = text(sep)?;
                    let items = match self.resolve_at(items, depth)? {
                        Some(Value::Array(a)) => a,
                        other => return Err(format!("Fn::Join needs a list, got {other:?}")),
                    };
                    Ok(Some(Value::String(items.iter().map(scalar_text).collect::<Vec<_>>().join(&sep))))
                }
                _ => Err(format!("Fn::Join takes [separator, list]: {args}")),
            },
            "Fn::Select" => match list()?.as_slice() {
                [index, items] => {
                    let i: usize = text(index)?.parse().map_err(|_| format!("Fn::Select index: {index}"))?;
                    match self.resolve_at(items, depth)? {
                        Some(Value::Array(a)) => a
                            .get(i)
                            .cloned()
                            .map(Some)
                            .ok_or_else(|| format!("Fn::Select {i} is out of range")),
                        other => Err(format!("Fn::Select needs a list, got {other:?}")),
                    }
                }
                _ => Err(format!("Fn::Select takes [index, list]: {args}")),
            },
            "Fn::Split" => match list()?.as_slice() {
                [sep, s] => {
                    let (sep, s) = (text(sep)?, text(s)?);
                    Ok(Some(Value::Array(s.split(sep.as_str()).map(|p| Value::String(p.into())).collect())))
                }
                _ => Err(format!("Fn::Split takes [separator, string]: {args}")),
            },
            "Fn::If" => match list()?.as_slice() {
                [Value::String(cond), yes, no] => {
                    let branch = if self.condition_at(cond, depth)? { yes } else { no };
                    self.resolve_at(branch, depth)
                }
                _ => Err(format!("Fn::If takes [condition, value, value]: {args}")),
            },
            "Fn::FindInMap" => match list()?.as_slice() {
                [map, top, second] => {
                    let (map, top, second) = (text(map)?, text(top)?, text(second)?);
                    let found = self
                        .template
                        .get("Mappings")
                        .and_then(|m| m.get(&map))
                        .and_then(|m| m.get(&top))
                        .and_then(|m| m.get(&second))
                        .ok_or_else(|| format!("Fn::FindInMap {map}.{top}.{second} is not in Mappings"))?;
                    self.resolve_at(found, depth)
                }
                _ => Err(format!("Fn::FindInMap takes three keys: {args}")),
            },
            "Fn::GetAZs" => Ok(Some(json!([
                format!("{}a", self.region),
                format!("{}b", self.region),
                format!("{}c", self.region)
            ]))),
            "Fn::Base64" => self.resolve_at(args, depth),
            // Outside the stack: nothing here can name it.
            "Fn::ImportValue" => Ok(Some(Value::String(format!("unresolved:import:{}", text(args)?)))),
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" => {
                let expr = Value::Object(Map::from_iter([(op.to_owned(), args.clone())]));
                Ok(Some(Value::Bool(self.truth(&expr, depth)?)))
            }
            other => Err(format!("the harness cannot resolve {other}: teach echome_testkit::iam")),
        }
    }

    fn substitute(
        &self,
        template: &str,
        vars: Option<&Map<String, Value>>,
        depth: usize,
    ) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| format!("an unclosed ${{ in Fn::Sub {template:?}"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.and_then(|m| m.get(name)) {
                match self.resolve_at(v, depth)? {
                    Some(v) => out.push_str(&scalar_text(&v)),
                    None => return Err(format!("Fn::Sub variable {name} is AWS::NoValue")),
                }
            } else if let Some((logical, attr)) = name.split_once('.')
                && !name.starts_with("AWS::")
            {
                out.push_str(&self.attribute(logical, attr)?);
            } else {
                match self.reference_value(name)? {
                    Some(v) => out.push_str(&scalar_text(&v)),
                    None => return Err(format!("Fn::Sub ${{{name}}} is AWS::NoValue")),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// What `Ref` gives: a pseudo parameter, a parameter's value or a resource's reference.
    fn reference_value(&self, name: &str) -> Result<Option<Value>, String> {
        let s = |v: String| Ok(Some(Value::String(v)));
        match name {
            "AWS::NoValue" => Ok(None),
            "AWS::AccountId" => s(self.account.clone()),
            "AWS::Region" => s(self.region.clone()),
            "AWS::Partition" => s(self.partition.clone()),
            "AWS::StackName" => s(self.name.clone()),
            "AWS::StackId" => s(format!(
                "arn:{}:cloudformation:{}:{}:stack/{}/00000000-0000-0000-0000-000000000000",
                self.partition, self.region, self.account, self.name
            )),
            "AWS::URLSuffix" => s("amazonaws.com".into()),
            "AWS::NotificationARNs" => Ok(Some(json!([]))),
            _ => {
                if let Some(p) = self.template.get("Parameters").and_then(|p| p.get(name)) {
                    return self.parameter_value(name, p).map(Some);
                }
                self.reference(name).map(|r| Some(Value::String(r)))
            }
        }
    }

    fn parameter_value(&self, name: &str, declared: &Value) -> Result<Value, String> {
        let raw = match (self.parameters.get(name), declared.get("Default")) {
            (Some(v), _) => v.clone(),
            (None, Some(d)) => scalar_text(d),
            (None, None) => {
                return Err(format!("parameter {name} has no default: give it to Stack::parameter"));
            }
        };
        let kind = declared.get("Type").and_then(Value::as_str).unwrap_or("String");
        if kind == "CommaDelimitedList" || kind.starts_with("List<") {
            return Ok(Value::Array(raw.split(',').map(|p| Value::String(p.trim().into())).collect()));
        }
        Ok(Value::String(raw))
    }

    /// The resource's name: its own name property, else the one given to
    /// [`Self::physical_name`], else `{stack}-{logical id}`.
    pub fn name_of(&self, logical_id: &str) -> Result<String, String> {
        let resource = self.resource(logical_id)?;
        let kind = resource.get("Type").and_then(Value::as_str).unwrap_or_default();
        let property = match kind {
            "AWS::DynamoDB::Table" => "TableName",
            "AWS::S3::Bucket" => "BucketName",
            "AWS::StepFunctions::StateMachine" => "StateMachineName",
            "AWS::Lambda::Function" => "FunctionName",
            "AWS::IAM::Role" => "RoleName",
            "AWS::SQS::Queue" => "QueueName",
            "AWS::Logs::LogGroup" => "LogGroupName",
            "AWS::SNS::Topic" => "TopicName",
            "AWS::Cognito::UserPool" => "UserPoolName",
            "AWS::Lambda::LayerVersion" => "LayerName",
            _ => "Name",
        };
        if let Some(v) = resource.get("Properties").and_then(|p| p.get(property)) {
            return self.resolve_str(v);
        }
        if let Some(n) = self.names.get(logical_id) {
            return Ok(n.clone());
        }
        let made_up = format!("{}-{logical_id}", self.name);
        Ok(if kind == "AWS::S3::Bucket" { made_up.to_lowercase() } else { made_up })
    }

    /// What `Ref` to the resource gives.
    pub fn reference(&self, logical_id: &str) -> Result<String, String> {
        let kind = self.resource_type(logical_id)?;
        let name = self.name_of(logical_id)?;
        let (p, r, a) = (&self.partition, &self.region, &self.account);
        Ok(match kind.as_str() {
            "AWS::StepFunctions::StateMachine" => format!("arn:{p}:states:{r}:{a}:stateMachine:{name}"),
            "AWS::SNS::Topic" => format!("arn:{p}:sns:{r}:{a}:{name}"),
            "AWS::SQS::Queue" => format!("https://sqs.{r}.amazonaws.com/{a}/{name}"),
            "AWS::Cognito::UserPool" => format!("{r}_{logical_id}"),
            "AWS::Lambda::LayerVersion" => format!("arn:{p}:lambda:{r}:{a}:layer:{name}:1"),
            _ => name,
        })
    }

    /// What `Fn::GetAtt` gives; an attribute the harness does not know resolves to a
    /// placeholder that matches no real resource (such a statement grants nothing here).
    pub fn attribute(&self, logical_id: &str, attr: &str) -> Result<String, String> {
        let kind = self.resource_type(logical_id)?;
        let name = self.name_of(logical_id)?;
        let (p, r, a) = (&self.partition, &self.region, &self.account);
        let known = match (kind.as_str(), attr) {
            ("AWS::DynamoDB::Table", "Arn") => Some(format!("arn:{p}:dynamodb:{r}:{a}:table/{name}")),
            ("AWS::DynamoDB::Table", "StreamArn") => {
                Some(format!("arn:{p}:dynamodb:{r}:{a}:table/{name}/stream/1970-01-01T00:00:00.000"))
            }
            ("AWS::S3::Bucket", "Arn") => Some(format!("arn:{p}:s3:::{name}")),
            ("AWS::S3::Bucket", "DomainName") => Some(format!("{name}.s3.amazonaws.com")),
            ("AWS::S3::Bucket", "RegionalDomainName") => Some(format!("{name}.s3.{r}.amazonaws.com")),
            ("AWS::StepFunctions::StateMachine", "Arn") => Some(self.reference(logical_id)?),
            ("AWS::StepFunctions::StateMachine", "Name") => Some(name),
            ("AWS::Lambda::Function", "Arn") => Some(format!("arn:{p}:lambda:{r}:{a}:function:{name}")),
            ("AWS::IAM::Role", "Arn") => Some(format!("arn:{p}:iam::{a}:role/{name}")),
            ("AWS::SQS::Queue", "Arn") => Some(format!("arn:{p}:sqs:{r}:{a}:{name}")),
            ("AWS::SQS::Queue", "QueueName") => Some(name),
            ("AWS::SQS::Queue", "QueueUrl") => Some(self.reference(logical_id)?),
            ("AWS::Logs::LogGroup", "Arn") => Some(format!("arn:{p}:logs:{r}:{a}:log-group:{name}:*")),
            ("AWS::SNS::Topic", "TopicArn") => Some(self.reference(logical_id)?),
            ("AWS::SNS::Topic", "TopicName") => Some(name),
            ("AWS::Cognito::UserPool", "Arn") => {
                Some(format!("arn:{p}:cognito-idp:{r}:{a}:userpool/{}", self.reference(logical_id)?))
            }
            ("AWS::Cognito::UserPool", "UserPoolId") => Some(self.reference(logical_id)?),
            _ => None,
        };
        Ok(known.unwrap_or_else(|| format!("unresolved:{logical_id}.{attr}")))
    }

    /// Every Lambda function and state machine the stack creates, with its role's policy.
    pub fn principals(&self) -> Result<Vec<Principal>, String> {
        let mut out = Vec::new();
        for (logical, res) in self.resources()? {
            let kind = res.get("Type").and_then(Value::as_str).unwrap_or_default();
            let role_property = match kind {
                "AWS::Lambda::Function" => "Role",
                "AWS::StepFunctions::StateMachine" => "RoleArn",
                _ => continue,
            };
            if !self.exists(logical)? {
                continue;
            }
            let props = res.get("Properties").cloned().unwrap_or_default();
            let role = match props.get(role_property).and_then(single_key) {
                Some(("Fn::GetAtt", Value::Array(a))) if a.len() == 2 => {
                    a[0].as_str().unwrap_or_default().to_owned()
                }
                Some(("Fn::GetAtt", Value::String(s))) => s.split('.').next().unwrap_or_default().to_owned(),
                _ => {
                    return Err(format!(
                        "{logical}'s {role_property} is not a role of the template; the harness reads \
                         policies only from AWS::IAM::Role resources"
                    ));
                }
            };
            let mut environment = BTreeMap::new();
            if let Some(vars) =
                props.get("Environment").and_then(|e| e.get("Variables")).and_then(Value::as_object)
            {
                for (k, v) in vars {
                    // A value the harness cannot resolve (a parameter without a default) is left
                    // out; a handler that needs it fails loudly in the test.
                    if let Ok(v) = self.resolve_str(v) {
                        environment.insert(k.clone(), v);
                    }
                }
            }
            let (policy, managed_policies) = self.role_policy(&role)?;
            out.push(Principal {
                logical_id: logical.clone(),
                resource_type: kind.to_owned(),
                role,
                policy,
                managed_policies,
                environment,
            });
        }
        Ok(out)
    }

    pub fn principal(&self, logical_id: &str) -> Result<Principal, String> {
        self.principals()?.into_iter().find(|p| p.logical_id == logical_id).ok_or_else(|| {
            format!("the template has no function or state machine {logical_id} (or its Condition is false)")
        })
    }

    /// The role's inline policies and those of `AWS::IAM::Policy`/`ManagedPolicy` resources
    /// attached to it, as one policy; and the managed policy ARNs it names.
    fn role_policy(&self, role: &str) -> Result<(Policy, Vec<String>), String> {
        let res = self.resource(role)?;
        if self.resource_type(role)? != "AWS::IAM::Role" {
            return Err(format!("{role} is not an AWS::IAM::Role"));
        }
        let props = res.get("Properties");
        let resolved = |name: &str| -> Result<Value, String> {
            match props.and_then(|p| p.get(name)) {
                Some(v) => Ok(self.resolve(v)?.unwrap_or_default()),
                None => Ok(Value::Null),
            }
        };
        let (policies, managed) = (resolved("Policies")?, resolved("ManagedPolicyArns")?);
        let mut statements = Vec::new();
        for p in policies.as_array().into_iter().flatten() {
            let name = p.get("PolicyName").and_then(Value::as_str).unwrap_or("inline");
            let doc =
                p.get("PolicyDocument").ok_or_else(|| format!("{role}'s policy {name} has no document"))?;
            statements.extend(parse_document(doc, &format!("{role}/{name}"))?);
        }
        let mut managed: Vec<String> =
            managed.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        for (logical, other) in self.resources()? {
            let kind = other.get("Type").and_then(Value::as_str).unwrap_or_default();
            if !matches!(kind, "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy") || !self.exists(logical)? {
                continue;
            }
            let roles = other.get("Properties").and_then(|p| p.get("Roles")).and_then(Value::as_array);
            let attached = roles.into_iter().flatten().any(|r| {
                single_key(r) == Some(("Ref", &Value::String(role.to_owned()))) || r.as_str() == Some(role)
            });
            if attached {
                let doc = other.get("Properties").and_then(|p| p.get("PolicyDocument")).cloned();
                let doc = self.resolve(&doc.unwrap_or_default())?.unwrap_or_default();
                statements.extend(parse_document(&doc, logical)?);
            }
        }
        managed.sort();
        Ok((Policy { statements }, managed))
    }
}

fn single_key(v: &Value) -> Option<(&str, &Value)> {
    let map = v.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.iter().next().map(|(k, v)| (k.as_str(), v))
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Action`/`Resource` (the listed ones) or `NotAction`/`NotResource` (all but those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patterns {
    Only(Vec<String>),
    AllBut(Vec<String>),
}

/// One statement of a resolved policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Which role policy (or policy resource) it comes from.
    pub origin: String,
    pub sid: Option<String>,
    pub effect: Effect,
    pub actions: Patterns,
    pub resources: Patterns,
    pub condition: Option<Map<String, Value>>,
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => {
            a.iter().map(|x| x.as_str().map(str::to_owned).ok_or_else(|| format!("{what}: {x}"))).collect()
        }
        other => Err(format!("{what} is neither a string nor a list: {other}")),
    }
}

fn parse_document(doc: &Value, origin: &str) -> Result<Vec<Statement>, String> {
    let list = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return Err(format!("{origin}: a policy document without statements")),
    };
    list.iter()
        .map(|s| {
            let effect = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                other => return Err(format!("{origin}: Effect {other:?}")),
            };
            let pick = |yes: &str, no: &str| -> Result<Patterns, String> {
                match (s.get(yes), s.get(no)) {
                    (Some(v), None) => Ok(Patterns::Only(strings(v, yes)?)),
                    (None, Some(v)) => Ok(Patterns::AllBut(strings(v, no)?)),
                    _ => Err(format!("{origin}: a statement needs exactly one of {yes} and {no}: {s}")),
                }
            };
            Ok(Statement {
                origin: origin.to_owned(),
                sid: s.get("Sid").and_then(Value::as_str).map(str::to_owned),
                effect,
                actions: pick("Action", "NotAction")?,
                resources: pick("Resource", "NotResource")?,
                condition: s.get("Condition").and_then(Value::as_object).cloned(),
            })
        })
        .collect()
}

/// One action on one resource, with the condition keys the request supplies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub action: String,
    pub resource: String,
    /// Condition keys, lower case (`s3:prefix`, `dynamodb:leadingkeys`).
    pub context: BTreeMap<String, Vec<String>>,
}

impl Access {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self { action: action.into(), resource: resource.into(), context: BTreeMap::new() }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.context.entry(key.to_ascii_lowercase()).or_default().push(value.into());
        self
    }

    /// `s3:ListBucket` on `bucket` for objects under `prefix`, the permission S3 looks at when
    /// a requested key is missing.
    pub fn list_bucket(partition: &str, bucket: &str, prefix: &str) -> Self {
        Self::new("s3:ListBucket", format!("arn:{partition}:s3:::{bucket}")).with("s3:prefix", prefix)
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)?;
        for (k, v) in &self.context {
            write!(f, " ({k}={})", v.join(","))?;
        }
        Ok(())
    }
}

/// What a policy says about an access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// By this statement (its origin).
    Allowed(String),
    /// No statement allows it.
    NotAllowed,
    /// This statement denies it.
    Denied(String),
}

/// A role's statements, resolved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

impl Policy {
    /// IAM's evaluation for one identity policy: an explicit deny wins, else an allow, else no.
    /// A condition the harness cannot evaluate makes an Allow grant nothing and a Deny apply
    /// (the test fails rather than passes on what it does not understand); `notes` says why.
    pub fn decide(&self, access: &Access) -> (Decision, Vec<String>) {
        let mut notes = Vec::new();
        let mut allowed = None;
        for st in &self.statements {
            if !matches_any(&st.actions, &access.action, true)
                || !matches_any(&st.resources, &access.resource, false)
            {
                continue;
            }
            let holds = match &st.condition {
                None => true,
                Some(c) => match condition_holds(c, &access.context) {
                    Ok(h) => h,
                    Err(e) => {
                        notes.push(format!("{}: {e}", st.origin));
                        st.effect == Effect::Deny
                    }
                },
            };
            if !holds {
                continue;
            }
            match st.effect {
                Effect::Deny => return (Decision::Denied(st.origin.clone()), notes),
                Effect::Allow => allowed = allowed.or(Some(st.origin.clone())),
            }
        }
        (allowed.map_or(Decision::NotAllowed, Decision::Allowed), notes)
    }

    pub fn allows(&self, access: &Access) -> bool {
        matches!(self.decide(access).0, Decision::Allowed(_))
    }

    /// Every Allow statement that grants `action` on `resource` whatever the conditions.
    pub fn grants_of(&self, action: &str, resource: &str) -> Vec<&Statement> {
        self.statements
            .iter()
            .filter(|st| {
                st.effect == Effect::Allow
                    && matches_any(&st.actions, action, true)
                    && matches_any(&st.resources, resource, false)
            })
            .collect()
    }

    /// The same policy without `action` (named exactly, any case) in any statement; a
    /// statement left with no action is dropped. `Err` when nothing named it.
    pub fn without_action(&self, action: &str) -> Result<Policy, String> {
        let mut found = false;
        let mut statements = Vec::new();
        for st in &self.statements {
            let mut st = st.clone();
            if let Patterns::Only(actions) = &mut st.actions {
                let before = actions.len();
                actions.retain(|a| !a.eq_ignore_ascii_case(action));
                found |= actions.len() != before;
                if actions.is_empty() {
                    continue;
                }
            }
            statements.push(st);
        }
        if found { Ok(Policy { statements }) } else { Err(format!("no statement names {action}")) }
    }

    /// The policy as an IAM document, exactly.
    pub fn document(&self) -> Value {
        let statements: Vec<Value> = self.statements.iter().map(statement_json).collect();
        json!({ "Version": "2012-10-17", "Statement": statements })
    }

    /// The policy as moto can enforce it: statements for services whose resources moto checks
    /// (S3) as they are; the others' Allow statements on `*` (moto compares their resources
    /// with `*` only), their Deny statements left out (on `*` they would deny more than the
    /// template does). [`Policy::decide`] checks those resources and denials instead.
    pub fn for_moto(&self) -> Value {
        let wide = |st: &Statement, actions: Patterns| {
            let mut wide = st.clone();
            wide.actions = actions;
            wide.resources = Patterns::Only(vec!["*".into()]);
            wide.condition = None;
            statement_json(&wide)
        };
        let mut out = Vec::new();
        for st in &self.statements {
            let Patterns::Only(actions) = &st.actions else {
                // NotAction: moto knows it, but not which resources: an Allow on `*`.
                if st.effect == Effect::Allow {
                    out.push(wide(st, st.actions.clone()));
                }
                continue;
            };
            let (checked, unchecked): (Vec<String>, Vec<String>) =
                actions.iter().cloned().partition(|a| action_service(a).is_some_and(moto_checks_resources));
            if !checked.is_empty() {
                match (&st.resources, st.effect) {
                    (Patterns::Only(_), _) => {
                        let mut kept = st.clone();
                        kept.actions = Patterns::Only(checked.clone());
                        out.push(statement_json(&kept));
                    }
                    // moto knows no NotResource.
                    (Patterns::AllBut(_), Effect::Allow) => {
                        out.push(wide(st, Patterns::Only(checked.clone())))
                    }
                    (Patterns::AllBut(_), Effect::Deny) => {}
                }
            }
            if !unchecked.is_empty() && st.effect == Effect::Allow {
                out.push(wide(st, Patterns::Only(unchecked)));
            }
        }
        json!({ "Version": "2012-10-17", "Statement": out })
    }
}

fn statement_json(st: &Statement) -> Value {
    let mut m = Map::new();
    if let Some(sid) = &st.sid {
        m.insert("Sid".into(), json!(sid));
    }
    m.insert("Effect".into(), json!(if st.effect == Effect::Allow { "Allow" } else { "Deny" }));
    match &st.actions {
        Patterns::Only(a) => m.insert("Action".into(), json!(a)),
        Patterns::AllBut(a) => m.insert("NotAction".into(), json!(a)),
    };
    match &st.resources {
        Patterns::Only(r) => m.insert("Resource".into(), json!(r)),
        Patterns::AllBut(r) => m.insert("NotResource".into(), json!(r)),
    };
    if let Some(c) = &st.condition {
        m.insert("Condition".into(), Value::Object(c.clone()));
    }
    Value::Object(m)
}

/// `dynamodb` of `dynamodb:GetItem`; `None` for `*`.
fn action_service(action: &str) -> Option<String> {
    action.split_once(':').map(|(s, _)| s.to_ascii_lowercase())
}

fn moto_checks_resources(service: String) -> bool {
    MOTO_CHECKS_RESOURCES_OF.contains(&service.as_str())
}

fn matches_any(patterns: &Patterns, value: &str, is_action: bool) -> bool {
    let one = |p: &String| if is_action { glob(p, value, true) } else { arn_match(p, value) };
    match patterns {
        Patterns::Only(ps) => ps.iter().any(one),
        Patterns::AllBut(ps) => !ps.iter().any(one),
    }
}

/// IAM's resource matching: `*` alone matches anything; otherwise each of the ARN's six
/// colon-separated parts is matched on its own (the last may hold colons).
fn arn_match(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| glob(p, a, false))
}

/// `*` (any run of characters) and `?` (any one character).
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let norm = |s: &str| if ignore_case { s.to_lowercase().chars().collect() } else { s.chars().collect() };
    let (p, t): (Vec<char>, Vec<char>) = (norm(pattern), norm(text));
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether every operator block of a statement's `Condition` holds; `Err` for what the
/// harness cannot evaluate.
fn condition_holds(
    condition: &Map<String, Value>,
    context: &BTreeMap<String, Vec<String>>,
) -> Result<bool, String> {
    for (operator, block) in condition {
        let block = block.as_object().ok_or_else(|| format!("condition {operator} is not a map"))?;
        let (set, rest) = if let Some(r) = operator.strip_prefix("ForAnyValue:") {
            (Some(false), r)
        } else if let Some(r) = operator.strip_prefix("ForAllValues:") {
            (Some(true), r)
        } else {
            (None, operator.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        for (key, expected) in block {
            let expected: Vec<String> = match expected {
                Value::Array(a) => a.iter().map(scalar_text).collect(),
                other => vec![scalar_text(other)],
            };
            let actual = context.get(&key.to_ascii_lowercase());
            if base == "Null" {
                let want_absent = expected.iter().any(|e| e == "true");
                if actual.is_none() != want_absent {
                    return Ok(false);
                }
                continue;
            }
            let (negated, test): (bool, fn(&str, &str) -> bool) = match base {
                "StringEquals" | "ArnEquals" => (false, |e, a| e == a),
                "StringNotEquals" | "ArnNotEquals" => (true, |e, a| e == a),
                "StringEqualsIgnoreCase" => (false, |e, a| e.eq_ignore_ascii_case(a)),
                "StringNotEqualsIgnoreCase" => (true, |e, a| e.eq_ignore_ascii_case(a)),
                "StringLike" | "ArnLike" => (false, |e, a| glob(e, a, false)),
                "StringNotLike" | "ArnNotLike" => (true, |e, a| glob(e, a, false)),
                "Bool" => (false, |e, a| e.eq_ignore_ascii_case(a)),
                other => return Err(format!("the harness cannot evaluate the condition operator {other}")),
            };
            let Some(actual) = actual else {
                let holds = if_exists || negated || set == Some(true);
                if !holds {
                    return Ok(false);
                }
                continue;
            };
            let matches = |a: &String| expected.iter().any(|e| test(e, a));
            let holds = match set {
                Some(true) => actual.iter().all(|a| matches(a) != negated),
                Some(false) => actual.iter().any(|a| matches(a) != negated),
                None if negated => !actual.iter().any(matches),
                None => actual.iter().any(matches),
            };
            if !holds {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The IAM accesses a JSON-protocol request needs (DynamoDB, SSM, Step Functions, STS), from its
/// `X-Amz-Target` and body. `hash_key` is the table's partition key, for
/// `dynamodb:LeadingKeys`. `Err` for an operation the harness does not know, so that a new
/// call is taught here rather than waved through.
pub fn json_request_accesses(
    stack: &Stack,
    target: &str,
    body: &[u8],
    hash_key: &str,
) -> Result<Vec<Access>, String> {
    let (prefix, op) = target.split_once('.').ok_or_else(|| format!("X-Amz-Target {target}"))?;
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| format!("{target}'s body is not JSON: {e}"))?
    };
    let (p, r, a) = (&stack.partition, &stack.region, &stack.account);
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{target} without {name}"))
    };
    let table = |name: &str| format!("arn:{p}:dynamodb:{r}:{a}:table/{name}");
    let leading = |access: Access, item: Option<&Value>| match item
        .and_then(|i| i.get(hash_key))
        .and_then(|k| k.get("S").or_else(|| k.get("N")))
        .and_then(Value::as_str)
    {
        Some(k) => access.with("dynamodb:LeadingKeys", k),
        None => access,
    };
    let parameter = |name: &str| {
        let name = if name.starts_with('/') { name.to_owned() } else { format!("/{name}") };
        format!("arn:{p}:ssm:{r}:{a}:parameter{name}")
    };
    match prefix {
        p if p.starts_with("DynamoDB_") => {
            let action = format!("dynamodb:{op}");
            match op {
                "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" => {
                    let item = body.get("Key").or_else(|| body.get("Item"));
                    Ok(vec![leading(Access::new(action, table(&field("TableName")?)), item)])
                }
                "Query" | "Scan" => {
                    let mut arn = table(&field("TableName")?);
                    if let Some(index) = body.get("IndexName").and_then(Value::as_str) {
                        arn = format!("{arn}/index/{index}");
                    }
                    Ok(vec![Access::new(action, arn)])
                }
                "DescribeTable" | "CreateTable" | "DeleteTable" | "UpdateTable" | "UpdateTimeToLive"
                | "DescribeTimeToLive" => Ok(vec![Access::new(action, table(&field("TableName")?))]),
                "ListTables" => Ok(vec![Access::new(action, "*")]),
                "BatchGetItem" | "BatchWriteItem" => {
                    let items =
                        body.get("RequestItems").and_then(Value::as_object).ok_or("no RequestItems")?;
                    Ok(items.keys().map(|t| Access::new(action.clone(), table(t))).collect())
                }
                "TransactWriteItems" | "TransactGetItems" => {
                    let items =
                        body.get("TransactItems").and_then(Value::as_array).ok_or("no TransactItems")?;
                    let mut out = Vec::new();
                    for item in items {
                        let (kind, inner) =
                            single_key(item).ok_or("a transact item of more than one kind")?;
                        let needs = match kind {
                            "Put" => "PutItem",
                            "Update" => "UpdateItem",
                            "Delete" => "DeleteItem",
                            "ConditionCheck" => "ConditionCheckItem",
                            "Get" => "GetItem",
                            other => return Err(format!("a transact item {other}")),
                        };
                        let t = inner
                            .get("TableName")
                            .and_then(Value::as_str)
                            .ok_or("a transact item without table")?;
                        let key = inner.get("Key").or_else(|| inner.get("Item"));
                        out.push(leading(Access::new(format!("dynamodb:{needs}"), table(t)), key));
                    }
                    Ok(out)
                }
                other => Err(format!("the harness does not know which resource DynamoDB {other} touches")),
            }
        }
        "AmazonSSM" => {
            let action = format!("ssm:{op}");
            match op {
                "GetParameter" | "PutParameter" | "DeleteParameter" | "GetParameterHistory" => {
                    Ok(vec![Access::new(action, parameter(&field("Name")?))])
                }
                "GetParameters" | "DeleteParameters" => {
                    let names =
                        body.get("Names").and_then(Value::as_array).ok_or("GetParameters without Names")?;
                    Ok(names
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|n| Access::new(action.clone(), parameter(n)))
                        .collect())
                }
                "GetParametersByPath" => Ok(vec![Access::new(action, parameter(&field("Path")?))]),
                other => Err(format!("the harness does not know which resource SSM {other} touches")),
            }
        }
        "AWSStepFunctions" => {
            let action = format!("states:{op}");
            match op {
                "StartExecution"
                | "StartSyncExecution"
                | "DescribeStateMachine"
                | "ListExecutions"
                | "DeleteStateMachine"
                | "UpdateStateMachine" => Ok(vec![Access::new(action, field("stateMachineArn")?)]),
                "DescribeExecution" | "StopExecution" | "GetExecutionHistory" => {
                    Ok(vec![Access::new(action, field("executionArn")?)])
                }
                "CreateStateMachine" => {
                    let name = field("name")?;
                    Ok(vec![Access::new(action, format!("arn:{p}:states:{r}:{a}:stateMachine:{name}"))])
                }
                "ListStateMachines" => Ok(vec![Access::new(action, "*")]),
                other => {
                    Err(format!("the harness does not know which resource Step Functions {other} touches"))
                }
            }
        }
        other => Err(format!("the harness does not know the service of X-Amz-Target {other}.{op}")),
    }
}

/// The IAM accesses a path-style S3 request needs (what the adapters send to a custom endpoint).
pub fn s3_request_accesses(
    stack: &Stack,
    method: &str,
    path: &str,
    query: Option<&str>,
    copy_source: Option<&str>,
) -> Result<Vec<Access>, String> {
    let path = echome_http::percent_decode(path.trim_start_matches('/'));
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) if !k.is_empty() => (b.to_owned(), Some(k.to_owned())),
        Some((b, _)) => (b.to_owned(), None),
        None => (path.clone(), None),
    };
    let params: BTreeMap<String, String> = query
        .unwrap_or_default()
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (echome_http::percent_decode(k), echome_http::percent_decode(v))
        })
        .collect();
    let has = |k: &str| params.contains_key(k);
    let bucket_arn = format!("arn:{}:s3:::{bucket}", stack.partition);
    let access = |action: &str, resource: &str| Access::new(format!("s3:{action}"), resource);
    match key {
        Some(key) => {
            let object = format!("{bucket_arn}/{key}");
            let action = match method {
                "GET" | "HEAD" if has("uploadId") => "ListMultipartUploadParts",
                "GET" | "HEAD" if has("tagging") => "GetObjectTagging",
                "GET" | "HEAD" if has("versionId") => "GetObjectVersion",
                "GET" | "HEAD" => "GetObject",
                "PUT" if has("tagging") => "PutObjectTagging",
                "PUT" | "POST" => "PutObject",
                "DELETE" if has("uploadId") => "AbortMultipartUpload",
                // Deleting one version (not adding a delete marker) is its own permission.
                "DELETE" if has("versionId") => "DeleteObjectVersion",
                "DELETE" => "DeleteObject",
                other => return Err(format!("the harness does not know S3 {other} on an object")),
            };
            let mut accesses = vec![access(action, &object)];
            // CopyObject (a PUT with `x-amz-copy-source: bucket/key`) also reads its source.
            if let Some(source) = copy_source.filter(|_| action == "PutObject") {
                let source = echome_http::percent_decode(source.trim_start_matches('/'));
                let source = source.split_once("?versionId=").map_or(source.as_str(), |(k, _)| k);
                accesses.push(access("GetObject", &format!("arn:{}:s3:::{source}", stack.partition)));
            }
            Ok(accesses)
        }
        None => {
            let listed = |action: &str| {
                let mut a = access(action, &bucket_arn);
                for (param, ctx) in
                    [("prefix", "s3:prefix"), ("delimiter", "s3:delimiter"), ("max-keys", "s3:max-keys")]
                {
                    if let Some(v) = params.get(param) {
                        a = a.with(ctx, v.clone());
                    }
                }
                a
            };
            match method {
                "GET" if has("versions") => Ok(vec![listed("ListBucketVersions")]),
                "GET" if has("uploads") => Ok(vec![access("ListBucketMultipartUploads", &bucket_arn)]),
                "GET" if has("location") => Ok(vec![access("GetBucketLocation", &bucket_arn)]),
                "GET" | "HEAD" => Ok(vec![listed("ListBucket")]),
                "PUT" if params.is_empty() => Ok(vec![access("CreateBucket", &bucket_arn)]),
                "DELETE" if params.is_empty() => Ok(vec![access("DeleteBucket", &bucket_arn)]),
                other => Err(format!("the harness does not know S3 {other} on a bucket ({query:?})")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> Stack {
        let template = json!({
            "Parameters": {
                "Secret": { "Type": "String", "Default": "/echome/key" },
                "Topic": { "Type": "String", "Default": "" }
            },
            "Conditions": { "HasTopic": { "Fn::Not": [{ "Fn::Equals": [{ "Ref": "Topic" }, ""] }] } },
            "Resources": {
                "Table": { "Type": "AWS::DynamoDB::Table", "Properties": {} },
                "Bucket": {
                    "Type": "AWS::S3::Bucket",
                    "Properties": { "BucketName": { "Fn::Sub": "${AWS::StackName}-rec-${AWS::AccountId}-${AWS::Region}" } }
                },
                "Machine": { "Type": "AWS::StepFunctions::StateMachine", "Properties": {
                    "RoleArn": { "Fn::GetAtt": ["MachineRole", "Arn"] } } },
                "MachineRole": { "Type": "AWS::IAM::Role", "Properties": { "Policies": [] } },
                "Fn1Function": { "Type": "AWS::Lambda::Function", "Properties": {
                    "Role": { "Fn::GetAtt": ["Fn1FunctionRole", "Arn"] },
                    "Environment": { "Variables": { "TABLE_NAME": { "Ref": "Table" }, "P": { "Ref": "Secret" } } }
                } },
                "Fn1FunctionRole": { "Type": "AWS::IAM::Role", "Properties": {
                    "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
                    "Policies": [{ "PolicyName": "p0", "PolicyDocument": { "Statement": [
                        { "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"],
                          "Resource": [{ "Fn::GetAtt": ["Table", "Arn"] }, { "Fn::Sub": "${Table.Arn}/index/gsi1" }] },
                        { "Effect": "Allow", "Action": "s3:GetObject",
                          "Resource": { "Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/tts/*" } },
                        { "Effect": "Allow", "Action": "s3:ListBucket",
                          "Resource": { "Fn::GetAtt": ["Bucket", "Arn"] },
                          "Condition": { "StringLike": { "s3:prefix": ["tts/*"] } } },
                        { "Effect": "Allow", "Action": "ssm:GetParameter",
                          "Resource": { "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${Secret}" } },
                        { "Fn::If": ["HasTopic",
                            { "Effect": "Allow", "Action": "sns:Publish", "Resource": { "Ref": "Topic" } },
                            { "Ref": "AWS::NoValue" }] },
                        { "Effect": "Deny", "Action": "dynamodb:*",
                          "Resource": { "Fn::Sub": ["arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${t}", { "t": "other" }] } }
                    ] } }]
                } }
            }
        });
        Stack::new(template, "echome")
    }

    #[test]
    fn intrinsics_resolve_to_the_stack_s_names() {
        let s = stack();
        let p = s.principal("Fn1Function").unwrap();
        assert_eq!(p.role, "Fn1FunctionRole");
        assert_eq!(p.environment["TABLE_NAME"], "echome-Table");
        assert_eq!(p.environment["P"], "/echome/key");
        assert_eq!(s.name_of("Bucket").unwrap(), "echome-rec-123456789012-us-east-1");
        assert_eq!(
            s.reference("Machine").unwrap(),
            "arn:aws:states:us-east-1:123456789012:stateMachine:echome-Machine"
        );
        assert_eq!(p.policy.statements.len(), 5, "the Fn::If without a topic is AWS::NoValue");
        assert_eq!(p.managed_policies.len(), 1);
        let with_topic = stack().parameter("Topic", "arn:aws:sns:us-east-1:123456789012:t");
        assert_eq!(with_topic.principal("Fn1Function").unwrap().policy.statements.len(), 6);
        assert_eq!(s.principals().unwrap().len(), 2, "the function and the state machine");
    }

    #[test]
    fn policies_decide_like_iam() {
        let s = stack();
        let policy = s.principal("Fn1Function").unwrap().policy;
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/echome-Table";
        assert!(policy.allows(&Access::new("dynamodb:GetItem", table)));
        assert!(policy.allows(&Access::new("DynamoDB:getitem", table)), "actions ignore case");
        assert!(policy.allows(&Access::new("dynamodb:Query", format!("{table}/index/gsi1"))));
        assert!(!policy.allows(&Access::new("dynamodb:Query", format!("{table}/index/gsi2"))));
        assert!(!policy.allows(&Access::new("dynamodb:PutItem", table)));
        let other = "arn:aws:dynamodb:us-east-1:123456789012:table/other";
        assert!(matches!(policy.decide(&Access::new("dynamodb:GetItem", other)).0, Decision::Denied(_)));
        let bucket = "echome-rec-123456789012-us-east-1";
        assert!(policy.allows(&Access::new("s3:GetObject", format!("arn:aws:s3:::{bucket}/tts/a/b.json"))));
        assert!(!policy.allows(&Access::new("s3:GetObject", format!("arn:aws:s3:::{bucket}/runs/a.json"))));
        assert!(policy.allows(&Access::list_bucket("aws", bucket, "tts/abc.json")));
        assert!(!policy.allows(&Access::list_bucket("aws", bucket, "runs/abc.json")));
        assert!(
            !policy.allows(&Access::new("s3:ListBucket", format!("arn:aws:s3:::{bucket}"))),
            "no prefix given"
        );
        assert!(policy.allows(&Access::new(
            "ssm:GetParameter",
            "arn:aws:ssm:us-east-1:123456789012:parameter/echome/key"
        )));
        let without = policy.without_action("dynamodb:GetItem").unwrap();
        assert!(!without.allows(&Access::new("dynamodb:GetItem", table)));
        assert!(without.allows(&Access::new("dynamodb:Query", table)));
        assert!(policy.without_action("dynamodb:Scan").is_err());
    }

    #[test]
    fn moto_gets_s3_as_is_and_the_rest_on_any_resource() {
        let doc = stack().principal("Fn1Function").unwrap().policy.for_moto();
        let statements = doc["Statement"].as_array().unwrap();
        assert!(
            statements.iter().any(|s| s["Action"] == json!(["dynamodb:GetItem", "dynamodb:Query"])
                && s["Resource"] == json!(["*"]))
        );
        assert!(statements.iter().any(|s| s["Action"] == json!(["s3:GetObject"])
            && s["Resource"] == json!(["arn:aws:s3:::echome-rec-123456789012-us-east-1/tts/*"])));
        assert!(
            statements.iter().all(|s| s["Effect"] == "Allow"),
            "the table-scoped Deny stays with the harness"
        );
    }

    #[test]
    fn requests_name_their_action_and_resource() {
        let s = stack();
        let get = br#"{"TableName":"echome-Table","Key":{"pk":{"S":"CALLER#+1"},"sk":{"S":"SAMPLE"}}}"#;
        let a = json_request_accesses(&s, "DynamoDB_20120810.GetItem", get, "pk").unwrap();
        assert_eq!(
            a[0].to_string(),
            "dynamodb:GetItem on arn:aws:dynamodb:us-east-1:123456789012:table/echome-Table (dynamodb:leadingkeys=CALLER#+1)"
        );
        let q = br#"{"TableName":"echome-Table","IndexName":"gsi1"}"#;
        let a = json_request_accesses(&s, "DynamoDB_20120810.Query", q, "pk").unwrap();
        assert_eq!(a[0].resource, "arn:aws:dynamodb:us-east-1:123456789012:table/echome-Table/index/gsi1");
        let p = br#"{"Name":"/echome/key","WithDecryption":true}"#;
        let a = json_request_accesses(&s, "AmazonSSM.GetParameter", p, "pk").unwrap();
        assert_eq!(a[0].resource, "arn:aws:ssm:us-east-1:123456789012:parameter/echome/key");
        assert!(json_request_accesses(&s, "DynamoDB_20120810.ExecuteStatement", b"{}", "pk").is_err());
        let a =
            s3_request_accesses(&s, "GET", "/b/samples/%2B1415/a.wav", Some("x-id=GetObject"), None).unwrap();
        assert_eq!(a[0].to_string(), "s3:GetObject on arn:aws:s3:::b/samples/+1415/a.wav");
        let a = s3_request_accesses(&s, "GET", "/b", Some("list-type=2&prefix=tts%2F"), None).unwrap();
        assert_eq!(a[0].to_string(), "s3:ListBucket on arn:aws:s3:::b (s3:prefix=tts/)");
        let a = s3_request_accesses(&s, "PUT", "/b/deleted/vm-1/a.wav", None, Some("b/runs/r%2B1/a.wav"))
            .unwrap();
        let a: Vec<String> = a.iter().map(ToString::to_string).collect();
        assert_eq!(
            a,
            [
                "s3:PutObject on arn:aws:s3:::b/deleted/vm-1/a.wav",
                "s3:GetObject on arn:aws:s3:::b/runs/r+1/a.wav"
            ]
        );
    }

    #[test]
    fn globs_and_names() {
        assert!(glob("a*b?d", "axxxbcd", false));
        assert!(!glob("a*b?d", "axxxbd", false));
        assert!(glob("*", "", false));
        assert!(arn_match("arn:aws:s3:::b/tts/*", "arn:aws:s3:::b/tts/x/y"));
        assert!(!arn_match("arn:aws:s3:::b/tts/*", "arn:aws:s3:::b/runs/x"));
        assert_eq!(function_logical_id("synthesize-speech"), "SynthesizeSpeechFunction");
        assert_eq!(function_logical_id("api"), "ApiFunction");
    }
}
