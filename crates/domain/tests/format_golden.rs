//! Read-time format conversion against golden files made by the official
//! packages (`compat/formats/generate.mjs`): each file holds a message as one
//! runtime stores it and as the other must read it.
//!
//! - Origin `ai-sdk/v6`: the AI SDK runtime's message, and the `aui/v0` copy the
//!   cloud history adapter makes of it. Reading the copy as `ai-sdk/v6` must
//!   give back exactly the runtime's message.
//! - Origin `aui/v0`: a local-runtime message. Its expected `ai-sdk/v6` is
//!   threadhold's conversion, checked against the AI SDK runtime's decoder by
//!   `compat/test/formats.test.mjs`; `THREADHOLD_BLESS=1` records it after a
//!   deliberate change.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use threadhold_domain::formats::{AI_SDK_V6, AUI_V0, convert_for_read};

fn golden_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/formats");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("golden folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn stored_aui_v0_reads_as_the_ai_sdk_message() {
    let bless = std::env::var_os("THREADHOLD_BLESS").is_some();
    let files = golden_files();
    assert!(files.len() >= 10, "the golden files are missing");
    let mut failures = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).expect("readable");
        let mut golden: Value = serde_json::from_str(&text).expect("golden JSON");
        let stored = golden[AUI_V0].to_string();
        let converted = convert_for_read(AUI_V0, AI_SDK_V6, &stored).expect("converts").expect("a conversion");
        let converted: Value = serde_json::from_str(&converted).expect("JSON");
        if golden.get(AI_SDK_V6) == Some(&converted) {
            continue;
        }
        if bless && golden["origin"] == AUI_V0 {
            golden[AI_SDK_V6] = converted;
            fs::write(&path, format!("{}\n", serde_json::to_string_pretty(&golden).expect("JSON"))).expect("written");
            continue;
        }
        failures.push(format!(
            "{}:\nexpected {}\n     got {}",
            path.display(),
            serde_json::to_string(&golden.get(AI_SDK_V6)).unwrap_or_default(),
            converted
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn ai_sdk_rows_are_returned_as_stored() {
    for path in golden_files() {
        let golden: Value = serde_json::from_str(&fs::read_to_string(&path).expect("readable")).expect("JSON");
        if let Some(v6) = golden.get(AI_SDK_V6) {
            assert_eq!(convert_for_read(AI_SDK_V6, AI_SDK_V6, &v6.to_string()), Ok(None), "{}", path.display());
        }
    }
}
