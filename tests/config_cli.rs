//! The `arke` binary on config files and key stores: `config validate` accepts good files and
//! names the file, line and key of bad ones; `keys add/list/delete` round-trip in a private key
//! store; loose key file permissions are refused; unimplemented commands exit 2.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{stderr, stdout, TempDir};

fn arke(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arke"))
        .args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("RUST_LOG")
        .env_remove("ARKE_KEY_STORE")
        .env_remove("ARKE_CONFIG")
        .output()
        .expect("run arke")
}

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    std::fs::read_to_string(path).unwrap()
}

/// Line number (1-based) of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

/// Asserts a failed validation whose stderr names `file:line` and `key`, and never panics.
fn assert_located(o: &Output, file: &Path, line: usize, key: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let located = format!("{}:{line}:", file.display());
    assert!(err.contains(&located), "expected {located} in: {err}");
    assert!(
        err.contains(&format!("`{key}`")),
        "expected key {key} in: {err}"
    );
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn example_config_is_valid() {
    let tmp = TempDir::new("valid");
    let file = tmp.write("pair.toml", &example());
    let o = arke(&["config", "validate", file.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "ok");
}

#[test]
fn unknown_key_is_named() {
    let tmp = TempDir::new("unknown");
    let text = example().replace("max_gas = 400000", "max_gas = 400000\nmax_gass = 1");
    let file = tmp.write("pair.toml", &text);
    let o = arke(&["config", "validate", file.to_str().unwrap()], tmp.path());
    assert_located(&o, &file, line_of(&text, "max_gass"), "chains.a.max_gass");
    assert!(stderr(&o).contains("unknown field"), "{}", stderr(&o));
}

#[test]
fn missing_key_is_named() {
    let tmp = TempDir::new("missing");
    // Drop chain b's rpc_addr.
    let text = example().replace("rpc_addr = \"http://127.0.0.1:26757\"\n", "");
    let file = tmp.write("pair.toml", &text);
    let o = arke(&["config", "validate", file.to_str().unwrap()], tmp.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("chains.b.rpc_addr"), "{err}");
    assert!(err.contains("missing field"), "{err}");
    let located = format!("{}:", file.display());
    assert!(err.contains(&located), "{err}");
    // The line is that of the table that lacks the key (or one of its lines).
    let line: usize = err
        .split(&located)
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line number in {err}"));
    assert!(line >= line_of(&text, "[chains.b]"), "{err}");
}

#[test]
fn bad_values_are_named() {
    let tmp = TempDir::new("badvalue");
    // A type error stops parsing.
    let text = example().replace("max_msg_num = 30", "max_msg_num = \"thirty\"");
    let file = tmp.write("type.toml", &text);
    let o = arke(&["config", "validate", file.to_str().unwrap()], tmp.path());
    assert_located(
        &o,
        &file,
        line_of(&text, "max_msg_num"),
        "chains.a.max_msg_num",
    );

    // Semantic errors are all reported, each located.
    let text = example()
        .replace("gas_multiplier = 1.1", "gas_multiplier = 0.5")
        .replace("rpc_timeout = \"10s\"", "rpc_timeout = \"10 fortnights\"")
        .replace("id = \"devnet-2\"", "id = \"\"");
    let file = tmp.write("semantic.toml", &text);
    let o = arke(&["config", "validate", file.to_str().unwrap()], tmp.path());
    assert_located(
        &o,
        &file,
        line_of(&text, "gas_multiplier"),
        "chains.a.gas_multiplier",
    );
    assert_located(
        &o,
        &file,
        line_of(&text, "rpc_timeout"),
        "chains.a.rpc_timeout",
    );
    assert_located(&o, &file, line_of(&text, "id = \"\""), "chains.b.id");
    assert_eq!(stderr(&o).lines().count(), 3, "{}", stderr(&o));
}

#[test]
fn unreadable_config_is_reported() {
    let tmp = TempDir::new("noconfig");
    let file = tmp.path().join("absent.toml");
    let o = arke(&["config", "validate", file.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("absent.toml") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn start_reports_missing_key_file_and_bad_config() {
    let tmp = TempDir::new("start");
    let file = tmp.write("pair.toml", &example());
    // The example's key store is empty here: `start` names the missing key file and exits 1.
    let o = arke(&["start", "--config", file.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("relayer-a") && err.contains("relayer-a.json"),
        "{err}"
    );
    // `start` checks its config first.
    let bad = tmp.write("bad.toml", "[chains.a]\n");
    let o = arke(&["start", "--config", bad.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

#[test]
fn keys_round_trip() {
    let tmp = TempDir::new("keys");
    let store = tmp.path().join("store");
    let store_s = store.to_str().unwrap();
    let mfile = tmp.write("mnemonic.txt", &format!("{MNEMONIC}\n"));
    let mfile_s = mfile.to_str().unwrap();

    let o = arke(
        &[
            "keys",
            "add",
            "relayer",
            "--mnemonic-file",
            mfile_s,
            "--key-store",
            store_s,
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // The address every Cosmos wallet derives from this mnemonic on m/44'/118'/0'/0/0.
    let address = "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4";
    assert!(stdout(&o).contains(address), "{}", stdout(&o));
    assert!(!stdout(&o).contains("abandon") && !stderr(&o).contains("abandon"));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store), 0o700);
        assert_eq!(mode(&store.join("relayer.json")), 0o600);
    }

    // A second key with another prefix and path.
    let o = arke(
        &[
            "keys",
            "add",
            "other",
            "--mnemonic-file",
            mfile_s,
            "--key-store",
            store_s,
            "--account-prefix",
            "osmo",
            "--hd-path",
            "m/44'/118'/0'/0/1",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // Adding the same name again needs --overwrite.
    let o = arke(
        &[
            "keys",
            "add",
            "relayer",
            "--mnemonic-file",
            mfile_s,
            "--key-store",
            store_s,
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--overwrite"), "{}", stderr(&o));
    let o = arke(
        &[
            "keys",
            "add",
            "relayer",
            "--mnemonic-file",
            mfile_s,
            "--key-store",
            store_s,
            "--overwrite",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let o = arke(&["keys", "list", "--key-store", store_s], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("other\tosmo1"), "{out}");
    assert!(
        lines[1].starts_with(&format!("relayer\t{address}")),
        "{out}"
    );
    assert!(!out.contains("abandon"));

    let o = arke(
        &["keys", "delete", "other", "--key-store", store_s],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = arke(
        &["keys", "delete", "other", "--key-store", store_s],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("other.json"), "{}", stderr(&o));
    let o = arke(&["keys", "list", "--key-store", store_s], tmp.path());
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));

    // The default store comes from XDG_DATA_HOME.
    let o = arke(
        &["keys", "add", "dflt", "--mnemonic-file", mfile_s],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(tmp.path().join("data/arke/keys/dflt.json").is_file());

    // --config/--chain take the chain's key store (relative to the config) and prefix.
    let cfg = example()
        .replace(
            "# key_store_folder = \"/var/lib/arke/keys\"",
            "key_store_folder = \"cfgkeys\"",
        )
        .replacen(
            "account_prefix = \"cosmos\"",
            "account_prefix = \"arke\"",
            1,
        );
    let cfg = tmp.write("pair.toml", &cfg);
    let o = arke(
        &[
            "keys",
            "add",
            "relayer-a",
            "--mnemonic-file",
            mfile_s,
            "--config",
            cfg.to_str().unwrap(),
            "--chain",
            "a",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("arke1"), "{}", stdout(&o));
    assert!(tmp.path().join("cfgkeys/relayer-a.json").is_file());
}

#[test]
fn bad_mnemonic_files_are_reported() {
    let tmp = TempDir::new("badmnemonic");
    let store = tmp.path().join("store");
    let store_s = store.to_str().unwrap();
    let o = arke(
        &[
            "keys",
            "add",
            "k",
            "--mnemonic-file",
            "/nonexistent/m.txt",
            "--key-store",
            store_s,
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/m.txt"), "{}", stderr(&o));
    let m = tmp.write("m.txt", "abandon abandon abandon secretword\n");
    let o = arke(
        &[
            "keys",
            "add",
            "k",
            "--mnemonic-file",
            m.to_str().unwrap(),
            "--key-store",
            store_s,
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("4 words"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("secretword"), "{}", stderr(&o));
    // Twelve words that fail the BIP-39 checksum.
    let m = tmp.write("m2.txt", &"abandon ".repeat(12));
    let o = arke(
        &[
            "keys",
            "add",
            "k",
            "--mnemonic-file",
            m.to_str().unwrap(),
            "--key-store",
            store_s,
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("abandon abandon"), "{}", stderr(&o));
    assert!(!store.join("k.json").exists());
}

#[cfg(unix)]
#[test]
fn loose_key_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new("loose");
    let store = tmp.path().join("store");
    let store_s = store.to_str().unwrap();
    let mfile = tmp.write("mnemonic.txt", MNEMONIC);
    let o = arke(
        &[
            "keys",
            "add",
            "relayer",
            "--mnemonic-file",
            mfile.to_str().unwrap(),
            "--key-store",
            store_s,
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let file = store.join("relayer.json");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = arke(&["keys", "list", "--key-store", store_s], tmp.path());
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains(file.to_str().unwrap()), "{err}");
    assert!(err.contains("0644"), "{err}");
    assert!(
        err.contains(&format!("chmod 600 {}", file.display())),
        "{err}"
    );
    assert!(!stdout(&o).contains("cosmos1"), "{}", stdout(&o));
}

#[test]
fn grpc_addr_is_accepted_with_a_warning() {
    let tmp = TempDir::new("grpc");
    let text = example().replace(
        "# grpc_addr = \"http://127.0.0.1:9090\"",
        "grpc_addr = \"http://127.0.0.1:9090\"",
    );
    let file = tmp.write("pair.toml", &text);
    let o = arke(&["config", "validate", file.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "ok");
    let err = stderr(&o);
    let line = line_of(&text, "grpc_addr = ");
    assert_eq!(
        err.trim_end(),
        format!(
            "warning: {}:{line}:1: key `chains.a.grpc_addr`: is not used: Arke queries the chain \
             over its RPC endpoint (abci_query); remove the key",
            file.display()
        )
    );
    // Without the key, nothing on stderr.
    let file = tmp.write("plain.toml", &example());
    let o = arke(&["config", "validate", file.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert_eq!(stderr(&o), "");
}

/// Runs the binary with `input` on its stdin.
fn arke_with_stdin(args: &[&str], home: &Path, input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_arke"))
        .args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("RUST_LOG")
        .env_remove("ARKE_KEY_STORE")
        .env_remove("ARKE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run arke");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("arke output")
}

#[test]
fn mnemonic_from_stdin_and_keys_list_json() {
    let tmp = TempDir::new("stdinkeys");
    let store = tmp.path().join("store");
    let store_s = store.to_str().unwrap();

    // An empty store lists as an empty array.
    let o = arke(
        &["keys", "list", "--key-store", store_s, "--json"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap(),
        serde_json::json!([])
    );

    // `--mnemonic-file -` reads the mnemonic from stdin (what `sudo -u arke` needs when only
    // the admin can read the file), and never echoes it.
    let o = arke_with_stdin(
        &[
            "keys",
            "add",
            "relayer",
            "--mnemonic-file",
            "-",
            "--key-store",
            store_s,
        ],
        tmp.path(),
        &format!("{MNEMONIC}\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let address = "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4";
    assert!(stdout(&o).contains(address), "{}", stdout(&o));
    assert!(!stdout(&o).contains("abandon") && !stderr(&o).contains("abandon"));
    // Too few words on stdin: named as stdin's, without the words.
    let o = arke_with_stdin(
        &[
            "keys",
            "add",
            "x",
            "--mnemonic-file",
            "-",
            "--key-store",
            store_s,
        ],
        tmp.path(),
        "abandon secretword\n",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the mnemonic on stdin holds 2 words"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("secretword"), "{}", stderr(&o));

    let m = tmp.write("m.txt", MNEMONIC);
    let o = arke(
        &[
            "keys",
            "add",
            "other",
            "--mnemonic-file",
            m.to_str().unwrap(),
            "--key-store",
            store_s,
            "--account-prefix",
            "osmo",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let o = arke(
        &["keys", "list", "--key-store", store_s, "--json"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    let keys = v.as_array().expect("an array");
    assert_eq!(keys.len(), 2, "{v}");
    assert_eq!(keys[0]["name"], "other");
    assert_eq!(keys[0]["account_prefix"], "osmo");
    assert!(keys[0]["address"].as_str().unwrap().starts_with("osmo1"));
    assert_eq!(
        keys[1],
        serde_json::json!({
            "name": "relayer",
            "address": address,
            "account_prefix": "cosmos",
            "hd_path": "m/44'/118'/0'/0/0",
        })
    );

    // An unreadable key file: the others are still listed as JSON, the error goes to stderr,
    // and the exit code says something is wrong.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = store.join("other.json");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = arke(
            &["keys", "list", "--key-store", store_s, "--json"],
            tmp.path(),
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON document");
        assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
        assert_eq!(v[0]["name"], "relayer");
        assert!(
            stderr(&o).contains(file.to_str().unwrap()),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn completions_for_every_shell() {
    let tmp = TempDir::new("completions");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = arke(&["completions", shell], tmp.path());
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        assert!(script.len() > 1_000, "{shell}: {script}");
        for word in ["start", "keys", "query", "pending", "completions", "json"] {
            assert!(script.contains(word), "{shell}: no {word:?} in\n{script}");
        }
    }
    let o = arke(&["completions", "tcsh"], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("powershell"), "{}", stderr(&o));
}

#[test]
fn timeout_seconds_errors_are_clear() {
    let tmp = TempDir::new("timeouts");
    let file = tmp.write("pair.toml", &example());
    let cfg = file.to_str().unwrap();
    let transfer = |timeout: &str| {
        arke(
            &[
                "tx",
                "transfer",
                "--config",
                cfg,
                "--from-chain",
                "a",
                "--channel",
                "channel-0",
                "--amount",
                "1stake",
                "--to",
                "cosmos1x",
                "--timeout-seconds",
                timeout,
            ],
            tmp.path(),
        )
    };
    for (bad, says) in [
        ("soon", "give a number of seconds (e.g. 600) or a duration"),
        ("1.5", "fractions are not accepted"),
        ("10 parsecs", "unknown unit"),
    ] {
        let o = transfer(bad);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("--timeout-seconds") && err.contains(says),
            "{bad}: {err}"
        );
    }
    // 0 means no timeout timestamp, as in Hermes: then a timeout height is needed.
    let o = transfer("0");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--timeout-height-offset"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn readme_error_sample_is_what_validate_prints() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let command = "$ arke config validate pair.toml";
    let start = readme
        .find(command)
        .unwrap_or_else(|| panic!("no `{command}` sample in the README"));
    let expected: Vec<&str> = readme[start + command.len()..]
        .lines()
        .skip(1)
        .map(str::trim)
        .take_while(|l| !l.starts_with("```"))
        .collect();
    assert!(!expected.is_empty(), "the README sample shows no output");

    // The file the README describes: the example with `id = "devnet 1"` in [chains.a].
    let tmp = TempDir::new("readme");
    tmp.write(
        "pair.toml",
        &example().replacen("id = \"devnet-1\"", "id = \"devnet 1\"", 1),
    );
    let o = Command::new(env!("CARGO_BIN_EXE_arke"))
        .args(["config", "validate", "pair.toml"])
        .current_dir(tmp.path())
        .env("HOME", tmp.path())
        .env_remove("RUST_LOG")
        .output()
        .expect("run arke");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let got: Vec<&str> = err.lines().collect();
    assert_eq!(
        got, expected,
        "update the README sample to what the binary prints"
    );
}
