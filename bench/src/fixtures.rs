//! The accounts and clients a run needs, created through Tessera's own CLI before any
//! load: one account, one client with every sample scope, and a bulk set of clients for
//! the many-clients scenarios.

use anyhow::{Context, Result};
use base64::Engine;
use hyper::header::HeaderValue;
use serde::Deserialize;
use tokio::time::Instant;

use crate::tessera::Tessera;

/// How many clients the "(10k clients)" scenario spreads its requests over.
pub const MANY_CLIENTS: usize = 10_000;

#[derive(Clone, Debug, Deserialize)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
}

impl Credentials {
    /// RFC 6749 §2.3.1: id and secret are form-encoded, then sent as HTTP Basic.
    pub fn basic_authorization(&self) -> Result<HeaderValue> {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!(
            "{}:{}",
            encode(&self.client_id),
            encode(&self.client_secret)
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        Ok(HeaderValue::from_str(&format!("Basic {encoded}"))?)
    }
}

pub struct Fixtures {
    /// A client allowed `account:read books:read books:write`.
    pub client: Credentials,
    /// `MANY_CLIENTS` clients allowed `account:read`.
    pub many_clients: Vec<Credentials>,
}

#[derive(Deserialize)]
struct AccountCreated {
    account_id: String,
}

/// `tessera fixtures clients` prints an array; an object holding one is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum BulkClients {
    List(Vec<Credentials>),
    Wrapped { clients: Vec<Credentials> },
}

pub async fn create(tessera: &Tessera) -> Result<Fixtures> {
    let account: AccountCreated = tessera
        .json(&["account", "create", "--name", "bench"])
        .await?;
    let client: Credentials = tessera
        .json(&[
            "client",
            "create",
            "--account",
            &account.account_id,
            "--name",
            "bench",
            "--scope",
            "account:read books:read books:write",
        ])
        .await?;
    let started = Instant::now();
    let count = MANY_CLIENTS.to_string();
    let bulk: BulkClients = tessera
        .json(&[
            "fixtures",
            "clients",
            "--account",
            &account.account_id,
            "--count",
            &count,
            "--scope",
            "account:read",
        ])
        .await?;
    let many_clients = match bulk {
        BulkClients::List(list) | BulkClients::Wrapped { clients: list } => list,
    };
    if many_clients.len() != MANY_CLIENTS {
        anyhow::bail!(
            "tessera fixtures clients made {} clients, not {MANY_CLIENTS}",
            many_clients.len()
        );
    }
    eprintln!(
        "created {MANY_CLIENTS} clients in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Fixtures {
        client,
        many_clients,
    })
}

/// Authorization headers for `clients`, in order.
pub fn basic_authorizations(clients: &[Credentials]) -> Result<Vec<HeaderValue>> {
    clients
        .iter()
        .map(Credentials::basic_authorization)
        .collect::<Result<_>>()
        .context("encoding client credentials")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_authorization_form_encodes_then_base64s() -> Result<()> {
        let credentials = Credentials {
            client_id: "c 1".to_owned(),
            client_secret: "s:é".to_owned(),
        };
        let header = credentials.basic_authorization()?;
        let encoded = header
            .to_str()?
            .strip_prefix("Basic ")
            .context("not Basic")?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded)?;
        assert_eq!(decoded, b"c+1:s%3A%C3%A9");
        Ok(())
    }

    #[test]
    fn bulk_output_is_an_array_or_an_object_holding_one() -> Result<()> {
        let array = r#"[{"client_id":"a","client_secret":"b"}]"#;
        let object = r#"{"clients":[{"client_id":"a","client_secret":"b","extra":1}]}"#;
        for text in [array, object] {
            let (BulkClients::List(list) | BulkClients::Wrapped { clients: list }) =
                serde_json::from_str(text)?;
            assert_eq!(list.first().map(|c| c.client_id.as_str()), Some("a"));
        }
        Ok(())
    }
}
