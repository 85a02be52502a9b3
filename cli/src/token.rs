//! `echome token --sub NAME --role viewer|operator|admin [--ttl 15m]`: a bearer token for
//! `echome serve` on the same data dir, signed with the data dir's local key (made on first
//! use). Works while `serve` runs: the key is a file of its own, not in the locked database.

use std::path::Path;
use std::process::ExitCode;

use echome_auth::LocalKey;
use echome_core::auth::Role;

#[derive(clap::Args)]
pub struct TokenArgs {
    /// Who the token is for (its `sub`): a user name or id.
    #[arg(long)]
    pub sub: String,
    /// viewer (read), operator (read + act on voices, samples and jobs) or admin (everything).
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// How long it is valid, with a unit: 30s, 15m, 1h, 7d.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: std::time::Duration,
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| format!("{raw:?} is not a role: use viewer, operator or admin"))
}

fn parse_ttl(raw: &str) -> Result<std::time::Duration, String> {
    let d = echome_core::duration::parse_duration(raw).map_err(|e| e.to_string())?;
    d.to_std().map_err(|_| format!("{raw:?} is not a duration"))
}

pub fn run(data_dir: &Path, args: TokenArgs) -> ExitCode {
    let issued = LocalKey::load_or_create(data_dir).and_then(|key| key.issue(&args.sub, args.role, args.ttl));
    match issued {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
