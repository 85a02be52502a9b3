//! Checks a request the stub received against ElevenLabs' official OpenAPI description (the
//! operations echome calls, cut from elevenlabs-openapi-2026-08-22.json by
//! tools/trim_openapi.py): the operation exists, every query parameter and body field sent is
//! declared, and every required body field is sent.

use std::sync::OnceLock;

use serde_json::Value;
use wiremock::Request;

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/spec/openapi-subset.json");
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("the official spec at {path}: {e}"));
        serde_json::from_str(&text).expect("the spec is JSON")
    })
}

fn resolve(v: &Value) -> &Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(&spec()["components"]["schemas"][name])
        }
        None => v,
    }
}

fn operation(method: &str, path: &str) -> &'static Value {
    let paths = spec()["paths"].as_object().expect("paths");
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    for (template, ops) in paths {
        let t: Vec<&str> = template.trim_matches('/').split('/').collect();
        let same = t.len() == segs.len() && t.iter().zip(&segs).all(|(a, b)| a.starts_with('{') || a == b);
        if same && let Some(op) = ops.get(method.to_ascii_lowercase()) {
            return op;
        }
    }
    panic!("{method} {path} is not an operation of the official API");
}

/// The declared body schema's properties and required names, for a content type.
fn body_schema(op: &Value, content_type: &str) -> (Vec<String>, Vec<String>) {
    let schema = resolve(&op["requestBody"]["content"][content_type]["schema"]);
    assert!(!schema.is_null(), "the operation takes no {content_type} body");
    let props = schema["properties"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let required = schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    (props, required)
}

pub use echome_testkit::elevenlabs::multipart;

/// Asserts `req` is a call the official API defines, with the key header.
pub fn check(req: &Request, key: &str) {
    let method = req.method.as_str();
    let op = operation(method, req.url.path());
    assert_eq!(
        req.headers.get("xi-api-key").and_then(|v| v.to_str().ok()),
        Some(key),
        "xi-api-key on every request"
    );
    let declared: Vec<&str> = op["parameters"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| resolve(p)["name"].as_str()).collect())
        .unwrap_or_default();
    for (name, _) in req.url.query_pairs() {
        assert!(
            declared.contains(&name.as_ref()),
            "query parameter {name} is not in the spec for {method} {}",
            req.url.path()
        );
    }
    let ct = req.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if ct.starts_with("multipart/form-data") {
        let (props, required) = body_schema(op, "multipart/form-data");
        let names: Vec<String> = multipart(req).into_iter().map(|(n, _, _)| n).collect();
        for n in &names {
            assert!(props.contains(n), "multipart part {n:?} is not a field of the spec's body");
        }
        for r in &required {
            assert!(names.contains(r), "required multipart field {r:?} is missing");
        }
    } else if ct.starts_with("application/json") {
        let (props, required) = body_schema(op, "application/json");
        let body: Value = serde_json::from_slice(&req.body).expect("a JSON body");
        let obj = body.as_object().expect("a JSON object");
        for k in obj.keys() {
            assert!(props.contains(k), "JSON field {k:?} is not in the spec's body");
        }
        for r in &required {
            assert!(obj.contains_key(r), "required JSON field {r:?} is missing");
        }
    } else {
        assert!(req.body.is_empty(), "{method} {} sends no body", req.url.path());
    }
}
