//! Signing keys: the first key, rotation, emergency retirement, listing.

use crate::audit::{record, Actor, AuditAction, AuditEvent, Target};
use crate::domain::Kid;
use crate::error::ManageError;
use crate::store::{KeyStore, Store};
use crate::token::keys::{self, Algorithm, Keyring, StoredSigningKey};
use crate::token::master_key::MasterKey;
use crate::UnixSeconds;

/// What key management needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    pub algorithm: Algorithm,
    /// Seconds between publishing a new key and signing with it.
    pub propagation_delay: i64,
    /// The longest access token lifetime: how long a superseded key stays published.
    pub max_token_ttl: i64,
}

/// Creates the first signing key if the store has none. It signs at once: no resource
/// server can have cached a JWKS of a server that never had a key.
pub async fn ensure_signing_key(
    store: &dyn Store,
    actor: &Actor,
    master: &MasterKey,
    policy: &KeyPolicy,
    now: UnixSeconds,
) -> Result<Option<StoredSigningKey>, ManageError> {
    let result: Result<Option<StoredSigningKey>, ManageError> = async {
        if !store.list_signing_keys().await?.is_empty() {
            return Ok(None);
        }
        let key = generate(policy.algorithm, master, now, now)?;
        store.insert_signing_key(&key, now).await?;
        tracing::info!(kid = %key.kid, alg = key.alg.as_str(), "generated the first signing key");
        Ok(Some(key))
    }
    .await;
    let event = match &result {
        Ok(ok) => match ok {
            Some(k) => AuditEvent::new(
                now,
                actor,
                AuditAction::KeyCreated,
                Target::new("key", k.kid.as_str()),
            ),
            None => return result,
        },
        Err(_) => AuditEvent::new(now, actor, AuditAction::KeyCreated, Target::new("key", "-")),
    };
    record(store, event, result).await
}

/// Publishes a new key that starts signing after the propagation delay, and deletes keys
/// whose tokens have all expired.
pub async fn rotate(
    store: &dyn Store,
    actor: &Actor,
    master: &MasterKey,
    policy: &KeyPolicy,
    now: UnixSeconds,
) -> Result<StoredSigningKey, ManageError> {
    let result: Result<StoredSigningKey, ManageError> = async {
        let key = generate(
            policy.algorithm,
            master,
            now,
            now + policy.propagation_delay,
        )?;
        store.insert_signing_key(&key, now).await?;
        let stored = store.list_signing_keys().await?;
        let ring = Keyring::from_stored(&stored, master, policy.max_token_ttl)
            .map_err(|e| ManageError::Crypto(e.to_string()))?;
        let expired = ring.expired(now);
        if !expired.is_empty() {
            store.delete_signing_keys(&expired, now).await?;
        }
        tracing::info!(kid = %key.kid, activates_at = key.activates_at, "rotated the signing key");
        Ok(key)
    }
    .await;
    let event = match &result {
        Ok(ok) => AuditEvent::new(
            now,
            actor,
            AuditAction::KeyRotated,
            Target::new("key", ok.kid.as_str()),
        )
        .detail(format!(
            "signs from {}",
            crate::rfc3339::format_rfc3339(ok.activates_at)
        )),
        Err(_) => AuditEvent::new(now, actor, AuditAction::KeyRotated, Target::new("key", "-")),
    };
    record(store, event, result).await
}

/// Rotates when the newest key was created more than `interval` seconds ago.
pub async fn rotate_if_due(
    store: &dyn Store,
    master: &MasterKey,
    policy: &KeyPolicy,
    interval: i64,
    now: UnixSeconds,
) -> Result<Option<StoredSigningKey>, ManageError> {
    let newest = store
        .list_signing_keys()
        .await?
        .iter()
        .map(|k| k.created_at)
        .max();
    match newest {
        Some(created) if now - created < interval => Ok(None),
        _ => rotate(store, &Actor::system(), master, policy, now)
            .await
            .map(Some),
    }
}

/// What an emergency retirement did.
#[derive(Debug)]
pub struct Retired {
    pub kid: Kid,
    /// The key generated to sign in the retired key's place, when that key was signing.
    pub replacement: Option<StoredSigningKey>,
}

/// Retires a signing key at once (it is compromised): deletes it, so it leaves the JWKS
/// and every token it signed is refused, by every server as soon as the change feed
/// reaches it, instead of after the longest token lifetime as in a rotation.
///
/// If the key is the one signing at `now` (and so always when it is the last key), a
/// replacement is generated and stored first, so signing never stops and never falls
/// back to the retired key. The replacement takes the retired key's activation instant:
/// it signs at once on every server that was signing with the retired key (a server
/// whose clock is behind the CLI's included), skipping the propagation delay, which an
/// emergency cannot wait for.
pub async fn retire_now(
    store: &dyn Store,
    actor: &Actor,
    master: &MasterKey,
    policy: &KeyPolicy,
    kid: &str,
    now: UnixSeconds,
) -> Result<Retired, ManageError> {
    let result: Result<Retired, ManageError> = async {
        let not_found =
            || ManageError::NotFound(format!("no signing key {kid} (see `tessera keys list`)"));
        let kid = Kid::parse(kid).ok_or_else(not_found)?;
        let listed = list_keys(store, now).await?;
        let Some((key, state)) = listed.iter().find(|(k, _)| k.kid == kid) else {
            return Err(not_found());
        };
        let replacement = if *state == KeyState::Active || listed.len() == 1 {
            let replacement = generate(policy.algorithm, master, now, key.activates_at.min(now))?;
            store.insert_signing_key(&replacement, now).await?;
            Some(replacement)
        } else {
            None
        };
        store
            .delete_signing_keys(std::slice::from_ref(&kid), now)
            .await?;
        tracing::warn!(
            kid = %kid,
            replacement = replacement.as_ref().map(|k| k.kid.to_string()),
            "retired a signing key at once; every token it signed is refused"
        );
        Ok(Retired { kid, replacement })
    }
    .await;
    let event = match &result {
        Ok(ok) => AuditEvent::new(now, actor, AuditAction::KeyRetired, Target::new("key", kid))
            .detail(match &ok.replacement {
                Some(r) => format!("replaced by {}, signing at once", r.kid),
                None => "no replacement needed".into(),
            }),
        Err(_) => AuditEvent::new(now, actor, AuditAction::KeyRetired, Target::new("key", kid)),
    };
    record(store, event, result).await
}

/// A key's role at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not yet signing.
    Pending,
    /// Signing new tokens.
    Active,
    /// Superseded; published until its tokens have expired.
    Retiring,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Retiring => "retiring",
        }
    }
}

pub async fn list_keys(
    store: &dyn KeyStore,
    now: UnixSeconds,
) -> Result<Vec<(StoredSigningKey, KeyState)>, ManageError> {
    let keys = store.list_signing_keys().await?;
    let active = keys
        .iter()
        .filter(|k| k.activates_at <= now)
        .max_by_key(|k| (k.activates_at, k.created_at))
        .map(|k| k.kid.clone());
    Ok(keys
        .into_iter()
        .map(|k| {
            let state = if k.activates_at > now {
                KeyState::Pending
            } else if Some(&k.kid) == active.as_ref() {
                KeyState::Active
            } else {
                KeyState::Retiring
            };
            (k, state)
        })
        .collect())
}

fn generate(
    alg: Algorithm,
    master: &MasterKey,
    now: UnixSeconds,
    activates_at: UnixSeconds,
) -> Result<StoredSigningKey, ManageError> {
    keys::generate(alg, master, now, activates_at).map_err(|e| ManageError::Crypto(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStore;

    type Keys = MemoryStore;

    const POLICY: KeyPolicy = KeyPolicy {
        algorithm: Algorithm::Es256,
        propagation_delay: 600,
        max_token_ttl: 3600,
    };

    fn master() -> MasterKey {
        MasterKey::from_bytes(&[7; 32]).unwrap()
    }

    /// A store whose first key was made at 1 000, as a server's first start makes it.
    async fn first_key() -> (Keys, StoredSigningKey) {
        let store = Keys::default();
        let first = ensure_signing_key(&store, &Actor::system(), &master(), &POLICY, 1_000).await;
        let first = first.unwrap().unwrap();
        (store, first)
    }

    async fn retire(store: &Keys, kid: &str, now: UnixSeconds) -> Result<Retired, ManageError> {
        retire_now(store, &Actor::cli("ops"), &master(), &POLICY, kid, now).await
    }

    fn ring(store: &Keys) -> Keyring {
        Keyring::from_stored(&store.signing_keys(), &master(), POLICY.max_token_ttl).unwrap()
    }

    #[tokio::test]
    async fn retiring_the_signing_key_puts_a_replacement_in_its_place_at_once() {
        let (store, first) = first_key().await;
        // The CLI's clock may run ahead of a server's: the replacement must sign for a
        // server that is still at the retired key's activation.
        let retired = retire(&store, first.kid.as_str(), 1_500).await.unwrap();
        assert_eq!(retired.kid, first.kid);
        let replacement = retired
            .replacement
            .expect("the last key is never left alone");
        let ring = ring(&store);
        assert!(
            ring.verifier(first.kid.as_str(), 1_500).is_none(),
            "refused at once"
        );
        assert!(!ring.jwks(1_500).to_string().contains(first.kid.as_str()));
        for now in [1_000, 1_500] {
            assert_eq!(ring.current(now).unwrap().kid, replacement.kid, "at {now}");
        }
    }

    #[tokio::test]
    async fn retiring_the_active_key_beside_a_pending_one_keeps_signing_until_it_activates() {
        let (store, first) = first_key().await;
        let pending = rotate(&store, &Actor::cli("ops"), &master(), &POLICY, 2_000)
            .await
            .unwrap();
        let retired = retire(&store, first.kid.as_str(), 2_100).await.unwrap();
        let replacement = retired.replacement.expect("the retired key was signing");
        let ring = ring(&store);
        assert_eq!(ring.current(2_100).unwrap().kid, replacement.kid);
        assert_eq!(
            ring.current(2_600).unwrap().kid,
            pending.kid,
            "the rotation goes on"
        );
    }

    #[tokio::test]
    async fn retiring_a_superseded_key_makes_no_replacement_and_unknown_kids_are_not_found() {
        let (store, first) = first_key().await;
        let second = rotate(&store, &Actor::cli("ops"), &master(), &POLICY, 2_000)
            .await
            .unwrap();
        let retired = retire(&store, first.kid.as_str(), 3_000).await.unwrap();
        assert!(retired.replacement.is_none());
        let left: Vec<Kid> = store.signing_keys().iter().map(|k| k.kid.clone()).collect();
        assert_eq!(left, vec![second.kid.clone()]);

        let err = retire(&store, "kid_unknown", 3_000).await.unwrap_err();
        assert!(matches!(err, ManageError::NotFound(_)), "{err}");
        assert_eq!(store.signing_keys().len(), 1, "nothing changed");
    }
}
