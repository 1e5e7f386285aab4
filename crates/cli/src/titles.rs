//! `threadhold titles`: a project's title model, stored in the database so
//! every node of a deployment uses the same one; the key stays where the
//! operator keeps secrets (a file, or the server's environment), and only its
//! location is stored.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use threadhold_domain::format_ms;
use threadhold_domain::model::DEFAULT_PROJECT_ID;
use threadhold_domain::title::settings::{ApiKeySource, ApiStyle, TIMEOUT_MS_DEFAULT, TitleSettings, WORDS_DEFAULT};
use threadhold_server::service::titles::{self, client::read_key};
use threadhold_store::Store;

#[derive(Subcommand)]
pub enum TitlesCommand {
    /// Name a project's title model (an OpenAI-compatible chat completions
    /// endpoint) and switch model titles on; replaces earlier settings.
    Set(Box<TitleArgs>),
    /// Show a project's title model (never the key).
    Show {
        #[arg(long, default_value = DEFAULT_PROJECT_ID)]
        project: String,
    },
    /// Switch model titles back on with the stored settings.
    On {
        #[arg(long, default_value = DEFAULT_PROJECT_ID)]
        project: String,
    },
    /// Switch model titles off: built-in titles only (the settings are kept).
    Off {
        #[arg(long, default_value = DEFAULT_PROJECT_ID)]
        project: String,
    },
    /// Ask the project's model for a title of TEXT and print it; stores
    /// nothing. The key is read here, as the server would read it.
    Try {
        text: String,
        #[arg(long, default_value = DEFAULT_PROJECT_ID)]
        project: String,
    },
}

#[derive(Args)]
pub struct TitleArgs {
    #[arg(long, default_value = DEFAULT_PROJECT_ID)]
    project: String,
    /// The API root that `/chat/completions` is appended to, e.g.
    /// https://api.openai.com/v1 or http://127.0.0.1:11434/v1 (Ollama).
    #[arg(long)]
    base_url: String,
    /// The model (Azure: the deployment's model name).
    #[arg(long)]
    model: String,
    /// A file holding the API key; the server reads it at every call.
    #[arg(long, conflicts_with = "api_key_env")]
    api_key_file: Option<PathBuf>,
    /// An environment variable of the server holding the API key (not a THREADHOLD_* one).
    #[arg(long)]
    api_key_env: Option<String>,
    /// `openai` (Authorization: Bearer) or `azure` (the api-key header).
    #[arg(long, default_value = "openai")]
    api_style: String,
    /// Sent as `?api-version=` (Azure OpenAI deployment URLs).
    #[arg(long)]
    api_version: Option<String>,
    /// `auto` (the language the user writes in) or a tag such as de or pt-BR.
    #[arg(long, default_value = "auto")]
    language: String,
    /// At most this many words (2 to 12).
    #[arg(long, default_value_t = WORDS_DEFAULT)]
    length: u8,
    /// Appended to the prompt (at most 1,000 characters).
    #[arg(long, default_value = "")]
    instructions: String,
    /// Seconds one model call may take; a failed call is retried once.
    #[arg(long, default_value_t = TIMEOUT_MS_DEFAULT as f64 / 1000.0)]
    timeout_secs: f64,
}

pub async fn run(store: &dyn Store, command: TitlesCommand) -> anyhow::Result<()> {
    match command {
        TitlesCommand::Set(args) => {
            let settings = titles::configure(store, args.settings()?).await?;
            for warning in warnings(&settings) {
                eprintln!("threadhold: warning: {warning}");
            }
            println!(
                "Project {} now titles threads with {} at {} (running servers follow within 2 s).",
                settings.project_id,
                settings.model,
                settings.completions_url()
            );
        }
        TitlesCommand::Show { project } => match store.title_settings(&project).await? {
            Some(settings) => print!("{}", describe(&settings)),
            None if store.get_project(&project).await?.is_none() => bail!("no project {project}"),
            None => println!("Project {project} has no title model: titles are built in."),
        },
        TitlesCommand::On { project } => {
            titles::switch(store, &project, true).await?;
            println!("Model titles on for project {project} (running servers follow within 2 s).");
        }
        TitlesCommand::Off { project } => {
            titles::switch(store, &project, false).await?;
            println!(
                "Model titles off for project {project}: built-in titles only (running servers follow within 2 s)."
            );
        }
        TitlesCommand::Try { text, project } => {
            let settings = store
                .title_settings(&project)
                .await?
                .with_context(|| format!("project {project} has no title model"))?;
            match titles::try_settings(&settings, &text).await {
                Ok(title) => println!("{title}"),
                Err(error) => bail!("the title model gave no title: {error}"),
            }
        }
    }
    Ok(())
}

impl TitleArgs {
    fn settings(&self) -> anyhow::Result<TitleSettings> {
        let api_key = match (&self.api_key_file, &self.api_key_env) {
            // The server may run in another folder: store the absolute path.
            (Some(path), _) => ApiKeySource::File(
                std::path::absolute(path)
                    .with_context(|| format!("resolving {}", path.display()))?
                    .display()
                    .to_string(),
            ),
            (None, Some(name)) => ApiKeySource::Env(name.clone()),
            (None, None) => ApiKeySource::None,
        };
        if !self.timeout_secs.is_finite() || self.timeout_secs < 0.0 {
            bail!("--timeout-secs must be a number of seconds");
        }
        let mut settings = TitleSettings::new(&self.project, &self.base_url, &self.model, api_key);
        settings.api_style = ApiStyle::parse(&self.api_style)
            .with_context(|| format!("--api-style must be openai or azure, not {:?}", self.api_style))?;
        settings.api_version = self.api_version.clone();
        settings.language = Some(self.language.clone());
        settings.words = self.length;
        settings.instructions = self.instructions.clone();
        settings.timeout_ms = (self.timeout_secs * 1000.0).round() as u64;
        Ok(settings)
    }
}

/// What an operator should know before the first title: a key this machine
/// cannot read, a key sent over plain http to another machine.
fn warnings(settings: &TitleSettings) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Err(error) = read_key(&settings.api_key) {
        warnings.push(format!("{error} here; the server reads it at every call, so make it readable there"));
    }
    let loopback = url_host(&settings.base_url)
        .is_some_and(|host| host == "localhost" || host.starts_with("127.") || host == "[::1]");
    if settings.api_key != ApiKeySource::None && settings.base_url.starts_with("http://") && !loopback {
        warnings.push("the API key travels over plain http; use https unless the network is private".into());
    }
    warnings
}

fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    Some(authority.rsplit_once(':').map_or(authority, |(host, port)| if port.contains(']') { authority } else { host }))
}

fn describe(settings: &TitleSettings) -> String {
    let key = match &settings.api_key {
        ApiKeySource::None => "none".to_owned(),
        ApiKeySource::File(path) => format!("file {path}"),
        ApiKeySource::Env(name) => format!("environment variable {name}"),
    };
    let readable = match (&settings.api_key, read_key(&settings.api_key)) {
        (ApiKeySource::None, _) => String::new(),
        (_, Ok(_)) => " (readable here)".to_owned(),
        (_, Err(_)) => " (not readable here)".to_owned(),
    };
    let instructions = if settings.instructions.is_empty() { "(none)" } else { settings.instructions.as_str() };
    format!(
        "Project {}: model titles {}\n  endpoint      {} ({})\n  model         {}\n  key           {key}{readable}\n  \
         language      {}\n  length        at most {} words\n  instructions  {instructions}\n  \
         timeout       {} s per call, one retry\n  updated       {}\n",
        settings.project_id,
        if settings.enabled { "on" } else { "off" },
        settings.completions_url(),
        settings.api_style.as_str(),
        settings.model,
        settings.language_label(),
        settings.words,
        settings.timeout_ms as f64 / 1000.0,
        format_ms(settings.updated_at),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_base_urls() {
        assert_eq!(url_host("http://127.0.0.1:11434/v1"), Some("127.0.0.1"));
        assert_eq!(url_host("http://localhost/v1"), Some("localhost"));
        assert_eq!(url_host("http://[::1]:8000/v1"), Some("[::1]"));
        assert_eq!(url_host("https://api.openai.com/v1"), Some("api.openai.com"));
    }

    #[test]
    fn plain_http_to_another_machine_is_flagged() {
        let mut settings =
            TitleSettings::new("p", "http://10.0.0.5:8000/v1", "m", ApiKeySource::Env("THIS_VARIABLE_IS_UNSET".into()));
        let found = warnings(&settings);
        assert_eq!(found.len(), 2, "{found:?}");
        settings.base_url = "http://127.0.0.1:11434/v1".into();
        settings.api_key = ApiKeySource::None;
        assert!(warnings(&settings).is_empty());
    }
}
