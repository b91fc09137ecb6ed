//! `warden check FILE...`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use warden_policy::Policy;

/// Reads and compiles a policy file; the error lists every problem, one per line.
pub(crate) fn load_policy(path: &Path) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the policy file: {e}", path.display()))?;
    Policy::from_json(&path.display().to_string(), &text).map_err(|problems| problems.to_string())
}

pub(crate) fn check(files: &[PathBuf]) -> ExitCode {
    let mut failed = 0usize;
    for path in files {
        match load_policy(path) {
            Ok(_) => println!("{}: ok", path.display()),
            Err(problems) => {
                failed += 1;
                eprintln!("{}", problems.trim_end());
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "warden check: {failed} of {} file(s) invalid; fix the fields named above (see docs/policy.md)",
            files.len()
        );
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
