//! `echome people` and `echome consent`: named people, and the consent recorded before anyone
//! is cloned. Both go through the API's handler (see `library.rs`), as `echome serve` does.

use std::path::Path;
use std::process::ExitCode;

use aws_lambda_events::http::Method;
use serde_json::{Value, json};

use crate::library::{call, encode};
use crate::local::Local;
use crate::output::fail_step;

#[derive(clap::Subcommand)]
pub enum PeopleCommand {
    /// Name someone who is not a caller (an employee, a presenter), so they can consent and be cloned.
    Add {
        /// Their id: lowercase letters, digits, '.', '_' and '-' (e.g. emp-42).
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "employee")]
        kind: String,
        #[arg(long)]
        json: bool,
    },
    /// A person (a caller's number or a named id): their record, consent and active voice.
    Show {
        person: String,
        #[arg(long)]
        json: bool,
    },
    /// Erase a person: their voices at the provider, every file and record of theirs; the
    /// receipt (without their number) on stdout. Asked again after a failure, it finishes.
    Erase {
        person: String,
        #[arg(long)]
        json: bool,
    },
    /// Every erasure's receipt, newest first.
    Erasures {
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum ConsentCommand {
    /// Record a person's consent (it replaces any earlier record).
    Grant {
        person: String,
        /// How it was given: ivr, recorded_verbal, written or api.
        #[arg(long)]
        method: String,
        /// Who gave it (the person, or whoever may speak for them).
        #[arg(long)]
        by: String,
        /// A key to the recording or document that proves it.
        #[arg(long)]
        evidence: Option<String>,
        /// What it covers: clone, speech or both.
        #[arg(long, value_delimiter = ',', default_value = "clone,speech")]
        scope: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a person's consent: their voices are deleted and no new clone starts.
    Revoke {
        person: String,
        #[arg(long)]
        json: bool,
    },
    /// A person's consent on record.
    Show {
        person: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn people(data_dir: &Path, cmd: PeopleCommand) -> ExitCode {
    let path = |p: &str| format!("/people/{}", encode(p));
    let (json, req, text): (bool, _, fn(&Value) -> String) = match cmd {
        PeopleCommand::Add { id, name, kind, json } => {
            let body = json!({ "id": id, "display_name": name, "kind": kind });
            (json, (Method::POST, "/people".to_owned(), Some(body)), person_text)
        }
        PeopleCommand::Show { person, json } => (json, (Method::GET, path(&person), None), person_text),
        PeopleCommand::Erase { person, json } => (json, (Method::DELETE, path(&person), None), receipt_text),
        PeopleCommand::Erasures { json } => {
            (json, (Method::GET, "/erasures".to_owned(), None), receipts_text)
        }
    };
    answer(data_dir, json, req, text).await
}

pub async fn consent(data_dir: &Path, cmd: ConsentCommand) -> ExitCode {
    let path = |p: &str| format!("/people/{}/consent", encode(p));
    let (json, req) = match cmd {
        ConsentCommand::Grant { person, method, by, evidence, scope, json } => {
            let body = json!({ "given_by": by, "method": method, "scope": scope, "evidence": evidence });
            (json, (Method::POST, path(&person), Some(body)))
        }
        ConsentCommand::Revoke { person, json } => (json, (Method::DELETE, path(&person), None)),
        ConsentCommand::Show { person, json } => (json, (Method::GET, path(&person), None)),
    };
    answer(data_dir, json, req, consent_text).await
}

async fn answer(
    data_dir: &Path,
    json: bool,
    (method, path, body): (Method, String, Option<Value>),
    text: fn(&Value) -> String,
) -> ExitCode {
    let done = async {
        let local = Local::open(data_dir)?;
        call(&local, method, &path, body).await
    };
    match done.await {
        Ok(v) if json => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Ok(v) => {
            println!("{}", text(&v));
            ExitCode::SUCCESS
        }
        Err(e) => fail_step(json, &e),
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("-")
}

fn consent_text(v: &Value) -> String {
    // A revocation answers with the consent and the voices it deleted.
    if let Some(c) = v.get("consent") {
        let gone = v["deleted_models"].as_array().map_or(0, Vec::len);
        return format!("{}\n{gone} voice model(s) deleted", consent_text(c));
    }
    let scope: Vec<&str> = v["scope"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut out = format!(
        "{}: consent {} ({}, scope {}) given by {} at {}, recorded by {}",
        str_of(v, "person"),
        str_of(v, "status"),
        str_of(v, "method"),
        scope.join(","),
        str_of(v, "given_by"),
        str_of(v, "granted_at"),
        str_of(v, "recorded_by"),
    );
    if let Some(e) = v["evidence"].as_str() {
        out.push_str(&format!("\nevidence: {e}"));
    }
    if let Some(at) = v["revoked_at"].as_str() {
        out.push_str(&format!("\nrevoked at {at} by {}", str_of(v, "revoked_by")));
    }
    out
}

fn person_text(v: &Value) -> String {
    let consent = match v.get("consent").filter(|c| !c.is_null()) {
        Some(c) => consent_text(c),
        None => "no consent on record".into(),
    };
    format!(
        "{} ({}{})\nactive voice model: {}\n{consent}",
        str_of(v, "id"),
        str_of(v, "kind"),
        v["display_name"].as_str().map(|n| format!(", {n}")).unwrap_or_default(),
        str_of(v, "active_voice_model"),
    )
}

fn receipt_text(v: &Value) -> String {
    let mut out = format!(
        "erasure {} ({}) of a {} person, by {}: {} item(s) deleted",
        str_of(v, "id"),
        str_of(v, "status"),
        str_of(v, "person_kind"),
        str_of(v, "requested_by"),
        v["total_deleted"].as_u64().unwrap_or(0),
    );
    for (kind, n) in v["deleted"].as_object().into_iter().flatten() {
        out.push_str(&format!("\n  {kind}: {n}"));
    }
    out
}

fn receipts_text(v: &Value) -> String {
    let all = v["erasures"].as_array().cloned().unwrap_or_default();
    if all.is_empty() {
        return "no erasures".into();
    }
    all.iter().map(receipt_text).collect::<Vec<_>>().join("\n")
}
