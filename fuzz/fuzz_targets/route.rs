//! The gateway's route patterns (tessera-core gateway.rs): any set of `[[route]]` paths
//! and methods is built or refused, any request path matched or refused, never a panic;
//! a request made from a route's own pattern is matched by some route; a path the
//! upstream could resolve elsewhere (`..`, encoded `/`) is always refused.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tessera_core::domain::ScopeSet;
use tessera_core::gateway::{is_reserved, Access, PathError, RouteSpec, RouteTable, Unmatched};

#[derive(Debug, Arbitrary)]
struct Input {
    routes: Vec<(Vec<String>, String, bool, bool)>,
    method: String,
    path: String,
    deny: bool,
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let catalog = ScopeSet::parse("books:read books:write").expect("catalog");
    let specs: Vec<RouteSpec> = input
        .routes
        .iter()
        .take(16)
        .map(|(methods, path, public, scoped)| RouteSpec {
            methods: methods.iter().take(4).cloned().collect(),
            path: path.clone(),
            scopes: if *scoped && !*public {
                vec!["books:read".into()]
            } else {
                vec![]
            },
            public: *public,
        })
        .collect();
    let unmatched = if input.deny {
        Unmatched::Deny
    } else {
        Unmatched::Authenticated
    };
    let _ = is_reserved(&input.path);
    let Ok(table) = RouteTable::build(&specs, &catalog, unmatched) else {
        return;
    };
    let access = table.access(&input.method, &input.path);
    let pattern = table.pattern(&input.method, &input.path);
    match &access {
        Ok(Access::Deny) => assert!(pattern.is_none() && input.deny),
        Ok(_) => {}
        Err(PathError::Ambiguous) => assert!(pattern.is_none()),
    }
    let segments: Vec<&str> = input.path.split('/').collect();
    if segments.iter().any(|s| *s == ".." || *s == ".") {
        assert!(
            access.is_err(),
            "a dot segment was let through: {:?}",
            input.path
        );
    }

    // Every route built matches a request made from its own pattern.
    for spec in &specs {
        assert!(
            !is_reserved(&spec.path),
            "a reserved path became a route: {:?}",
            spec.path
        );
        let request: String = spec
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let method = spec
            .methods
            .first()
            .map_or("GET".to_owned(), |m| m.to_ascii_uppercase());
        assert!(
            table.pattern(&method, &request).is_some(),
            "route {:?} does not match its own request {method} {request:?}",
            spec.path
        );
    }
});
