//! A mapping's parse-back (`Mapping::to_record`): a client's iCalendar/vCard body into the JSON
//! patch sent to the CRM, for every mapping in `mappings/`. The first byte picks the mapping.
#![no_main]

use crmdav::mapping::Mapping;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn mappings() -> &'static [Mapping] {
    static M: OnceLock<Vec<Mapping>> = OnceLock::new();
    M.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mappings");
        let mut files: Vec<_> = std::fs::read_dir(&root)
            .expect("mappings/ is readable")
            .flat_map(|crm| std::fs::read_dir(crm.expect("entry").path()).expect("crm folder"))
            .map(|f| f.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| Mapping::load(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((pick, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    let all = mappings();
    let _ = all[*pick as usize % all.len()].to_record(body);
});
