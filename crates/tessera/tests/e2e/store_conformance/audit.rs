//! The audit log's filters, as `tessera audit` and the operator page use them: by time, by
//! actor (exact or by kind), by target (`kind:id`, or an id that also matches the event's
//! account, client and credential), newest first, at most `limit`; every field read back
//! as written.

use tessera_core::audit::Outcome;
use tessera_core::domain::ClientId;
use tessera_core::store::AuditStore;

use super::*;

conformance_test!(
    /// Each filter alone and together, newest first, at most `limit`; ids as data.
    async fn audit_events_filter_by_time_actor_and_target(s) {
        let account = s.account(T0).await;
        let client = ClientId::parse("cl_audited").unwrap();
        let ops = Actor::cli("ops");
        let ada = Actor::user(&UserId::parse("usr_ada").unwrap());
        let created = AuditEvent::new(T0 + 1, &ops, AuditAction::ClientCreated, Target::new("client", "cl_audited"))
            .client(&client)
            .account(&account);
        let refused = AuditEvent::new(T0 + 2, &ada, AuditAction::ScopeRemoved, Target::new("scope", "books:read"))
            .outcome(Outcome::Refused)
            .detail("scope books:read is in use, so it stays");
        let revoked = AuditEvent::new(T0 + 3, &ada, AuditAction::ClientRevoked, Target::new("client", "cl_audited"))
            .client(&client)
            .account(&account);
        let renamed = AuditEvent::new(T0 + 4, &Actor::system(), AuditAction::AccountUpdated, Target::new("account", account.as_str()))
            .account(&account);
        for e in [&created, &refused, &revoked, &renamed] {
            s.insert_audit_event(e).await.unwrap();
        }
        let list = |query: AuditQuery| async move { s.list_audit_events(&AuditQuery { limit: 100, ..query }).await.unwrap() };

        assert_eq!(list(AuditQuery::default()).await, [renamed.clone(), revoked.clone(), refused.clone(), created.clone()]);
        assert_eq!(list(AuditQuery { since: Some(T0 + 3), ..AuditQuery::default() }).await, [renamed.clone(), revoked.clone()]);
        // An actor exactly, or every actor of a kind; a kind is not a prefix of other words.
        assert_eq!(list(AuditQuery { actor: Some("cli:ops".into()), ..AuditQuery::default() }).await, vec![created.clone()]);
        assert_eq!(list(AuditQuery { actor: Some("user".into()), ..AuditQuery::default() }).await, [revoked.clone(), refused.clone()]);
        assert!(list(AuditQuery { actor: Some("us".into()), ..AuditQuery::default() }).await.is_empty());
        assert!(list(AuditQuery { actor: Some("cli:op".into()), ..AuditQuery::default() }).await.is_empty());
        // A bare id finds the events about it and those that name it as their account.
        assert_eq!(list(AuditQuery { target: Some("cl_audited".into()), ..AuditQuery::default() }).await, [revoked.clone(), created.clone()]);
        assert_eq!(list(AuditQuery { target: Some(account.to_string()), ..AuditQuery::default() }).await, [renamed.clone(), revoked.clone(), created.clone()]);
        // `kind:id` finds the target only.
        assert_eq!(list(AuditQuery { target: Some(format!("account:{account}")), ..AuditQuery::default() }).await, vec![renamed.clone()]);
        assert_eq!(list(AuditQuery { target: Some("scope:books:read".into()), ..AuditQuery::default() }).await, vec![refused.clone()]);
        // Filters combine; a value is data, never SQL.
        assert_eq!(list(AuditQuery { actor: Some("user".into()), target: Some("cl_audited".into()), since: Some(T0 + 1) , ..AuditQuery::default() }).await, vec![revoked.clone()]);
        assert!(list(AuditQuery { target: Some("x' OR '1'='1".into()), ..AuditQuery::default() }).await.is_empty());
        // Newest first, at most `limit`.
        assert_eq!(s.list_audit_events(&AuditQuery { limit: 1, ..AuditQuery::default() }).await.unwrap(), [renamed]);
    }
);
