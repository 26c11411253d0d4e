//! Self-contained reproducers for run mismatches: a directory holding a copy of the object,
//! the input's data and context, the map prefills, the differences, and the command that
//! replays the comparison.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::report::Prefill;
use crate::run::{RunComparison, RunInput};

/// Keeps `[A-Za-z0-9_.-]`, so names are safe as path components.
fn safe(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_start_matches('.').to_string()
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    std::fs::write(path, data).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The JSON a reproducer holds next to its files.
#[derive(serde::Serialize)]
struct ReproFile<'a> {
    object: &'a str,
    program: &'a str,
    input: &'a RunInput,
    prefill: &'a [Prefill],
    comparison: &'a RunComparison,
    command: &'a str,
}

/// Writes a reproducer under `dir` and returns its directory
/// (`dir/<object>-<program>-<input>/`).
pub fn write(
    dir: &Path,
    object: &Path,
    c: &RunComparison,
    input: &RunInput,
    prefill: &[Prefill],
) -> Result<PathBuf> {
    let obj_name = object
        .file_name()
        .map_or_else(|| "object.o".into(), |n| n.to_string_lossy().into_owned());
    let out = dir.join(format!(
        "{}-{}-{}",
        safe(&obj_name),
        safe(&c.program),
        safe(&input.name)
    ));
    std::fs::create_dir_all(&out).map_err(|source| Error::Write {
        path: out.clone(),
        source,
    })?;
    let bytes = std::fs::read(object).map_err(|source| Error::Io {
        path: object.to_path_buf(),
        source,
    })?;
    let obj_file = safe(&obj_name);
    write_file(&out.join(&obj_file), &bytes)?;
    write_file(&out.join("data.bin"), &input.data)?;
    let mut cmd = format!(
        "bpfbox compare {obj_file} --prog {} --run --data data.bin",
        c.program
    );
    if let Some(ctx) = &input.ctx {
        write_file(&out.join("ctx.bin"), ctx)?;
        cmd.push_str(" --ctx ctx.bin");
    }
    for p in prefill {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        cmd.push_str(&format!(
            " --prefill {}:{}:{}",
            p.map,
            hex(&p.key),
            hex(&p.value)
        ));
    }
    let json = serde_json::to_string_pretty(&ReproFile {
        object: &obj_file,
        program: &c.program,
        input,
        prefill,
        comparison: c,
        command: &cmd,
    })
    .unwrap_or_default();
    write_file(&out.join("mismatch.json"), json.as_bytes())?;
    let mut readme = format!(
        "Kernel and bpfbox differ on program {} of {obj_name}, input {}.\n\n",
        c.program, input.name
    );
    readme.push_str(&crate::report::differences(&c.differences));
    readme.push_str(&format!(
        "\nReplay (as root, in this directory):\n  {cmd}\n"
    ));
    write_file(&out.join("README"), readme.as_bytes())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_path_safe() {
        assert_eq!(safe("../x/y z"), "_x_y_z");
        assert_eq!(safe("ipv4_tcp_80"), "ipv4_tcp_80");
    }
}
