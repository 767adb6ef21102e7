//! App passwords over HTTP: created with `crmdav app-password` (the built binary, as a script
//! would), accepted by Basic auth for their own person only, revoked at once, listed with
//! their last use. One gateway of its own with two tenants: `acme` (alice with a file
//! password, bob with app passwords only) and `other` (another alice).

use crate::support::dav::*;
use crate::support::gateway::{bin, free_port, hash_password, Gateway, StateDir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const ALICE_FILE_PASS: &str = "alice-file-Secret-1";

struct Fixture {
    base: String,
    config: PathBuf,
    _gateway: Gateway,
}

fn tenant(name: &str, users: &str) -> String {
    format!(
        r#"name = "{name}"
connector = "local"
{users}
[[collections]]
id = "work"
kind = "calendar"
display_name = "Work"
components = ["VEVENT"]
users = ["alice", "bob"]
"#
    )
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = StateDir::for_process("apppw");
        write_config(&dir);
        let gateway = Gateway::new(&dir, free_port()).start();
        Fixture {
            base: gateway.base.clone(),
            config: dir.join("crmdav.toml"),
            _gateway: gateway,
        }
    })
}

fn write_config(dir: &Path) {
    // Failed logins are part of these tests: a throttle must not turn a later 207 into a 429.
    std::fs::write(
        dir.join("crmdav.toml"),
        format!(
            "state = \"sqlite://{}\"\nrealm = \"apppw\"\n[auth]\nuser_address_failures = 1000\naddress_failures = 1000\nuser_failures = 1000\n",
            dir.join("state.db").display()
        ),
    )
    .unwrap();
    let tenants = dir.join("tenants");
    std::fs::create_dir_all(&tenants).unwrap();
    let alice = format!(
        "[[users]]\nname = \"alice\"\npassword_hash = \"{}\"\n",
        hash_password(ALICE_FILE_PASS)
    );
    // bob has no password in the file: he logs in with app passwords only.
    let acme = tenant("acme", &format!("{alice}[[users]]\nname = \"bob\"\n"));
    let other = tenant(
        "other",
        "[[users]]\nname = \"alice\"\n[[users]]\nname = \"bob\"\n",
    );
    std::fs::write(tenants.join("acme.toml"), acme).unwrap();
    std::fs::write(tenants.join("other.toml"), other).unwrap();
}

fn cli(args: &[&str]) -> Output {
    cli_at(&fixture().config, args)
}

fn cli_at(config: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("app-password")
        .arg(args[0])
        .arg("--config")
        .arg(config)
        .args(&args[1..])
        .output()
        .expect("run crmdav app-password")
}

/// `create`: only the secret on stdout.
fn create(tenant: &str, user: &str, label: &str) -> String {
    let out = cli(&[
        "create", "--tenant", tenant, "--user", user, "--label", label,
    ]);
    assert!(
        out.status.success(),
        "create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout.trim_end_matches('\n');
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the secret on stdout: {stdout:?}"
    );
    assert_eq!(secret.len(), 37, "{secret}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(id_of(secret)), "the id on stderr: {stderr}");
    assert!(
        !stderr.contains(secret),
        "the secret only on stdout: {stderr}"
    );
    secret.to_string()
}

fn id_of(secret: &str) -> &str {
    secret.split_once('-').map(|(id, _)| id).unwrap()
}

fn list(tenant: &str, user: Option<&str>) -> String {
    let mut args = vec!["list", "--tenant", tenant];
    if let Some(u) = user {
        args.extend(["--user", u]);
    }
    let out = cli(&args);
    assert!(
        out.status.success(),
        "list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn revoke(tenant: &str, more: &[&str]) -> Output {
    let mut args = vec!["revoke", "--tenant", tenant];
    args.extend(more);
    cli(&args)
}

/// PROPFIND of the principal's calendar home as `login` with `password`: the status.
fn propfind(login: &str, password: &str, user: &str) -> u16 {
    as_user(login, password)
        .at(&fixture().base)
        .propfind(&format!("/dav/calendars/{user}/"), "0", "<D:resourcetype/>")
        .status
}

#[test]
fn an_app_password_logs_in_until_revoked() {
    let pw = create("acme", "alice", "Alice's iPhone");
    assert_eq!(propfind("alice@acme", &pw, "alice"), 207);
    // Again: served from the cache of verified credentials.
    assert_eq!(propfind("alice@acme", &pw, "alice"), 207);
    // Case does not matter (a secret typed in capitals).
    assert_eq!(propfind("alice@acme", &pw.to_uppercase(), "alice"), 207);
    // The file password still works beside it.
    assert_eq!(propfind("alice@acme", ALICE_FILE_PASS, "alice"), 207);

    // The right id with a wrong secret, the id alone, the secret alone.
    let id = id_of(&pw);
    let wrong = format!("{id}-{}", "2".repeat(26));
    assert_eq!(propfind("alice@acme", &wrong, "alice"), 401);
    assert_eq!(propfind("alice@acme", id, "alice"), 401);
    assert_eq!(propfind("alice@acme", &pw[11..], "alice"), 401);

    let out = revoke("acme", &["--id", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Immediately, although the login was cached.
    assert_eq!(propfind("alice@acme", &pw, "alice"), 401);
    assert_eq!(propfind("alice@acme", ALICE_FILE_PASS, "alice"), 207);
    // Revoking it again: an unknown id.
    let out = revoke("acme", &["--id", id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no app password with id"));
}

#[test]
fn a_person_without_a_file_password_logs_in_with_app_passwords_only() {
    let pw = create("acme", "bob", "Bob's Android");
    assert_eq!(propfind("bob@acme", &pw, "bob"), 207);
    assert_eq!(propfind("bob@acme", "", "bob"), 401);
    assert_eq!(propfind("bob@acme", "bob", "bob"), 401);
}

#[test]
fn an_app_password_logs_in_only_as_its_own_person_and_tenant() {
    let bobs = create("acme", "bob", "Bob's tablet");
    let alices = create("acme", "alice", "Alice's laptop");
    let other_alices = create("other", "alice", "Other Alice's phone");
    // Another person's app password, in the same tenant.
    assert_eq!(propfind("alice@acme", &bobs, "alice"), 401);
    assert_eq!(propfind("bob@acme", &alices, "bob"), 401);
    // Another tenant's, for a person of the same name.
    assert_eq!(propfind("alice@acme", &other_alices, "alice"), 401);
    assert_eq!(propfind("alice@other", &alices, "alice"), 401);
    // Each works where it belongs.
    assert_eq!(propfind("alice@other", &other_alices, "alice"), 207);
    assert_eq!(propfind("bob@acme", &bobs, "bob"), 207);
    // The other tenant's id is unknown here.
    let out = revoke("acme", &["--id", id_of(&other_alices)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(propfind("alice@other", &other_alices, "alice"), 207);
}

#[test]
fn list_shows_the_last_use_and_never_a_secret() {
    let pw = create("other", "bob", "Bob's watch");
    let id = id_of(&pw);
    let line = |text: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not listed:\n{text}"))
            .to_string()
    };
    let before = list("other", Some("bob"));
    assert!(
        before.starts_with("id\tuser\tlabel\tcreated\tlast_used\n"),
        "{before}"
    );
    let fields: Vec<String> = line(&before).split('\t').map(String::from).collect();
    assert_eq!(fields[1..3], ["bob", "Bob's watch"]);
    assert_eq!(fields[4], "never");
    assert!(
        !before.contains(&pw[11..]) && !before.contains("$argon2"),
        "{before}"
    );

    assert_eq!(propfind("bob@other", &pw, "bob"), 207);
    // The use is written off the request's path: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = list("other", None);
        let last = line(&now).split('\t').nth(4).unwrap().to_string();
        if last != "never" {
            assert!(last.ends_with('Z'), "{last}");
            break;
        }
        assert!(Instant::now() < deadline, "last use never recorded:\n{now}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn revoking_everything_of_a_person() {
    let a = create("other", "alice", "one");
    let b = create("other", "alice", "two");
    let bobs = create("other", "bob", "bob's");
    assert_eq!(propfind("alice@other", &a, "alice"), 207);
    let out = revoke("other", &["--user", "alice", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"));
    assert_eq!(propfind("alice@other", &a, "alice"), 401);
    assert_eq!(propfind("alice@other", &b, "alice"), 401);
    assert_eq!(propfind("bob@other", &bobs, "bob"), 207, "bob's stay");
    assert!(!list("other", Some("alice")).contains(id_of(&b)));
}

#[test]
fn bad_commands_fail_clearly_and_create_nothing() {
    for (label, why) in [
        ("a\nb", "control character"),
        ("tab\there", "control character"),
        ("bell\u{7}", "control character"),
        ("", "empty"),
    ] {
        let out = cli(&[
            "create", "--tenant", "acme", "--user", "alice", "--label", label,
        ]);
        assert_eq!(out.status.code(), Some(1), "{label:?}");
        assert!(out.stdout.is_empty(), "{label:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{label:?}: {err}");
    }
    let long = "x".repeat(65);
    let out = cli(&[
        "create", "--tenant", "acme", "--user", "alice", "--label", &long,
    ]);
    assert_eq!(out.status.code(), Some(1));
    for (args, why) in [
        (
            vec![
                "create", "--tenant", "nope", "--user", "alice", "--label", "x",
            ],
            "no tenant named 'nope'",
        ),
        (
            vec![
                "create", "--tenant", "acme", "--user", "carol", "--label", "x",
            ],
            "no user named 'carol'",
        ),
        (
            vec!["list", "--tenant", "acme", "--user", "carol"],
            "no user named 'carol'",
        ),
        (
            vec!["revoke", "--tenant", "acme", "--id", "0000000000"],
            "no app password with id '0000000000'",
        ),
        (
            vec!["revoke", "--tenant", "acme", "--user", "carol", "--all"],
            "no user named 'carol'",
        ),
    ] {
        let out = cli(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
    }
    // Usage errors: clap's status 2.
    for args in [
        vec!["revoke", "--tenant", "acme"],
        vec!["revoke", "--tenant", "acme", "--user", "alice"],
        vec![
            "revoke", "--tenant", "acme", "--id", "x", "--user", "alice", "--all",
        ],
    ] {
        assert_eq!(cli(&args).status.code(), Some(2), "{args:?}");
    }
    // Nothing was created by the refused commands.
    let after = list("acme", None);
    assert!(
        !after.contains("tab\there") && !after.contains(&long),
        "{after}"
    );
}

/// Every failure costs exactly one argon2, whatever the id: unknown, revoked, another
/// person's, or right with a wrong secret (a gateway of its own, so the count is exact).
#[test]
fn every_app_password_failure_costs_one_verification() {
    let dir = StateDir::new("apppw-cost");
    write_config(dir.path());
    let gw = Gateway::new(dir.path(), free_port()).start();
    let config = dir.path().join("crmdav.toml");
    let make = |user: &str| {
        let out = cli_at(
            &config,
            &[
                "create", "--tenant", "acme", "--user", user, "--label", "cost",
            ],
        );
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let alices = make("alice");
    let bobs = make("bob");
    let revoked = make("alice");
    assert!(cli_at(
        &config,
        &["revoke", "--tenant", "acme", "--id", id_of(&revoked)]
    )
    .status
    .success());
    let verifications = || {
        let text = http()
            .get(format!("{}/metrics", gw.base))
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("crmdav_password_verifications_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no verification count in:\n{text}"))
    };
    let status = |login: &str, pw: &str| {
        as_user(login, pw)
            .at(&gw.base)
            .propfind("/dav/calendars/alice/", "0", "<D:resourcetype/>")
            .status
    };
    let before = verifications();
    let unknown = format!("{}-{}", "0".repeat(10), "2".repeat(26));
    let wrong_secret = format!("{}-{}", id_of(&alices), "2".repeat(26));
    for pw in [unknown.as_str(), &revoked, &bobs, &wrong_secret] {
        assert_eq!(status("alice@acme", pw), 401, "{pw}");
    }
    assert_eq!(status("nobody@acme", &alices), 401);
    assert_eq!(verifications() - before, 5, "one argon2 per failed login");
    assert_eq!(status("alice@acme", &alices), 207);
    assert_eq!(status("alice@acme", &alices), 207);
    assert_eq!(verifications() - before, 6, "the second login is cached");
}
