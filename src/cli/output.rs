//! How commands print what they found: the `--json` switch every listing command flattens in,
//! the one JSON printer behind it, and the padded tables of the human form. The JSON shapes
//! themselves are in `json.rs`, so that every command prints JSON the same way (pretty, one
//! document, a trailing newline, on stdout) and nothing else goes to stdout with `--json`.

use clap::Args;
use serde::Serialize;

use super::CliError;

/// `--json`, for commands that print a listing or a report.
#[derive(Debug, Clone, Copy, Default, Args)]
pub(crate) struct JsonArg {
    /// Print one JSON document on stdout instead of a table (shapes in the README).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Prints `value` as one pretty JSON document on stdout.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    println!("{}", to_json(value)?);
    Ok(())
}

/// `value` as the pretty JSON text [`print_json`] prints.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Failed(format!("cannot encode JSON: {e}")))
}

/// `rows` under `header`, each column padded to its widest cell, two spaces apart.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", text.join("  ").trim_end())
    };
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// Prints [`table`] on stdout.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    print!("{}", table(header, rows));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_to_the_widest_cell() {
        let text = table(
            &["NAME", "ADDRESS"],
            &[
                vec!["relayer".into(), "cosmos1x".into()],
                vec!["a".into(), "".into()],
            ],
        );
        assert_eq!(text, "NAME     ADDRESS\nrelayer  cosmos1x\na\n");
    }

    #[test]
    fn json_is_pretty() {
        assert_eq!(
            to_json(&serde_json::json!({"a": [1]})).unwrap(),
            "{\n  \"a\": [\n    1\n  ]\n}"
        );
    }
}
