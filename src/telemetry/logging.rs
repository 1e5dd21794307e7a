//! Tracing setup: human-readable lines in a terminal, JSON lines in a container, the
//! level from `SWITCHBOARD_LOG` (or `RUST_LOG`), `info` by default. Logs go to stdout.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global tracing subscriber. Later calls do nothing, so tests may call it
/// freely.
pub fn init(format: LogFormat) {
    let filter = std::env::var("SWITCHBOARD_LOG")
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let style = Style::choose(format, std::io::stdout().is_terminal());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if style.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_ansi(style.ansi).try_init()
    };
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Style {
    /// One JSON object per line.
    json: bool,
    /// ANSI colour codes in text lines.
    ansi: bool,
}

impl Style {
    /// The style for `format` when stdout is (or is not) a `terminal`: colour only on
    /// a terminal, so text logs redirected to a file or a pipe stay plain.
    fn choose(format: LogFormat, terminal: bool) -> Style {
        let json = match format {
            LogFormat::Json => true,
            LogFormat::Text => false,
            LogFormat::Auto => !terminal,
        };
        Style {
            json,
            ansi: !json && terminal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal() {
        let style = |format, terminal| {
            let s = Style::choose(format, terminal);
            (s.json, s.ansi)
        };
        assert_eq!(style(LogFormat::Text, true), (false, true));
        assert_eq!(style(LogFormat::Text, false), (false, false));
        assert_eq!(style(LogFormat::Auto, true), (false, true));
        assert_eq!(style(LogFormat::Auto, false), (true, false));
        assert_eq!(style(LogFormat::Json, true), (true, false));
        assert_eq!(style(LogFormat::Json, false), (true, false));
    }
}
