//! Leases on once-per-cluster work: one holder at a time, renewed by its holder, taken over
//! only once expired, given up by its holder alone.

use tessera_core::store::LeaseStore;

use super::*;

conformance_test!(
    /// A free lease goes to the first asker; another holder is refused while it lasts, the
    /// holder renews it, and once it expires another takes it over. Releasing is the
    /// holder's alone, and frees the lease at once.
    async fn a_lease_has_one_holder_until_it_expires_or_is_released(s) {
        assert!(s.acquire_lease("work", "a", T0 + 180, T0).await.unwrap());
        assert!(!s.acquire_lease("work", "b", T0 + 190, T0 + 10).await.unwrap());
        assert!(s.acquire_lease("work", "a", T0 + 240, T0 + 60).await.unwrap(), "renewed");
        assert!(!s.acquire_lease("work", "b", T0 + 380, T0 + 200).await.unwrap(), "renewal counted");
        assert!(s.acquire_lease("other", "b", T0 + 380, T0 + 200).await.unwrap(), "leases are apart");
        assert!(s.acquire_lease("work", "b", T0 + 420, T0 + 240).await.unwrap(), "expired: taken over");
        assert!(!s.acquire_lease("work", "a", T0 + 430, T0 + 250).await.unwrap(), "the old holder lost it");
        s.release_lease("work", "a").await.unwrap();
        assert!(!s.acquire_lease("work", "c", T0 + 440, T0 + 260).await.unwrap(), "not a's to release");
        s.release_lease("work", "b").await.unwrap();
        assert!(s.acquire_lease("work", "c", T0 + 440, T0 + 260).await.unwrap(), "released: free at once");
    }
);

conformance_test!(
    /// Of many replicas asking for a free lease at once, from two processes, exactly one
    /// gets it.
    async fn racing_for_a_free_lease_has_one_winner(s) {
        let stores = [s.store.clone(), s.other_process().await];
        let won = race(&stores, 16, |i, store| async move {
            store.acquire_lease("work", &format!("replica-{i}"), T0 + 180, T0).await.unwrap()
        })
        .await;
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
        stores[1].close().await;
    }
);
