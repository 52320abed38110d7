//! RFC 8414 metadata lists what exists, and only that.

use serde_json::Value;

store_test!(
    async fn metadata_lists_only_endpoints_that_answer(app: &TestApp) {
        let meta: Value = app
            .http
            .get(app.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(meta["issuer"], "http://tessera.test");
        assert_eq!(meta["token_endpoint"], "http://tessera.test/oauth/token");
        assert!(meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "client_credentials"));
        // The three identity scopes of OpenID Connect, then the sample catalog's four.
        assert_eq!(meta["scopes_supported"].as_array().unwrap().len(), 7);
        assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
        for (key, value) in meta.as_object().unwrap() {
            if key.ends_with("_endpoint") || key.ends_with("_uri") {
                let path = value
                    .as_str()
                    .unwrap()
                    .trim_start_matches("http://tessera.test");
                let res = app.http.get(app.url(path)).send().await.unwrap();
                assert_ne!(res.status(), 404, "{key} = {value} must exist");
            }
        }
    }
);
