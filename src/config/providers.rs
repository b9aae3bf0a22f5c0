//! Config providers (KIP-297): values like `${file:/etc/secrets.properties:db.password}`, `${env:DB_PASSWORD}`
//! and `${dir:/run/secrets:db-password}` are replaced by what they point at when a config is read, so secrets
//! stay out of config files. A value that held a reference is a secret from then on: the REST API shows it as
//! written, never resolved, and no message repeats what it resolved to.
//!
//! Declared as Kafka declares them: `config.providers=file,env,dir` and `config.providers.NAME.class=` one of
//! Kafka's FileConfigProvider, DirectoryConfigProvider or EnvVarConfigProvider, with the optional
//! `config.providers.NAME.param.allowed.paths` (file, dir) and `param.allowlist.pattern` (env).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::problem::Problem;
use super::raw::{Entry, RawValue};

/// The most bytes read from one file a reference points at.
const MAX_SECRET_FILE_BYTES: u64 = 1024 * 1024;

/// What a provider reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProviderKind {
    /// `${NAME:path:key}`: key `key` of the properties file `path`.
    File,
    /// `${NAME:dir:file}`: the contents of `dir/file`.
    Directory,
    /// `${NAME:VAR}`: the environment variable.
    Env,
}

#[derive(Debug, Clone)]
struct Provider {
    kind: ProviderKind,
    /// Paths a file or directory reference must be under (`allowed.paths`); empty: any.
    allowed_paths: Vec<PathBuf>,
    /// Variables an env reference may read (`allowlist.pattern`); none: any.
    allowlist: Option<regex::Regex>,
}

/// The providers a worker declares, by name.
#[derive(Debug, Clone, Default)]
pub struct ConfigProviders {
    providers: BTreeMap<String, Provider>,
}

fn problem(entry: &Entry, message: impl Into<String>) -> Problem {
    Problem {
        location: entry.location.clone(),
        pipeline: None,
        key: Some(entry.path.clone()),
        message: message.into(),
    }
}

/// Reads `config.providers*` keys from the worker's entries.
pub(crate) fn read(entries: &[Entry], problems: &mut Vec<Problem>) -> ConfigProviders {
    let get = |key: &str| entries.iter().rev().find(|e| e.key == key);
    let mut providers = BTreeMap::new();
    let Some(list) = get("config.providers") else {
        for entry in entries
            .iter()
            .filter(|e| e.key.starts_with("config.providers."))
        {
            problems.push(problem(
                entry,
                "set without \"config.providers\" naming the provider",
            ));
        }
        return ConfigProviders::default();
    };
    let names: Vec<String> = list
        .value
        .as_config_string()
        .unwrap_or_default()
        .split(',')
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    for name in &names {
        let class_key = format!("config.providers.{name}.class");
        let Some(class) = get(&class_key) else {
            problems.push(problem(
                list,
                format!(
                    "provider {name:?} needs {class_key} (FileConfigProvider, DirectoryConfigProvider or EnvVarConfigProvider)"
                ),
            ));
            continue;
        };
        let class_name = class.value.as_config_string().unwrap_or_default();
        let simple = class_name.rsplit('.').next().unwrap_or_default();
        let kind = match simple {
            "FileConfigProvider" => ProviderKind::File,
            "DirectoryConfigProvider" => ProviderKind::Directory,
            "EnvVarConfigProvider" => ProviderKind::Env,
            _ => {
                problems.push(problem(
                    class,
                    format!("unknown config provider class {class_name:?}: use FileConfigProvider, DirectoryConfigProvider or EnvVarConfigProvider"),
                ));
                continue;
            }
        };
        let param = |p: &str| get(&format!("config.providers.{name}.param.{p}"));
        let allowed_paths = param("allowed.paths")
            .and_then(|e| e.value.as_config_string())
            .map(|paths| {
                paths
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        let allowlist = match param("allowlist.pattern") {
            Some(entry) => match regex::Regex::new(&format!(
                "^(?:{})$",
                entry.value.as_config_string().unwrap_or_default()
            )) {
                Ok(pattern) => Some(pattern),
                Err(e) => {
                    problems.push(problem(entry, format!("not a regular expression: {e}")));
                    None
                }
            },
            None => None,
        };
        providers.insert(
            name.clone(),
            Provider {
                kind,
                allowed_paths,
                allowlist,
            },
        );
    }
    for entry in entries
        .iter()
        .filter(|e| e.key.starts_with("config.providers."))
    {
        let rest = &entry.key["config.providers.".len()..];
        let known = names.iter().any(|n| {
            rest.strip_prefix(n.as_str())
                .is_some_and(|r| r == ".class" || r.starts_with(".param."))
        });
        if !known {
            problems.push(problem(
                entry,
                format!(
                    "not a key of a provider listed in config.providers ({})",
                    names.join(", ")
                ),
            ));
        }
    }
    ConfigProviders { providers }
}

/// Why a reference could not be resolved; never holds what it would have resolved to.
fn read_reference(provider: &Provider, path: Option<&str>, key: &str) -> Result<String, String> {
    let check_path = |path: &Path| -> Result<(), String> {
        if provider.allowed_paths.is_empty()
            || provider.allowed_paths.iter().any(|a| path.starts_with(a))
        {
            Ok(())
        } else {
            Err(format!("{} is outside allowed.paths", path.display()))
        }
    };
    let read_file = |path: &Path| -> Result<String, String> {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut text = String::new();
        file.take(MAX_SECRET_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if text.len() as u64 > MAX_SECRET_FILE_BYTES {
            return Err(format!(
                "{}: larger than {MAX_SECRET_FILE_BYTES} bytes",
                path.display()
            ));
        }
        Ok(text)
    };
    match provider.kind {
        ProviderKind::Env => {
            if let Some(pattern) = &provider.allowlist {
                if !pattern.is_match(key) {
                    return Err(format!(
                        "environment variable {key} is not in allowlist.pattern"
                    ));
                }
            }
            std::env::var(key).map_err(|_| format!("environment variable {key} is not set"))
        }
        ProviderKind::Directory => {
            let dir = Path::new(path.ok_or("a dir reference needs a directory: ${NAME:dir:file}")?);
            if key.contains('/') || key == ".." {
                return Err(format!("{key:?} is not a file name"));
            }
            let file = dir.join(key);
            check_path(&file)?;
            read_file(&file)
        }
        ProviderKind::File => {
            let path = Path::new(path.ok_or("a file reference needs a file: ${NAME:path:key}")?);
            check_path(path)?;
            let text = read_file(path)?;
            super::connect_form::parse_properties(&text)
                .into_iter()
                .rev()
                .find(|(k, _, _)| k == key)
                .map(|(_, value, _)| value)
                .ok_or_else(|| format!("{} has no key {key}", path.display()))
        }
    }
}

impl ConfigProviders {
    /// `value` with every `${provider:[path:]key}` replaced; `Ok(None)` when it holds no reference.
    fn resolve_value(&self, value: &str) -> Result<Option<String>, String> {
        if !value.contains("${") {
            return Ok(None);
        }
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        let mut replaced = false;
        while let Some(start) = rest.find("${") {
            let Some(length) = rest[start..].find('}') else {
                break;
            };
            let reference = &rest[start + 2..start + length];
            let mut parts = reference.splitn(3, ':');
            let (Some(name), Some(second)) = (parts.next(), parts.next()) else {
                out.push_str(&rest[..start + length + 1]);
                rest = &rest[start + length + 1..];
                continue;
            };
            let (path, key) = match parts.next() {
                Some(key) => (Some(second), key),
                None => (None, second),
            };
            let provider = self.providers.get(name).ok_or_else(|| {
                if self.providers.is_empty() {
                    format!("${{{name}:…}} names a config provider, but the worker declares none (config.providers)")
                } else {
                    format!(
                        "unknown config provider {name:?} (config.providers declares {})",
                        self.providers.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                }
            })?;
            let resolved = read_reference(provider, path, key)?;
            out.push_str(&rest[..start]);
            out.push_str(&resolved);
            rest = &rest[start + length + 1..];
            replaced = true;
        }
        out.push_str(rest);
        Ok(replaced.then_some(out))
    }

    /// Replaces every reference in `entries`' values; returns the entries that held one, by path, with what
    /// they resolved to (to keep out of messages). A reference that cannot be resolved is a problem naming the
    /// key, not the value.
    pub(crate) fn resolve(
        &self,
        entries: &mut [Entry],
        problems: &mut Vec<Problem>,
    ) -> BTreeMap<String, String> {
        let mut resolved = BTreeMap::new();
        for entry in entries.iter_mut() {
            let RawValue::String(value) = &entry.value else {
                continue;
            };
            match self.resolve_value(value) {
                Ok(None) => {}
                Ok(Some(new)) => {
                    resolved.insert(entry.path.clone(), new.clone());
                    entry.value = RawValue::String(new);
                }
                Err(why) => {
                    problems.push(problem(
                        entry,
                        format!("cannot resolve the config provider reference: {why}"),
                    ));
                    resolved.insert(entry.path.clone(), String::new());
                }
            }
        }
        resolved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::problem::Location;
    use std::sync::Arc;

    fn entry(key: &str, value: &str) -> Entry {
        Entry {
            key: key.into(),
            path: key.into(),
            value: RawValue::String(value.into()),
            location: Location::new(&Arc::from("worker.properties"), 1),
        }
    }

    #[test]
    fn file_dir_and_env_references_resolve_and_are_marked_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.properties");
        std::fs::write(&secrets, "db.password=s3cret\nother=x\n").unwrap();
        std::fs::write(dir.path().join("token"), "t0ken").unwrap();
        std::env::set_var("PIPEWRIGHT_PROVIDER_TEST", "from-env");
        let mut problems = Vec::new();
        let providers = read(
            &[
                entry("config.providers", "file,dir,env"),
                entry(
                    "config.providers.file.class",
                    "org.apache.kafka.common.config.provider.FileConfigProvider",
                ),
                entry(
                    "config.providers.dir.class",
                    "org.apache.kafka.common.config.provider.DirectoryConfigProvider",
                ),
                entry(
                    "config.providers.env.class",
                    "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
                ),
                entry(
                    "config.providers.env.param.allowlist.pattern",
                    "PIPEWRIGHT_.*",
                ),
            ],
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let mut entries = vec![
            entry(
                "password",
                &format!("${{file:{}:db.password}}", secrets.display()),
            ),
            entry(
                "token",
                &format!("Bearer ${{dir:{}:token}}", dir.path().display()),
            ),
            entry("env", "${env:PIPEWRIGHT_PROVIDER_TEST}"),
            entry("plain", "no reference"),
        ];
        let resolved = providers.resolve(&mut entries, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let values: Vec<String> = entries
            .iter()
            .filter_map(|e| e.value.as_config_string())
            .collect();
        assert_eq!(
            values,
            ["s3cret", "Bearer t0ken", "from-env", "no reference"]
        );
        assert_eq!(
            resolved.keys().map(String::as_str).collect::<Vec<_>>(),
            ["env", "password", "token"]
        );
        assert_eq!(resolved["password"], "s3cret");

        let mut bad = vec![
            entry("a", "${env:HOME}"),
            entry("b", &format!("${{file:{}:missing}}", secrets.display())),
            entry("c", "${vault:x}"),
        ];
        providers.resolve(&mut bad, &mut problems);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].message.contains("allowlist"),
            "{}",
            problems[0].message
        );
        assert!(problems[1].message.contains("no key missing"));
        assert!(problems[2]
            .message
            .contains("unknown config provider \"vault\""));
        assert!(problems.iter().all(|p| !p.message.contains("s3cret")));
    }

    #[test]
    fn a_provider_needs_a_known_class() {
        let mut problems = Vec::new();
        read(
            &[
                entry("config.providers", "file,vault"),
                entry("config.providers.vault.class", "com.example.Vault"),
                entry("config.providers.fiel.class", "x"),
            ],
            &mut problems,
        );
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("provider \"file\" needs config.providers.file.class")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("unknown config provider class")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("not a key of a provider")),
            "{messages:?}"
        );
    }
}
