//! `docs/adding-a-crm.md` stays true: its files (the TOML blocks, in order: connector, the
//! connector's further keys, mapping, server file, tenant file) are written out as a newcomer
//! would, `crmdav check --tenant` passes without a warning against a Rails-shaped CRM
//! (wiremock: list rows without e-mail and notes, the single record with them), and the
//! served address book holds the contact with its e-mail and notes.

use crate::support::gateway::{bin, free_port, hash_password, Gateway, StateDir};
use crate::support::phone::{Phone, PASS};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn toml_blocks(doc: &str) -> Vec<String> {
    doc.split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adding_a_crm_walkthrough_works_as_written() {
    let doc =
        std::fs::read_to_string(crate::support::gateway::repo("docs/adding-a-crm.md")).unwrap();
    let blocks = toml_blocks(&doc);
    assert_eq!(
        blocks.len(),
        5,
        "the walkthrough's files changed: {blocks:?}"
    );
    let s = MockServer::start().await;
    let row = json!({"id": 1, "first_name": "Ada", "last_name": "Lovelace", "updated_at": "2030-01-01T00:00:00Z"});
    Mock::given(method("GET"))
        .and(path("/contacts.json"))
        .and(header("authorization", "Bearer walkthrough-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([row])))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/contacts/1.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 1, "first_name": "Ada", "last_name": "Lovelace", "updated_at": "2030-01-01T00:00:00Z",
            "email": "ada@firm.example", "notes": "first programmer"
        })))
        .mount(&s)
        .await;

    let dir = StateDir::new("walkthrough");
    let d = dir.path();
    std::fs::create_dir_all(d.join("connectors")).unwrap();
    std::fs::create_dir_all(d.join("mappings/mycrm")).unwrap();
    std::fs::create_dir_all(d.join("tenants")).unwrap();
    std::fs::write(
        d.join("connectors/mycrm.toml"),
        format!("{}\n{}", blocks[0], blocks[1]),
    )
    .unwrap();
    std::fs::write(d.join("mappings/mycrm/contacts.toml"), &blocks[2]).unwrap();
    std::fs::write(d.join("crmdav.toml"), &blocks[3]).unwrap();
    std::fs::write(d.join("tenants/firm.toml"), &blocks[4]).unwrap();
    let hash = hash_password(PASS);
    let env = [
        ("CRM_URL", s.uri()),
        ("CRM_TOKEN", "walkthrough-token".to_string()),
        ("ALICE_HASH", hash),
    ];

    // Step 4: check, files and CRM.
    let out = std::process::Command::new(bin())
        .args(["check", "--config"])
        .arg(d.join("crmdav.toml"))
        .args(["--tenant", "firm"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("tenant firm: OK"), "{stdout}");
    assert!(!stdout.contains("WARNING"), "{stdout}");
    assert!(
        stdout.contains("id 1 → mycrm-contacts-1@crmdav"),
        "{stdout}"
    );

    // Step 5: serve, and ask like a phone.
    let mut gw = Gateway::new(d, free_port());
    for (k, v) in &env {
        gw = gw.env(k, v);
    }
    let gw = Phone::new(gw.start());
    let members = gw.members("/dav/addressbooks/alice/contacts/").await;
    let href = "/dav/addressbooks/alice/contacts/mycrm-contacts-1@crmdav.vcf";
    assert_eq!(members.keys().collect::<Vec<_>>(), [href]);
    let (st, _, card) = gw.get(href).await;
    assert_eq!(st, 200);
    for line in [
        "FN:Ada Lovelace",
        "EMAIL:ada@firm.example",
        "NOTE:first programmer",
    ] {
        assert!(card.contains(&format!("\r\n{line}\r\n")), "{card}");
    }
}
