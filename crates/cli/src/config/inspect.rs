//! `threadhold config print|check|example`: the effective settings with their
//! sources, the problems of a file and an environment, and the example file.

use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde_json::Value;

use super::catalog::{SETTINGS, Setting};
use super::{CONFIG_ENV, FILE_SUFFIX, FlagOverrides, Layered, Settings};

const MASK: &str = "********";

/// The effective settings as TOML, one line each with its source; secrets masked.
pub fn print(layered: &Layered) -> anyhow::Result<String> {
    let settings = layered
        .settings()
        .map_err(|error| anyhow::anyhow!("{error:#} (`threadhold config check` lists every problem)"))?;
    let values = settings_object(&settings)?;
    let mut out = String::from(
        "# threadhold's effective settings; after each, its source: default, the config file,\n\
         # a THREADHOLD_* variable or a flag. Secrets are masked.\n",
    );
    for setting in SETTINGS {
        let source = layered.source(setting.key);
        let line = match values.get(setting.key) {
            Some(Value::Null) | None => format!("# {} is unset", setting.key),
            Some(value) => format!("{} = {}", setting.key, toml_value(&masked(setting, value.clone()))),
        };
        out.push_str(&format!("{line:<48}  # {source}\n"));
    }
    Ok(out)
}

/// Every problem of the file, the `THREADHOLD_*` variables of `env` and the flags, one line each.
pub fn check(
    config_file: Option<&Path>,
    flags: &FlagOverrides,
    env: impl IntoIterator<Item = (String, String)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(path) = config_file.filter(|path| path.is_file()) {
        match Figment::from(Toml::file_exact(path)).extract::<serde_json::Map<String, Value>>() {
            Ok(table) => {
                let keys: Vec<&str> = SETTINGS.iter().map(|setting| setting.key).collect();
                for key in table.keys().filter(|key| !keys.contains(&key.as_str())) {
                    problems.push(format!("{}: unknown setting {key}{}", path.display(), did_you_mean(key, &keys)));
                }
            }
            Err(error) => return vec![format!("{}: not valid TOML: {}", path.display(), error.kind)],
        }
    }
    let layered = match Layered::new(config_file, flags, env) {
        Ok(layered) => layered,
        Err(error) => return vec![format!("{error:#}")],
    };
    let names = env_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for name in &layered.unknown_env {
        problems.push(format!("{name}: unknown variable{}", did_you_mean(name, &names)));
    }
    // Each value alone over the defaults, so every bad one gets its own line.
    for setting in SETTINGS {
        let Ok(value) = layered.figment.find_value(setting.key) else {
            continue;
        };
        let alone =
            Figment::from(Serialized::defaults(Settings::default())).merge(Serialized::default(setting.key, value));
        if let Err(error) = alone.extract::<Settings>() {
            let path = if error.path.is_empty() { setting.key.to_owned() } else { error.path.join(".") };
            problems.push(format!("{}: {path}: {}", layered.source(setting.key), error.kind));
        }
    }
    if problems.is_empty() {
        match layered.settings() {
            Ok(settings) => problems.extend(value_problems(&settings)),
            Err(error) => problems.push(format!("{error:#}")),
        }
    }
    problems
}

/// Checks of values that fit their type but not their use (the server would refuse them, or fail later).
fn value_problems(settings: &Settings) -> Vec<String> {
    let mut problems = Vec::new();
    let addresses = [("listen", Some(&settings.listen)), ("metrics_listen", settings.metrics_listen.as_ref())];
    for (key, address) in addresses {
        if let Some(address) = address
            && !address.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        {
            problems.push(format!("{key}: {address:?} is not host:port"));
        }
    }
    if let Err(error) = tracing_subscriber::EnvFilter::try_new(&settings.log_level) {
        problems.push(format!("log_level: {error}"));
    }
    if let Some(url) = &settings.public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        problems.push(format!("public_url: {url:?} must start with http:// or https://"));
    }
    if let Err(error) = settings.server_config() {
        problems.push(format!("{error:#}"));
    }
    problems
}

/// Every variable name that means something: the settings', their `_FILE` forms and the config file's.
fn env_names() -> Vec<String> {
    let mut names = vec![CONFIG_ENV.to_owned()];
    for setting in SETTINGS.iter().filter(|setting| setting.has_env()) {
        names.push(setting.env());
        if setting.secret {
            names.push(format!("{}{FILE_SUFFIX}", setting.env()));
        }
    }
    names
}

/// The closest known name, if it is close (compared without the `THREADHOLD_` prefix every variable shares).
fn did_you_mean(name: &str, known: &[&str]) -> String {
    let bare = |name: &str| name.strip_prefix(super::ENV_PREFIX).unwrap_or(name).to_ascii_lowercase();
    let name = bare(name);
    known
        .iter()
        .map(|candidate| (strsim::jaro_winkler(&name, &bare(candidate)), candidate))
        .filter(|(similarity, _)| *similarity >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| format!(" (did you mean {candidate}?)"))
        .unwrap_or_default()
}

/// The example file: every setting, its type, variable and doc; set ones at their defaults, unset ones commented out.
pub fn example() -> anyhow::Result<String> {
    let defaults = settings_object(&Settings::default())?;
    let mut out = String::from(
        "# threadhold configuration: every setting, at its default.\n\
         # Generated by `threadhold config example` from the settings' own descriptions; do not edit by hand.\n\
         # Layers: built-in defaults, then this file (`--config FILE` or THREADHOLD_CONFIG), then THREADHOLD_*\n\
         # environment variables, then flags. `threadhold config check --config FILE` finds mistakes;\n\
         # `threadhold config print` shows what is in effect and where each value comes from.\n",
    );
    for setting in SETTINGS {
        out.push('\n');
        for line in wrap(setting.doc, 100) {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str(&format!("# Type: {}; environment: {}.\n", setting.kind.describe(), env_label(setting, "")));
        match (defaults.get(setting.key), setting.example) {
            (Some(Value::Array(items)), Some(example)) if items.is_empty() => {
                out.extend(example.lines().map(|line| format!("# {line}\n")));
            }
            (Some(Value::Null) | None, Some(example)) => {
                out.push_str(&format!("# {} = {example}\n", setting.key));
            }
            (Some(value), _) => out.push_str(&format!("{} = {}\n", setting.key, toml_value(value))),
            (None, None) => anyhow::bail!("{} has neither a default nor an example", setting.key),
        }
    }
    Ok(out)
}

/// The settings table of `docs/reference/configuration.md`.
pub fn markdown_table() -> anyhow::Result<String> {
    let defaults = settings_object(&Settings::default())?;
    let mut out = String::from("| key (TOML) | type | environment | default | meaning |\n|---|---|---|---|---|\n");
    for setting in SETTINGS {
        let default = match defaults.get(setting.key) {
            Some(Value::Null) | None => "unset".to_owned(),
            Some(Value::Array(items)) if items.is_empty() => "empty".to_owned(),
            Some(value) => format!("`{}`", toml_value(value)),
        };
        let kind = setting.kind.describe().replace('"', "`");
        let env = env_label(setting, "`");
        out.push_str(&format!("| `{}` | {kind} | {env} | {default} | {} |\n", setting.key, setting.doc));
    }
    Ok(out)
}

fn env_label(setting: &Setting, quote: &str) -> String {
    match (setting.has_env(), setting.secret) {
        (false, _) => "none (file only)".to_owned(),
        (true, false) => format!("{quote}{}{quote}", setting.env()),
        (true, true) => format!("{quote}{0}{quote} or {quote}{0}{FILE_SUFFIX}{quote}", setting.env()),
    }
}

fn settings_object(settings: &Settings) -> anyhow::Result<serde_json::Map<String, Value>> {
    match serde_json::to_value(settings)? {
        Value::Object(fields) => Ok(fields),
        _ => anyhow::bail!("settings are not a table"),
    }
}

/// A value as inline TOML (the settings hold strings, numbers, booleans, arrays and flat tables).
fn toml_value(value: &Value) -> String {
    match value {
        // A JSON string is a valid TOML basic string.
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => value.to_string(),
        Value::Array(items) => format!("[{}]", items.iter().map(toml_value).collect::<Vec<_>>().join(", ")),
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .filter(|(_, value)| !value.is_null() && value.as_array().is_none_or(|items| !items.is_empty()))
                .map(|(key, value)| format!("{key} = {}", toml_value(value)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
    }
}

/// Secrets become `********`; a password inside a URL (any setting's) is masked and the rest kept.
fn masked(setting: &Setting, value: Value) -> Value {
    match value {
        Value::String(text) if setting.secret && !text.contains("://") => Value::String(MASK.to_owned()),
        Value::String(text) => Value::String(mask_url(&text, setting.secret)),
        Value::Array(items) => Value::Array(items.into_iter().map(|item| masked(setting, item)).collect()),
        Value::Object(fields) => {
            Value::Object(fields.into_iter().map(|(key, value)| (key, masked(setting, value))).collect())
        }
        other => other,
    }
}

/// `scheme://user:****@host/path`; a secret URL's query (`?password=…`) is masked too.
fn mask_url(text: &str, secret: bool) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, _)) if secret => format!("{path}?{MASK}"),
        _ => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Greedy word wrap for comments.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_everything_but_the_password() {
        assert_eq!(mask_url("postgres://app:hunter2@db:5432/th", true), "postgres://app:********@db:5432/th");
        assert_eq!(mask_url("postgres://db/th?password=hunter2", true), "postgres://db/th?********");
        assert_eq!(mask_url("https://cdn.example.com/a?b=c", false), "https://cdn.example.com/a?b=c");
        assert_eq!(mask_url("sqlite:///var/lib/th.sqlite3", true), "sqlite:///var/lib/th.sqlite3");
        let key = super::super::catalog::find("s3_secret_access_key").expect("setting");
        assert_eq!(masked(key, Value::String("abc".into())), Value::String(MASK.into()));
    }

    #[test]
    fn the_example_loads_as_the_defaults() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("example.toml");
        std::fs::write(&file, example().expect("example")).expect("write");
        assert_eq!(check(Some(&file), &FlagOverrides::default(), []), Vec::<String>::new());
        let loaded = Layered::new(Some(&file), &FlagOverrides::default(), []).and_then(|l| l.settings());
        let loaded = serde_json::to_value(loaded.expect("loads")).expect("json");
        assert_eq!(loaded, serde_json::to_value(Settings::default()).expect("json"));
    }
}
