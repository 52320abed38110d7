//! `tessera legacy import`: credentials with hashes made by other systems work with Basic
//! on a running server, are rehashed as argon2id at their first login, and the import is
//! safe (dry run, all or nothing, --skip-invalid, idempotent, never prints a hash).

use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use serde_json::Value;

use crate::support::{eventually, TestApp};

/// The password of every literal hash below.
const LITERAL_PW: &str = "correct horse battery";

/// One credential per hash family: (email, password, hash, family shown by `legacy list`).
fn fixtures() -> Vec<(String, String, String, &'static str)> {
    let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
    let mut out: Vec<(String, String, String, &'static str)> = Vec::new();
    let mut add = |name: &str, pw: String, hash: String, family: &'static str| {
        out.push((format!("{name}@import.example"), pw, hash, family));
    };
    for (name, algorithm, family) in [
        ("argon2id", argon2::Algorithm::Argon2id, "argon2id"),
        ("argon2i", argon2::Algorithm::Argon2i, "argon2"),
        ("argon2d", argon2::Algorithm::Argon2d, "argon2"),
    ] {
        let pw = format!("{name} password");
        let params = argon2::Params::new(64, 1, 1, None).unwrap();
        let hash = argon2::Argon2::new(algorithm, argon2::Version::V0x13, params)
            .hash_password(pw.as_bytes(), &salt)
            .unwrap();
        add(name, pw, hash.to_string(), family);
    }
    let pw = "scrypt password".to_owned();
    let hash = scrypt::Scrypt
        .hash_password_customized(
            pw.as_bytes(),
            None,
            None,
            scrypt::Params::new(4, 8, 1, 32).unwrap(),
            &salt,
        )
        .unwrap();
    add("scrypt", pw, hash.to_string(), "scrypt");
    for (name, algorithm) in [
        ("pbkdf2-sha256", pbkdf2::Algorithm::Pbkdf2Sha256),
        ("pbkdf2-sha512", pbkdf2::Algorithm::Pbkdf2Sha512),
    ] {
        let pw = format!("{name} password");
        let params = pbkdf2::Params {
            rounds: 1000,
            output_length: 32,
        };
        let hash = pbkdf2::Pbkdf2
            .hash_password_customized(pw.as_bytes(), Some(algorithm.ident()), None, params, &salt)
            .unwrap();
        add(name, pw, hash.to_string(), "pbkdf2");
    }
    for (name, version) in [
        ("bcrypt-2a", bcrypt::Version::TwoA),
        ("bcrypt-2b", bcrypt::Version::TwoB),
        ("bcrypt-2y", bcrypt::Version::TwoY),
    ] {
        let pw = format!("{name} password");
        let hash = bcrypt::hash_with_result(&pw, 4)
            .unwrap()
            .format_for_version(version);
        add(name, pw, hash, "bcrypt");
    }
    let pw = "sha512-crypt password".to_owned();
    let params = sha_crypt::Sha512Params::new(5000).unwrap();
    let hash = sha_crypt::sha512_simple(&pw, &params).unwrap();
    add("sha512-crypt", pw, hash, "sha512-crypt");

    // Literal hashes from other tools, each with the command that made it.
    let literal = LITERAL_PW.to_owned();
    // python3 -c "import hashlib,base64; print('pbkdf2_sha256\$1000\$seasalt\$' + base64.b64encode(
    //   hashlib.pbkdf2_hmac('sha256', b'correct horse battery', b'seasalt', 1000)).decode())"
    add(
        "django-sha256",
        literal.clone(),
        "pbkdf2_sha256$1000$seasalt$DrdiWD40lyBuydnjvZiDrdQMx1S1mOA9O0QYex0R6ww=".into(),
        "django-pbkdf2",
    );
    // The same with 'sha1' and the prefix pbkdf2_sha1.
    add(
        "django-sha1",
        literal.clone(),
        "pbkdf2_sha1$1000$seasalt$LPTbYn9/9ALjztx0Dtq5V+DLYLg=".into(),
        "django-pbkdf2",
    );
    // openssl passwd -6 -salt saltsaltsalt 'correct horse battery'
    add("openssl-6", literal.clone(), "$6$saltsaltsalt$yKjZYR1NllIH1Ftv9MpsPzifsXfATYQDAmLGoXO9lQO3BwneSOm77O8bJU2NgayzCRFPuH2TLaetQCNGTtLEU/".into(), "sha512-crypt");
    // openssl passwd -5 -salt pepper 'correct horse battery'
    add(
        "openssl-5",
        literal,
        "$5$pepper$qEeDnFVzhTwXQ4aTFfKG3oqhpAd/aoar8fMHX4tGFa7".into(),
        "sha256-crypt",
    );
    out
}

async fn basic_status(app: &TestApp, email: &str, password: &str) -> u16 {
    app.http
        .get(app.url("/v1/books"))
        .basic_auth(email, Some(password))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn write(app: &TestApp, name: &str, text: &str) -> String {
    let path = app.dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// email → hash_algorithm, from `legacy list --json`.
fn algorithms(app: &TestApp) -> Vec<(String, String)> {
    let list = app.cli_json(&["legacy", "list"]);
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["email"].as_str().unwrap().to_owned(),
                c["hash_algorithm"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

store_test!(
    async fn every_hash_family_imports_works_with_basic_and_becomes_argon2id(app: &TestApp) {
        let account = app.account("Imported Co").await;
        let fixtures = fixtures();
        // CSV quoting: PHC hashes contain commas.
        let mut csv = String::from("email,account,password_hash,created_at\n");
        for (email, _, hash, _) in &fixtures {
            csv.push_str(&format!(
                "{email},{account},\"{hash}\",2020-01-02T03:04:05Z\n"
            ));
        }
        let path = write(app, "users.csv", &csv);

        let out = app.cli_json(&["legacy", "import", &path]);
        assert_eq!(out["new"], fixtures.len(), "{out}");
        assert_eq!(out["rejected"], Value::Array(vec![]), "{out}");
        assert_eq!(out["outcome"], "imported");
        let before = algorithms(app);
        for (email, _, _, family) in &fixtures {
            assert!(
                before.contains(&(email.clone(), family.to_string())),
                "{email}: {before:?}"
            );
        }

        for (email, pw, hash, _) in &fixtures {
            // The server reads the store on a miss; the change feed brings the rest.
            let took = eventually(Duration::from_secs(2), || async {
                basic_status(app, email, pw).await == 200
            })
            .await;
            assert!(took.is_some(), "Basic with the imported {email}");
            assert_eq!(
                basic_status(app, email, &format!("{pw}!")).await,
                401,
                "{email}"
            );
            let audit = app.cli(&["legacy", "audit", email, "--json"]).unwrap();
            assert!(!audit.contains(hash.as_str()), "{audit}");
        }
        let after = algorithms(app);
        for (email, _, _, _) in &fixtures {
            assert!(
                after.contains(&(email.clone(), "argon2id".into())),
                "{email}: {after:?}"
            );
        }
        // The argon2id hash made at the first login keeps working.
        for (email, pw, _, _) in &fixtures {
            let took = eventually(Duration::from_secs(2), || async {
                basic_status(app, email, pw).await == 200
            })
            .await;
            assert!(took.is_some(), "Basic after the upgrade of {email}");
        }

        let audit = app.cli_json(&["legacy", "audit", "bcrypt-2b@import.example"]);
        let actions: Vec<(&str, &str)> = audit
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["action"].as_str().unwrap(), e["detail"].as_str().unwrap()))
            .collect();
        assert!(
            actions.contains(&("legacy.hash_upgraded", "hash upgraded from bcrypt")),
            "{actions:?}"
        );
        assert!(
            actions.contains(&("legacy.imported", "imported (bcrypt hash)")),
            "{actions:?}"
        );

        // Re-importing the file changes nothing: the argon2id hashes made at login stay.
        let again = app.cli_json(&["legacy", "import", &path]);
        assert_eq!(again["unchanged"], fixtures.len(), "{again}");
        assert_eq!(
            (again["new"].as_u64(), again["updated"].as_u64()),
            (Some(0), Some(0))
        );
    }
);

store_test!(
    async fn dry_run_all_or_nothing_and_skip_invalid_never_print_a_hash(app: &TestApp) {
        let account = app.account("Imported Co").await;
        let other = app.account("Other Co").await;
        app.cli_with_stdin(
            &[
                "legacy",
                "create",
                "--account",
                &other,
                "--email",
                "taken@import.example",
                "--password-stdin",
            ],
            "taken password\n",
        )
        .unwrap();
        let md5 = "5f4dcc3b5aa765d61d8327deb882cf99";
        let bcrypt_hash = bcrypt::hash("bcrypt password", 4).unwrap();
        let crypt = "$6$saltsaltsalt$yKjZYR1NllIH1Ftv9MpsPzifsXfATYQDAmLGoXO9lQO3BwneSOm77O8bJU2NgayzCRFPuH2TLaetQCNGTtLEU/";
        let line = |email: &str, acct: &str, hash: &str| {
            serde_json::json!({ "email": email, "account": acct, "password_hash": hash })
                .to_string()
        };
        let jsonl = [
            line("bcrypt@import.example", &account, &bcrypt_hash),
            line("crypt@import.example", &account, crypt),
            line("md5@import.example", &account, md5),
            line("taken@import.example", &account, &bcrypt_hash),
            line("nobody@import.example", "acct_doesnotexist", crypt),
        ]
        .join("\n");
        let path = write(app, "users.jsonl", &jsonl);

        let dry = app
            .cli(&["legacy", "import", &path, "--dry-run", "--json"])
            .unwrap();
        for secret in [md5, bcrypt_hash.as_str(), crypt] {
            assert!(!dry.contains(secret), "{dry}");
        }
        let dry: Value = serde_json::from_str(&dry).unwrap();
        assert_eq!(
            (dry["new"].as_u64(), dry["outcome"].as_str()),
            (Some(2), Some("dry run, nothing written"))
        );
        let rejected: Vec<(u64, &str)> = dry["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["line"].as_u64().unwrap(), r["email"].as_str().unwrap()))
            .collect();
        assert_eq!(
            rejected,
            [
                (3, "md5@import.example"),
                (4, "taken@import.example"),
                (5, "nobody@import.example")
            ]
        );
        assert!(
            dry["rejected"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("unsalted"),
            "{dry}"
        );
        assert!(
            dry["rejected"][1]["reason"]
                .as_str()
                .unwrap()
                .contains(&other),
            "{dry}"
        );
        assert_eq!(algorithms(app).len(), 1, "a dry run writes nothing");

        let (code, stderr) = app.cli(&["legacy", "import", &path]).unwrap_err();
        assert_ne!(code, 0);
        assert!(stderr.contains("3 line(s) rejected"), "{stderr}");
        assert!(!stderr.contains(md5), "{stderr}");
        assert_eq!(algorithms(app).len(), 1, "all or nothing");
        assert_eq!(
            basic_status(app, "bcrypt@import.example", "bcrypt password").await,
            401
        );

        let text = app
            .cli(&["legacy", "import", &path, "--skip-invalid"])
            .unwrap();
        assert!(
            text.starts_with("imported: 2 new, 0 updated, 0 unchanged, 3 rejected"),
            "{text}"
        );
        assert!(text.contains("line 3 (md5@import.example): "), "{text}");
        for secret in [md5, bcrypt_hash.as_str(), crypt] {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(algorithms(app).len(), 3);
        let took = eventually(Duration::from_secs(2), || async {
            basic_status(app, "crypt@import.example", LITERAL_PW).await == 200
        })
        .await;
        assert!(took.is_some());
        // Another foreign hash for the same email and account replaces the stored one.
        let changed = bcrypt::hash("changed password", 4).unwrap();
        let path = write(
            app,
            "changed.jsonl",
            &line("bcrypt@import.example", &account, &changed),
        );
        let out = app.cli_json(&["legacy", "import", &path]);
        assert_eq!(
            (out["updated"].as_u64(), out["new"].as_u64()),
            (Some(1), Some(0)),
            "{out}"
        );
        assert_eq!(
            basic_status(app, "bcrypt@import.example", "changed password").await,
            200
        );
        assert_eq!(
            basic_status(app, "bcrypt@import.example", "bcrypt password").await,
            401
        );
        // The credential under the other account was not moved.
        assert_eq!(
            basic_status(app, "taken@import.example", "taken password").await,
            200
        );
    }
);

store_test!(
    async fn hashes_above_the_cost_caps_are_rejected_lines_that_never_show_the_hash(app: &TestApp) {
        let account = app.account("Imported Co").await;
        // Well-formed hashes whose parameters make one verification a denial-of-service
        // lever, written by hand (making them would take the time they are refused for).
        let b64 = |n: usize| "A".repeat(n);
        let levers = [
            (
                "bcrypt16@import.example",
                "$2b$16$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW".to_owned(),
                "bcrypt cost of 16",
            ),
            (
                "argon2@import.example",
                format!("$argon2id$v=19$m=2097152,t=1,p=4${}${}", b64(22), b64(43)),
                "argon2 memory",
            ),
            (
                "scrypt@import.example",
                format!("$scrypt$ln=22,r=8,p=1${}${}", b64(22), b64(43)),
                "scrypt memory",
            ),
            (
                "pbkdf2@import.example",
                format!("$pbkdf2-sha256$i=50000000,l=32${}${}", b64(22), b64(43)),
                "PBKDF2-SHA-256 iteration count",
            ),
            (
                "django@import.example",
                "pbkdf2_sha1$4000000000$seasalt$LPTbYn9/9ALjztx0Dtq5V+DLYLg=".to_owned(),
                "PBKDF2-SHA-1 iteration count",
            ),
            (
                "crypt@import.example",
                format!("$6$rounds=999999999$saltsalt${}.", b64(85)),
                "SHA-512-crypt rounds",
            ),
        ];
        let fine = bcrypt::hash("fine password", 4).unwrap();
        let mut jsonl = vec![serde_json::json!({
            "email": "fine@import.example", "account": account, "password_hash": fine
        })
        .to_string()];
        for (email, hash, _) in &levers {
            jsonl.push(
                serde_json::json!({ "email": email, "account": account, "password_hash": hash })
                    .to_string(),
            );
        }
        let path = write(app, "levers.jsonl", &jsonl.join("\n"));

        let dry = app
            .cli(&["legacy", "import", &path, "--dry-run", "--json"])
            .unwrap();
        for (_, hash, _) in &levers {
            assert!(!dry.contains(hash.as_str()), "{dry}");
        }
        let dry: Value = serde_json::from_str(&dry).unwrap();
        assert_eq!(dry["new"], 1, "{dry}");
        let rejected = dry["rejected"].as_array().unwrap();
        assert_eq!(rejected.len(), levers.len(), "{dry}");
        for (i, (email, _, says)) in levers.iter().enumerate() {
            let r = &rejected[i];
            assert_eq!(
                (r["line"].as_u64(), r["email"].as_str()),
                (Some(i as u64 + 2), Some(*email))
            );
            let reason = r["reason"].as_str().unwrap();
            assert!(
                reason.contains(says) && reason.contains("above Tessera's cap"),
                "{reason}"
            );
        }

        let text = app
            .cli(&["legacy", "import", &path, "--skip-invalid"])
            .unwrap();
        assert!(
            text.starts_with("imported: 1 new, 0 updated, 0 unchanged, 6 rejected"),
            "{text}"
        );
        assert_eq!(
            algorithms(app),
            [("fine@import.example".to_owned(), "bcrypt".to_owned())]
        );
        let took = eventually(Duration::from_secs(2), || async {
            basic_status(app, "fine@import.example", "fine password").await == 200
        })
        .await;
        assert!(took.is_some());
        assert_eq!(
            basic_status(app, "bcrypt16@import.example", "any password").await,
            401
        );
    }
);

store_test!(
    async fn long_imports_print_progress_lines_on_stderr_when_not_on_a_terminal_and_nothing_with_json(
        app: &TestApp,
    ) {
        let account = app.account("Bulk Co").await;
        // One real hash for every line: the import parses hashes, it does not verify them.
        let hash = bcrypt::hash("bulk password", 4).unwrap();
        let lines = 20_001;
        let mut csv = String::from("email,account,password_hash\n");
        for i in 0..lines {
            csv.push_str(&format!("user{i}@bulk.example,{account},{hash}\n"));
        }
        let path = write(app, "bulk.csv", &csv);

        // --json: one JSON value on stdout, nothing on stderr, even on a long dry run.
        let out = app.cli_output(&["legacy", "import", &path, "--dry-run", "--json"], "");
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
        let dry: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(dry["new"], lines, "{dry}");

        // Not a terminal: plain progress lines on stderr, the result alone on stdout.
        let out = app.cli_output(&["legacy", "import", &path], "");
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout,
            "imported: 20001 new, 0 updated, 0 unchanged, 0 rejected\n"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        for expected in [
            "checking 10000 of 20002 lines (",
            "checking 20000 of 20002 lines (",
            "checked 20002 of 20002 lines in ",
            "writing 10000 of 20001 credentials (",
            "wrote 20001 of 20001 credentials in ",
        ] {
            assert!(
                stderr.lines().any(|l| l.starts_with(expected)),
                "{expected:?} in {stderr}"
            );
        }
        assert!(!stderr.contains(hash.as_str()), "{stderr}");
        assert!(
            !stderr.contains('\r'),
            "no bar drawn off a terminal: {stderr:?}"
        );

        // Every line found again through the batched lookup: all unchanged, written nothing.
        let out = app.cli_output(&["legacy", "import", &path, "--json"], "");
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
        let again: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (again["unchanged"].as_u64(), again["new"].as_u64()),
            (Some(lines as u64), Some(0)),
            "{again}"
        );
        let took = eventually(Duration::from_secs(2), || async {
            basic_status(app, "user20000@bulk.example", "bulk password").await == 200
        })
        .await;
        assert!(took.is_some());
    }
);
